// Wrappers around the external tools the real-traffic tests use (tcpdump, tshark,
// editcap) and around the shadowtap CLI itself.
//
// tshark notes (TShark 4.0.x, Debian 12), found while validating this file:
//  - The working invocation is the one in tsharkRequests(): one pass (no -2 needed),
//    `-d tcp.port==PORT,http`, and the TCP/HTTP desegmentation preferences (defaults,
//    but set explicitly so a user's preferences file cannot turn them off).
//  - Several HTTP requests that complete in one frame (pipelining) are printed on ONE
//    line with the field values joined by the aggregator. The default aggregator ','
//    is ambiguous because ',' is legal in a request target, so we use a space (/s):
//    neither methods nor targets can contain one.
//  - A request is reported at the frame where its last byte (end of body) arrives, so
//    ordering by frame number gives the per-connection order.
//  - No two-pass (-2) and no http.tcp.port preference were needed: over 2000-request
//    mixes (pipelining, chunked bodies with trailers and chunk extensions, Expect:
//    100-continue, 1 MiB uploads, writes split inside headers, HTTP/1.0, close-delimited
//    answers) tshark found every request, in order, on `-i lo` and on `-i any` (Linux
//    cooked) captures. The only misses seen were caused by the capture, not by tshark
//    (see startTcpdump: tail loss without --immediate-mode, kernel drops on `any` with
//    a small -B); always check TcpdumpStats.droppedByKernel === 0.
//  - http.request.uri is the raw target (no percent-decoding).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

// ---------------------------------------------------------------------------
// environment checks

export function hasRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** True if an executable called `name` is on PATH. */
export function haveTool(name: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(path.delimiter)) {
    if (!dir) continue;
    try {
      fs.accessSync(path.join(dir, name), fs.constants.X_OK);
      return true;
    } catch { /* next */ }
  }
  return false;
}

/**
 * Why a live-capture test cannot run here, or null if it can.
 * Use as: `const why = captureSkipReason(['tcpdump','tshark']); if (why) { t.skip(why); return; }`
 */
export function captureSkipReason(tools: string[] = ['tcpdump', 'tshark']): string | null {
  if (!hasRoot()) return 'needs root (packet capture on lo)';
  const missing = tools.filter((t) => !haveTool(t));
  if (missing.length) return `missing tool(s): ${missing.join(', ')}`;
  return null;
}

// ---------------------------------------------------------------------------
// processes

export interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill with SIGKILL and reject after this long; default 120 s. */
  timeoutMs?: number;
  input?: string | Buffer;
}

