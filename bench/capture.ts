/**
 * Capture-engine benchmark (needs root, nginx, wrk, tcpdump, capinfos; loopback only).
 *
 *   npx node-gyp rebuild -C native && npx tsc -p . && node dist/bench/capture.js [options]
 *
 * Options:
 *   --live-seconds N     duration of the live comparison under wrk load (default 20)
 *   --file-seconds N     wrk duration while recording the offline test file (default 8)
 *   --min-packets N      re-record until the file has at least N packets (default 500000)
 *   --file PATH          use an existing pcap for the offline part instead of recording one
 *   --copy-below N       live: copy batches smaller than N bytes, hand larger ones over as external
 *                        Buffers (default: always copy; 0 = never copy)
 *   --connections N      wrk connections (default 32)
 *   --threads N          wrk threads (default 1)
 *   --body-bytes N       nginx serves an N-byte static file instead of a 43-byte text (default 0)
 *   --skip-live / --skip-offline
 *
 * Offline: packets/s of OfflineHandle.readInto (1 MiB buffer) and of openFile()+RecordCursor,
 * vs `tcpdump -r F -w /dev/null`. Live: LiveHandle and a simultaneous tcpdump on the same
 * filter while wrk drives nginx on 127.0.0.1 at full speed; packet counts and drops side by side.
 */
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { openFile, RecordCursor } from '../src/capture';
import { loadAddon } from '../src/capture/native';

const argv = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
};
const flag = (name: string): boolean => argv.includes(`--${name}`);
const optStr = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};

const LIVE_SECONDS = opt('live-seconds', 20);
const FILE_SECONDS = opt('file-seconds', 8);
const MIN_PACKETS = opt('min-packets', 500_000);
const CONNECTIONS = opt('connections', 32);
const THREADS = opt('threads', 1);
const BODY_BYTES = opt('body-bytes', 0);
const PORT = 20000 + Math.floor(Math.random() * 20000);

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-bench-'));
fs.chmodSync(workDir, 0o755); // nginx workers (user nobody) read body.bin
const children: ChildProcess[] = [];

function startNginx(port: number): ChildProcess {
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) fs.mkdirSync(path.join(workDir, d), { recursive: true });
  const conf = path.join(workDir, 'nginx.conf');
  if (BODY_BYTES > 0) fs.writeFileSync(path.join(workDir, 'body.bin'), Buffer.alloc(BODY_BYTES, 0x62));
  fs.writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${workDir}/nginx.pid;
error_log ${workDir}/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${workDir}/body; proxy_temp_path ${workDir}/proxy;
  fastcgi_temp_path ${workDir}/fastcgi; uwsgi_temp_path ${workDir}/uwsgi; scgi_temp_path ${workDir}/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port};
    location = /body.bin { root ${workDir}; }
    location / { default_type text/plain; return 200 "hello from the shadowtap capture benchmark\\n"; }
  }
}
`,
  );
  const p = spawn('nginx', ['-e', `${workDir}/nginx-error.log`, '-p', workDir, '-c', conf], { stdio: 'inherit' });
  children.push(p);
  return p;
}

interface TcpdumpResult {
  captured: number;
  received: number;
  dropped: number;
}

function startTcpdump(args: string[]): Promise<{ stop(): Promise<TcpdumpResult> }> {
  return new Promise((resolve, reject) => {
    const p = spawn('tcpdump', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(p);
    let err = '';
    const exited = new Promise<void>((r) => p.on('exit', () => r()));
    p.stderr!.on('data', (d) => {
      err += d;
      if (/listening on/.test(err)) {
        resolve({
          async stop() {
            p.kill('SIGINT');
            await exited;
            const num = (re: RegExp): number => Number((re.exec(err) ?? [0, NaN])[1]);
            return { captured: num(/(\d+) packets? captured/), received: num(/(\d+) packets? received by filter/), dropped: num(/(\d+) packets? dropped by kernel/) };
          },
        });
      }
    });
    p.on('error', reject);
    void exited.then(() => reject(new Error(`tcpdump exited: ${err}`)));
  });
}

function runWrk(seconds: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('wrk', [`-t${THREADS}`, `-c${CONNECTIONS}`, `-d${seconds}s`, `http://127.0.0.1:${PORT}/${BODY_BYTES > 0 ? 'body.bin' : ''}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(p);
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk exited ${code}: ${out}`))));
  });
}

/** utime+stime (seconds) of this process's threads, by thread name (comm). */
function threadCpu(): Map<string, number> {
  const tick = 100; // USER_HZ
  const out = new Map<string, number>();
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = tid === String(process.pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / tick);
    } catch {
      /* thread exited */
    }
  }
  return out;
}

function reqPerSec(wrkOut: string): string {
  return (/Requests\/sec:\s*([\d.]+)/.exec(wrkOut) ?? ['', '?'])[1];
}

async function waitForPort(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${PORT}`], { stdio: 'ignore' });
      return;
    } catch {
      await delay(50);
    }
  }
  throw new Error('nginx did not start');
}

