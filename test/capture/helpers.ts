/** Shared helpers for the capture tests: real tools (tcpdump, tshark, editcap) and real traffic. */
import { ChildProcess, execFile, spawn } from 'child_process';
import * as dgram from 'dgram';
import * as fs from 'fs';
import * as http from 'http';
import { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import * as v8 from 'v8';
import * as vm from 'vm';

export function sh(cmd: string, args: string[], opts: { maxBuffer?: number } = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: opts.maxBuffer ?? 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

export function tmpDir(prefix = 'shadowtap-capture-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface Tcpdump {
  proc: ChildProcess;
  /** SIGINT, wait for exit; returns stderr and the "N packets captured" figure. */
  stop(): Promise<{ stderr: string; captured: number; receivedByFilter: number; droppedByKernel: number }>;
}

/** Starts tcpdump with the given arguments and resolves once it reports "listening on". */
export function startTcpdump(args: string[]): Promise<Tcpdump> {
  return new Promise((resolve, reject) => {
    const proc = spawn('tcpdump', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let listening = false;
    const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (d: string) => {
      stderr += d;
      if (!listening && /listening on/.test(stderr)) {
        listening = true;
        resolve({
          proc,
          async stop() {
            proc.kill('SIGINT');
            await exited;
            const num = (re: RegExp): number => {
              const m = re.exec(stderr);
              if (!m) throw new Error(`tcpdump output lacks ${re}: ${stderr}`);
              return Number(m[1]);
            };
            return {
              stderr,
              captured: num(/(\d+) packets? captured/),
              receivedByFilter: num(/(\d+) packets? received by filter/),
              droppedByKernel: num(/(\d+) packets? dropped by kernel/),
            };
          },
        });
      }
    });
    proc.on('error', reject);
    void exited.then((code) => {
      if (!listening) reject(new Error(`tcpdump ${args.join(' ')} exited (${code}): ${stderr}`));
    });
  });
}

export interface TestServer {
  port: number;
  close(): Promise<void>;
}

/** HTTP server on 127.0.0.1:<random>; GET /big?n=BYTES returns that many bytes, anything else a short body. */
export function startHttpServer(): Promise<TestServer> {
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      const m = /^\/big\?n=(\d+)/.exec(req.url ?? '');
      if (m) {
        res.end(Buffer.alloc(Number(m[1]), 0x61));
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(`ok ${req.method} ${req.url} ${Buffer.concat(chunks).length}\n`));
    });
    server.keepAliveTimeout = 60_000;
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        port,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

/** Issues `n` requests (concurrency `conc`, keep-alive) against the server; returns when all completed. */
export async function httpLoad(port: number, n: number, conc = 4, paths: (i: number) => string = (i) => `/r/${i}`): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
  let next = 0;
  const one = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const body = i % 5 === 0 ? Buffer.alloc(300 + (i % 700), 0x62) : undefined;
      const req = http.request(
        { host: '127.0.0.1', port, path: paths(i), method: body ? 'POST' : 'GET', agent, headers: body ? { 'content-length': body.length } : {} },
        (res) => {
          res.resume();
          res.on('end', () => resolve());
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const worker = async (): Promise<void> => {
    while (next < n) await one(next++);
  };
  await Promise.all(Array.from({ length: conc }, worker));
  agent.destroy();
}

/** Sends `n` UDP datagrams to 127.0.0.1:port in paced bursts; a receiver socket must be bound. */
export async function udpBurst(port: number, n: number, payload = 64, burst = 500): Promise<void> {
  const s = dgram.createSocket('udp4');
  const msg = Buffer.alloc(payload, 0x75);
  let sent = 0;
  let acked = 0;
  await new Promise<void>((resolve, reject) => {
    const pump = (): void => {
      const end = Math.min(n, sent + burst);
      for (; sent < end; sent++) {
        s.send(msg, port, '127.0.0.1', (err) => {
          if (err) reject(err);
          if (++acked === n) resolve();
        });
      }
      if (sent < n) setImmediate(pump);
    };
    pump();
  });
  s.close();
}

/** A bound UDP socket that counts what it receives. */
export function udpSink(): Promise<{ port: number; received(): number; close(): void }> {
  return new Promise((resolve) => {
    const r = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 });
    let count = 0;
    r.on('message', () => count++);
    r.bind(0, '127.0.0.1', () =>
      resolve({ port: r.address().port, received: () => count, close: () => r.close() }),
    );
  });
}

/** Parses `tshark -T fields -e frame.time_epoch -e frame.cap_len -e frame.len` output. */
export async function tsharkFrames(file: string, filter?: string): Promise<Array<{ tsUs: number; caplen: number; wirelen: number }>> {
  const args = ['-r', file, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.cap_len', '-e', 'frame.len'];
  if (filter) args.push('-Y', filter);
  const { stdout } = await sh('tshark', args);
  return stdout
    .trim()
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const [ts, cap, len] = l.split('\t');
      const [sec, frac = '0'] = ts.split('.');
      const usec = Number((frac + '000000').slice(0, 6));
      return { tsUs: Number(sec) * 1e6 + usec, caplen: Number(cap), wirelen: Number(len) };
    });
}

/** `tcpdump -r file [filter] | wc -l` */
export async function tcpdumpCount(file: string, filter?: string): Promise<number> {
  const args = ['-n', '-r', file];
  if (filter) args.push(filter);
  const { stdout } = await sh('tcpdump', args);
  return stdout.split('\n').filter((l) => l.length > 0).length;
}

/** capinfos -c -M: number of packets. */
export async function capinfosCount(file: string): Promise<number> {
  const { stdout } = await sh('capinfos', ['-c', '-M', file]);
  const m = /Number of packets:\s*(\d+)/.exec(stdout);
  if (!m) throw new Error(`capinfos: ${stdout}`);
  return Number(m[1]);
}

let gcFn: (() => void) | undefined;
/** Full GC, with --expose-gc enabled at run time. */
export function forceGc(): void {
  if (!gcFn) {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc') as () => void;
  }
  gcFn();
}

export function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

export function rssMiB(): number {
  return process.memoryUsage().rss / (1024 * 1024);
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