/** Run a program to completion, capturing stdout/stderr. Never rejects on a non-zero exit. */
export function runTool(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: timed out after ${opts.timeoutMs ?? 120_000} ms\n${Buffer.concat(err).toString()}`));
    }, opts.timeoutMs ?? 120_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input); else child.stdin.end();
  });
}

/** The repository root (the directory holding shadowtap's package.json). */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if (JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'shadowtap') return dir;
      } catch { /* keep walking */ }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`package.json of shadowtap not found above ${__dirname}`);
    dir = up;
  }
}

/** dist/src/cli/main.js of this repository, or $SHADOWTAP_CLI if set (to test another build). */
export function cliPath(): string {
  return process.env.SHADOWTAP_CLI || path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
}

/** `node dist/src/cli/main.js ...args`, to completion. */
export function runCli(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return runTool(process.execPath, [cliPath(), ...args], { cwd: repoRoot(), ...opts });
}

export interface CliHandle {
  child: ChildProcess;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout/stderr line matching re (already printed or future), or null on timeout/exit. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<string | null>;
  /** Resolves when the process has exited (whatever the reason). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Send `signal` (default SIGTERM) and resolve with the exit code; SIGKILL + reject after timeoutMs (default 30 s). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** Start `node dist/src/cli/main.js ...args` in the background. */
export function startCli(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): CliHandle {
  const child = spawn(process.execPath, [cliPath(), ...args], { cwd: repoRoot(), env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const watchers: Array<{ re: RegExp; done: (l: string | null) => void }> = [];
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const scan = (text: string) => {
    for (const line of text.split('\n')) {
      for (const w of watchers.slice()) {
        if (w.re.test(line)) { watchers.splice(watchers.indexOf(w), 1); w.done(line); }
      }
    }
  };
  let outPartial = '';
  let errPartial = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    out += d;
    const t = outPartial + d; const i = t.lastIndexOf('\n');
    if (i >= 0) { scan(t.slice(0, i)); outPartial = t.slice(i + 1); } else outPartial = t;
  });
  child.stderr!.on('data', (d: string) => {
    err += d;
    const t = errPartial + d; const i = t.lastIndexOf('\n');
    if (i >= 0) { scan(t.slice(0, i)); errPartial = t.slice(i + 1); } else errPartial = t;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      scan(outPartial); scan(errPartial);
      exitInfo = { code, signal };
      for (const w of watchers.splice(0)) w.done(null);
      resolve(exitInfo);
    });
    child.on('error', (e) => { err += `\nspawn error: ${e.message}`; });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForLine(re: RegExp, timeoutMs: number): Promise<string | null> {
      const already = (out + '\n' + err).split('\n').find((l) => re.test(l));
      if (already !== undefined) return Promise.resolve(already);
      if (exitInfo) return Promise.resolve(null);
      return new Promise((resolve) => {
        const w = { re, done: (l: string | null) => { clearTimeout(timer); resolve(l); } };
        const timer = setTimeout(() => { const i = watchers.indexOf(w); if (i >= 0) watchers.splice(i, 1); resolve(null); }, timeoutMs);
        watchers.push(w);
      });
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<number | null> {
      if (!exitInfo) child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), timeoutMs); });
      const r = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (r === 'timeout') {
        child.kill('SIGKILL');
        await exited;
        throw new Error(`shadowtap did not exit within ${timeoutMs} ms after ${signal}\nstderr tail:\n${err.slice(-2000)}`);
      }
      return r.code;
    },
  };
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------
// tcpdump

export interface TcpdumpStats {
  captured: number;
  receivedByFilter: number;
  droppedByKernel: number;
  stderr: string;
}

export interface TcpdumpOptions {
  iface: string;
  /** pcap filter expression, e.g. `tcp port 8080`. */
  filter: string;
  /** Output pcap file (written as root: `-Z root`, so any directory works). */
  file: string;
  /** Default: tcpdump's own (262144). */
  snaplen?: number;
  /**
   * Kernel capture buffer in KiB (-B). Default 131072 (128 MiB), 262144 (256 MiB) for `any`.
   * With --immediate-mode libpcap uses TPACKET_V2, whose ring has fixed-size slots of about
   * the snaplen; for `any` libpcap cannot bound that by an MTU, so a slot is ~256 KiB and a
   * 64 MiB buffer holds only ~256 packets: we saw "N packets dropped by kernel" during the
   * mix with it. 256 MiB gave 0 drops in every run.
   */
  bufferKiB?: number;
  /** How long to wait for "listening on"; default 10 s. */
  startTimeoutMs?: number;
}

export interface Tcpdump {
  child: ChildProcess;
  /** SIGINT, wait for exit, and parse its statistics lines. */
  stop(): Promise<TcpdumpStats>;
}

/** Start tcpdump writing to a file; resolves once it printed "listening on" (capture is live). */
export function startTcpdump(opts: TcpdumpOptions): Promise<Tcpdump> {
  // --immediate-mode: without it (TPACKET_V3) packets sit in a ring block until the block
  // fills or its 1 s timeout passes, and SIGINT loses that last partial block: the tail of
  // the capture (last requests of the last connections) went missing in validation.
  // -U flushes the savefile per packet; -Z root keeps root so any output directory works.
  const buffer = opts.bufferKiB ?? (opts.iface === 'any' ? 262144 : 131072);
  const args = ['-i', opts.iface, '-n', '-U', '--immediate-mode', '-Z', 'root', '-B', String(buffer), '-w', opts.file];
  if (opts.snaplen !== undefined) args.push('-s', String(opts.snaplen));
  args.push(...opts.filter.split(/\s+/).filter(Boolean));
  const child = spawn('tcpdump', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let started = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tcpdump did not report "listening on" within ${opts.startTimeoutMs ?? 10_000} ms: ${stderr}`));
    }, opts.startTimeoutMs ?? 10_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.stderr!.on('data', (d: string) => {
      stderr += d;
      if (!started && /listening on/.test(stderr)) {
        started = true;
        clearTimeout(timer);
        resolve({
          child,
          async stop(): Promise<TcpdumpStats> {
            // Packets still in the kernel's buffer at SIGINT are neither written nor counted as
            // dropped: on a busy machine tcpdump can lag, so wait until the file stops growing.
            await fileSettled(opts.file);
            child.kill('SIGINT');
            const code = await exited;
            const num = (re: RegExp) => { const m = re.exec(stderr); return m ? Number(m[1]) : NaN; };
            const st: TcpdumpStats = {
              captured: num(/(\d+) packets? captured/),
              receivedByFilter: num(/(\d+) packets? received by filter/),
              droppedByKernel: num(/(\d+) packets? dropped by kernel/),
              stderr,
            };
            if (Number.isNaN(st.captured) || Number.isNaN(st.droppedByKernel)) {
              throw new Error(`tcpdump exited (${code}) without statistics: ${stderr}`);
            }
            return st;
          },
        });
      }
    });
    void exited.then((code) => {
      if (!started) { clearTimeout(timer); reject(new Error(`tcpdump exited (${code}) before capturing: ${stderr}`)); }
    });
  });
}