async function recordFile(file: string): Promise<number> {
  let seconds = FILE_SECONDS;
  for (;;) {
    const td = await startTcpdump(['-i', 'lo', '-n', '-B', '131072', '-w', file, `tcp port ${PORT}`]);
    const w = await runWrk(seconds);
    await delay(1200);
    const r = await td.stop();
    const count = Number(/Number of packets:\s*(\d+)/.exec(execFileSync('capinfos', ['-c', '-M', file], { encoding: 'utf8' }))![1]);
    console.log(`recorded ${fmt(count)} packets in ${seconds}s of wrk (${reqPerSec(w)} req/s; tcpdump dropped ${r.dropped})`);
    if (count >= MIN_PACKETS) return count;
    seconds = Math.ceil((seconds * MIN_PACKETS * 1.2) / Math.max(count, 1));
  }
}

async function offline(file: string): Promise<void> {
  const addon = loadAddon();
  const size = fs.statSync(file).size;
  const buf = Buffer.allocUnsafe(1 << 20);
  let best = Infinity;
  let packets = 0;
  for (let run = 0; run < 5; run++) {
    const t0 = process.hrtime.bigint();
    const h = new addon.OfflineHandle(file);
    let n = 0;
    while (h.readInto(buf) > 0) n += h.lastCount;
    h.close();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    best = Math.min(best, s);
    packets = n;
  }
  // Through the PacketSource with a full RecordCursor walk (what a consumer pays at minimum).
  let srcBest = Infinity;
  for (let run = 0; run < 3; run++) {
    const t0 = process.hrtime.bigint();
    const src = openFile(file);
    const c = new RecordCursor();
    let n = 0;
    let sum = 0;
    await new Promise<void>((resolve, reject) =>
      src.start(
        (batch, count) => {
          c.reset(batch, count);
          while (c.next()) {
            n++;
            sum += c.caplen;
          }
        },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
    if (n !== packets || sum <= 0) throw new Error(`openFile count ${n} != ${packets}`);
    srcBest = Math.min(srcBest, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  let tdBest = Infinity;
  for (let run = 0; run < 3; run++) {
    const t0 = process.hrtime.bigint();
    execFileSync('tcpdump', ['-r', file, '-w', '/dev/null'], { stdio: 'ignore' });
    tdBest = Math.min(tdBest, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  console.log(`\n== offline: ${file} (${fmt(packets)} packets, ${(size / 1048576).toFixed(1)} MiB), best of runs, warm page cache`);
  const row = (name: string, s: number): void =>
    console.log(`${name.padEnd(44)} ${s.toFixed(3).padStart(7)} s  ${fmt(packets / s).padStart(12)} pkt/s  ${(size / 1048576 / s).toFixed(0).padStart(6)} MiB/s`);
  row('OfflineHandle.readInto (1 MiB buffer)', best);
  row('openFile() + RecordCursor walk', srcBest);
  row('tcpdump -r F -w /dev/null', tdBest);
}

async function live(): Promise<void> {
  const addon = loadAddon();
  const filter = `tcp port ${PORT}`;
  const td = await startTcpdump(['-i', 'lo', '-n', '-B', '65536', '-w', '/dev/null', filter]);
  const copyBelow = optStr('copy-below');
  const h = new addon.LiveHandle({ device: 'lo', filter, ...(copyBelow !== undefined ? { copyBelowBytes: Number(copyBelow) } : {}) });
  const c = new RecordCursor();
  let delivered = 0;
  let batches = 0;
  let jsBusyNs = 0n;
  let maxQueued = 0;
  const ended = new Promise<Error | undefined>((resolve) =>
    h.start(
      (batch, count) => {
        const t0 = process.hrtime.bigint();
        batches++;
        c.reset(batch, count);
        while (c.next()) delivered++;
        jsBusyNs += process.hrtime.bigint() - t0;
      },
      resolve,
    ),
  );
  const sampler = setInterval(() => (maxQueued = Math.max(maxQueued, h.stats().queuedBytes)), 100);
  const rss0 = process.memoryUsage().rss;
  let rssMax = rss0;
  const rssSampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 250);
  const cpu0 = process.cpuUsage();
  let capCpu = 0;
  const main0 = threadCpu().get('main') ?? 0;
  const capSampler = setInterval(() => (capCpu = threadCpu().get('shadowtap-cap') ?? capCpu), 200);
  const w = await runWrk(LIVE_SECONDS);
  await delay(1500);
  h.close();
  const err = await ended;
  const cpu = process.cpuUsage(cpu0);
  const mainCpu = (threadCpu().get('main') ?? 0) - main0;
  clearInterval(capSampler);
  clearInterval(sampler);
  clearInterval(rssSampler);
  const tdr = await td.stop();
  const s = h.stats();
  if (err) throw err;
  console.log(`\n== live on lo: wrk -t${THREADS} -c${CONNECTIONS} -d${LIVE_SECONDS}s against nginx${BODY_BYTES ? ` (${BODY_BYTES}-byte bodies)` : ''} (${reqPerSec(w)} req/s), filter "${filter}"`);
  console.log(`${''.padEnd(28)} ${'shadowtap'.padStart(14)} ${'tcpdump'.padStart(14)}`);
  const row = (name: string, a: number | string, b: number | string): void =>
    console.log(`${name.padEnd(28)} ${(typeof a === 'number' ? fmt(a) : a).padStart(14)} ${(typeof b === 'number' ? fmt(b) : b).padStart(14)}`);
  row('packets captured', delivered, tdr.captured);
  row('kernel received (ps_recv)', s.kernelReceived, tdr.received);
  row('kernel dropped (ps_drop)', s.kernelDropped, tdr.dropped);
  row('queue dropped', s.queueDropped, '-');
  row('if dropped', s.ifDropped, '-');
  console.log(
    `shadowtap: ${fmt(batches)} batches (avg ${fmt(delivered / Math.max(batches, 1))} pkts), ` +
      `${(s.bytes / 1048576).toFixed(0)} MiB wire bytes, max queued ${(maxQueued / 1048576).toFixed(1)} MiB, ` +
      `JS-thread time in onBatch ${(Number(jsBusyNs) / 1e6).toFixed(0)} ms, ` +
      `CPU: process ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s, JS main thread ${mainCpu.toFixed(2)} s, capture thread >= ${capCpu.toFixed(2)} s, ` +
      `RSS ${(rss0 / 1048576).toFixed(0)} -> max ${(rssMax / 1048576).toFixed(0)} MiB, ${copyBelow === undefined ? 'batches copied to JS' : `copy below ${copyBelow} bytes`}`,
  );
  console.log('(on lo the kernel counts each packet twice: outgoing + incoming copy)');
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root (live capture)');
  console.log(`libpcap: ${loadAddon().libVersion()}; nginx on 127.0.0.1:${PORT}; work dir ${workDir}`);
  const nginx = startNginx(PORT);
  try {
    await waitForPort();
    if (!flag('skip-offline')) {
      let file = optStr('file');
      if (!file) {
        file = path.join(workDir, 'bench.pcap');
        await recordFile(file);
      }
      await offline(file);
    }
    if (!flag('skip-live')) await live();
  } finally {
    nginx.kill('SIGTERM');
    for (const ch of children) if (ch.exitCode === null && ch.signalCode === null) ch.kill('SIGTERM');
    await delay(200);
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  for (const ch of children) if (ch.exitCode === null) ch.kill('SIGKILL');
  process.exitCode = 1;
});
