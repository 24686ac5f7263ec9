// Helpers shared by the operations tests (systemd units, the .deb, sd_notify, privileges).
import { spawn, type ChildProcess } from 'node:child_process';
import * as http from 'node:http';

export interface Proc {
  child: ChildProcess;
  output(): string;
  /** Resolves with the first output line (stdout or stderr) matching re, or null on timeout/exit. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<string | null>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends signal (default SIGTERM), waits for the exit (SIGKILL after timeoutMs) and returns the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** Starts a program and follows its output line by line (both streams, interleaved). */
export function startProc(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Proc {
  const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const partial = { stdout: '', stderr: '' };
  const watchers: Array<{ re: RegExp; done: (l: string | null) => void }> = [];
  let ended = false;
  const scan = (line: string) => {
    for (const w of watchers.slice()) if (w.re.test(line)) { watchers.splice(watchers.indexOf(w), 1); w.done(line); }
  };
  for (const name of ['stdout', 'stderr'] as const) {
    const stream = child[name]!;
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      out += d;
      const text = partial[name] + d;
      const lines = text.split('\n');
      partial[name] = lines.pop()!;
      for (const l of lines) scan(l);
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      scan(partial.stdout); scan(partial.stderr);
      ended = true;
      for (const w of watchers.splice(0)) w.done(null);
      resolve({ code, signal });
    });
    child.on('error', (e) => { out += `\nspawn error: ${e.message}\n`; });
  });
  return {
    child,
    output: () => out,
    exited,
    waitForLine(re, timeoutMs) {
      const seen = out.split('\n').find((l) => re.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      if (ended) return Promise.resolve(null);
      return new Promise((resolve) => {
        const w = { re, done: (l: string | null) => { clearTimeout(timer); resolve(l); } };
        const timer = setTimeout(() => { const i = watchers.indexOf(w); if (i >= 0) watchers.splice(i, 1); resolve(null); }, timeoutMs);
        watchers.push(w);
      });
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000) {
      if (!ended) child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([exited, new Promise<'timeout'>((res) => { timer = setTimeout(() => res('timeout'), timeoutMs); })]);
      clearTimeout(timer);
      if (r === 'timeout') {
        child.kill('SIGKILL');
        await exited;
        throw new Error(`${cmd} did not exit within ${timeoutMs} ms after ${signal}:\n${out.slice(-2000)}`);
      }
      return r.code;
    },
  };
}

/** n GET requests to 127.0.0.1:port over a few keep-alive connections; resolves with the statuses. */
export async function sendGets(port: number, n: number, connections = 4): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const get = (i: number) => new Promise<number>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: `/ops/item/${i}?q=${i}`, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
  try {
    return await Promise.all(Array.from({ length: n }, (_, i) => get(i)));
  } finally {
    agent.destroy();
  }
}

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