/** Resolves once `file` has not grown for 300 ms (at most 10 s). */
async function fileSettled(file: string): Promise<void> {
  const sizeOf = (): number => { try { return fs.statSync(file).size; } catch { return -1; } };
  let last = sizeOf();
  let stableSince = Date.now();
  for (const until = Date.now() + 10_000; Date.now() < until;) {
    await new Promise((r) => setTimeout(r, 50));
    const now = sizeOf();
    if (now !== last) { last = now; stableSince = Date.now(); } else if (Date.now() - stableSince >= 300) return;
  }
}

// ---------------------------------------------------------------------------
// tshark / editcap

export interface TsharkRequest {
  /** tshark's tcp.stream index (0-based, order of first packet). */
  stream: number;
  /** Frame where the request completed (last byte of its body). */
  frame: number;
  /** Client port of the stream. */
  srcPort: number;
  method: string;
  uri: string;
}

/** The tshark arguments tsharkRequests() uses (exported so tests can print them). */
export function tsharkRequestArgs(file: string, port: number): string[] {
  return [
    '-r', file, '-n',
    '-o', 'tcp.desegment_tcp_streams:TRUE',
    '-o', 'http.desegment_headers:TRUE',
    '-o', 'http.desegment_body:TRUE',
    '-o', 'http.dechunk_body:TRUE',
    '-d', `tcp.port==${port},http`,
    '-Y', `http.request && tcp.dstport==${port}`,
    '-T', 'fields',
    '-e', 'frame.number', '-e', 'tcp.stream', '-e', 'tcp.srcport',
    '-e', 'http.request.method', '-e', 'http.request.uri',
    '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=/s',
  ];
}

/** Every HTTP request tshark dissects in `file` towards `port`, in capture (= per-connection) order. */
export async function tsharkRequests(file: string, port: number): Promise<TsharkRequest[]> {
  const r = await runTool('tshark', tsharkRequestArgs(file, port), { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`tshark failed (${r.code}): ${r.stderr}`);
  const out: TsharkRequest[] = [];
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const [frame, stream, srcPort, methods, uris] = line.split('\t');
    const ms = (methods ?? '').split(' ');
    const us = (uris ?? '').split(' ');
    if (ms.length !== us.length) throw new Error(`tshark line with ${ms.length} methods but ${us.length} uris: ${line}`);
    for (let i = 0; i < ms.length; i++) {
      out.push({ frame: Number(frame), stream: Number(stream), srcPort: Number(srcPort), method: ms[i], uri: us[i] });
    }
  }
  return out;
}

/** editcap -F FORMAT in out (e.g. 'pcapng'). */
export async function convertCapture(input: string, output: string, format = 'pcapng'): Promise<void> {
  const r = await runTool('editcap', ['-F', format, input, output]);
  if (r.code !== 0) throw new Error(`editcap failed (${r.code}): ${r.stderr}`);
}

/** Busy processes, one per core by default, to judge a test on a loaded machine; stop() ends them. */
export function startCpuHog(processes = os.cpus().length): { stop: () => void } {
  const children = Array.from({ length: processes }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  return { stop: () => { for (const c of children) c.kill('SIGKILL'); } };
}

/** Polls `cond` every `everyMs`; false if it still does not hold after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return true;
}

/** A tmpfs of `size` (e.g. '64k') mounted on a fresh directory, unmounted and removed after the
 * test; null (the test skipped, saying why) where mounting is not allowed. */
export function smallDisk(t: { skip: (why: string) => void; after: (fn: () => void) => void }, size: string): string | null {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    t.skip(`cannot mount a tmpfs here: ${(e as Error).message.split('\n')[0]}`);
    return null;
  }
  t.after(() => {
    execFileSync('umount', [dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}
