// The comparison's CPU per ordinary exchange (issue 11): small JSON answers like the live
// bench's (bench/peer.sh), a few endpoints, 5–7 headers a message, bodies of ~30 bytes that
// differ in one field ('differ') or not at all ('identical'). Exchanges go through the
// CompareStage as a live run hands them over (production's side, then the shadow's; diffs
// flushed every batch), with `--out` samples written by a real OutputDir (redacted). CPU time
// of this process spent in the stage only (building the exchanges is not counted), per exchange.
//
// Usage: node dist/bench/compare-small.js [exchanges] [--against CHECKOUT] [--rounds N]
//   Alone: this checkout, both modes, one run each.
//   --against: this checkout and CHECKOUT (another worktree, built) in child processes,
//   interleaved round by round (the order flips each round), medians printed; the results.json
//   of both (timestamps and cpuMs left out) must be identical, else it says so and exits 1.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { CompareStage as CompareStageT, CompareOptions, ResultsJson, SampleSink } from '../src/compare';
import type { HttpRequest, HttpResponse, ShadowResponse } from '../src/model';

type Mode = 'differ' | 'identical';
const MODES: Mode[] = ['differ', 'identical'];
const BATCH = 500;

interface Impl {
  CompareStage: new (targets: string[], baseline: string | null, options: CompareOptions, samples: SampleSink | null) => CompareStageT;
  defaultCompareOptions: () => CompareOptions;
  openSamples: (dir: string) => SampleSink & { close(): void };
}

/** The stage (and the sample writer) of the checkout at `root` (its dist/ built). */
function loadImpl(root: string): Impl {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const compare = require(join(root, 'dist/src/compare')) as Pick<Impl, 'CompareStage' | 'defaultCompareOptions'>;
  const { OutputDir } = require(join(root, 'dist/src/report/outdir')) as { OutputDir: new (dir: string, r: unknown) => SampleSink & { close(): void } };
  const { Redactor } = require(join(root, 'dist/src/traffic/redact')) as { Redactor: new () => unknown };
  return { ...compare, openSamples: (dir) => new OutputDir(dir, new Redactor()) };
}

const CONN = { id: 1, client: { address: '127.0.0.1', port: 40000 }, server: { address: '127.0.0.1', port: 20190 }, ipVersion: 4, midstream: false, openedUs: 0 };

interface Endpoint {
  method: string;
  url: (n: number) => string;
  reqHeaders: string[];
  reqBody: string | null;
  prodBody: (n: number) => string;
  shadowBody: (n: number) => string;
}

const UA = ['Host', '127.0.0.1:20190', 'User-Agent', 'wrk', 'Accept', '*/*', 'Accept-Encoding', 'gzip', 'Connection', 'keep-alive'];
const ENDPOINTS: Endpoint[] = [
  // The live bench's one target, answered by nginx's `return 200 '{"ok":true,"name":"…"}'`.
  { method: 'GET', url: () => '/api/items?id=7', reqHeaders: UA, reqBody: null,
    prodBody: () => '{"ok":true,"name":"prod"}', shadowBody: () => '{"ok":true,"name":"shadow"}' },
  { method: 'GET', url: (n) => `/api/users/${1000 + (n % 50)}`, reqHeaders: [...UA, 'Accept-Language', 'en'], reqBody: null,
    prodBody: (n) => `{"id":${1000 + (n % 50)},"tier":"gold"}`, shadowBody: (n) => `{"id":${1000 + (n % 50)},"tier":"silver"}` },
  { method: 'POST', url: () => '/api/orders', reqHeaders: [...UA, 'Content-Type', 'application/json', 'Content-Length', '12'], reqBody: '{"qty":3}',
    prodBody: (n) => `{"order":${n % 7},"state":"new"}`, shadowBody: (n) => `{"order":${n % 7},"state":"open"}` },
  { method: 'GET', url: (n) => `/api/items/sku-${10 + (n % 20)}?full=1`, reqHeaders: UA, reqBody: null,
    prodBody: (n) => `{"sku":${n % 20},"price":12.5}`, shadowBody: (n) => `{"sku":${n % 20},"price":12.75}` },
];

function responseHeaders(body: Buffer, server: string): string[] {
  return ['Server', server, 'Date', 'Mon, 30 Nov 2026 12:00:00 GMT', 'Content-Type', 'application/json',
    'Content-Length', String(body.length), 'Connection', 'keep-alive', 'Cache-Control', 'no-store'];
}

interface Case { req: HttpRequest; prod: HttpResponse; shadow: ShadowResponse }

let nextId = 1;

/** Exchange `n`: fresh objects and buffers, as the capture hands over. */
function exchangeCase(n: number, mode: Mode): Case {
  const ep = ENDPOINTS[n % 4 === 3 ? (n >> 2) % 4 : 0]!; // three in four on the live bench's target
  const reqBody = ep.reqBody === null ? null : Buffer.from(ep.reqBody);
  const startUs = n * 100;
  const req = {
    conn: CONN, id: nextId++, index: n, method: ep.method, url: ep.url(n), versionMajor: 1, versionMinor: 1, headers: ep.reqHeaders.slice(), trailers: [],
    body: reqBody, bodySize: reqBody?.length ?? 0, bodyTruncated: false, bodySha256: null, chunked: false, startUs, endUs: startUs + 5,
  } as HttpRequest;
  const prodBody = Buffer.from(ep.prodBody(n));
  const shadowBody = Buffer.from(mode === 'identical' ? ep.prodBody(n) : ep.shadowBody(n));
  const prod: HttpResponse = {
    statusCode: 200, statusMessage: 'OK', versionMajor: 1, versionMinor: 1, headers: responseHeaders(prodBody, 'nginx/1.22.1'), trailers: [],
    body: prodBody, bodySize: prodBody.length, bodyTruncated: false, bodySha256: null, chunked: false, startUs: startUs + 10, endUs: startUs + 60 + (n % 17) * 7,
  };
  const shadow: ShadowResponse = {
    target: 'http://127.0.0.1:20191', statusCode: 200, headers: responseHeaders(shadowBody, 'nginx/1.22.1'), trailers: null,
    body: shadowBody, bodySize: shadowBody.length, latencyUs: 80 + (n % 23) * 5, outcome: 'replayed', error: null,
  };
  return { req, prod, shadow };
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** The results a run wrote, without what differs between two runs of the same input. */
function digest(r: ResultsJson): string {
  const stable = { ...r, startedAt: '', updatedAt: '', counters: { ...r.counters, cpuMs: 0 } };
  return createHash('sha256').update(JSON.stringify(stable)).digest('hex').slice(0, 16);
}

/** µs of CPU per exchange for `n` exchanges of `mode` through `impl`, and the results' digest. */
function measure(impl: Impl, n: number, mode: Mode): { us: number; digest: string; compared: number; mismatched: number; samples: number } {
  nextId = 1;
  const dir = mkdtempSync(join(tmpdir(), 'compare-small-'));
  try {
    const sink = impl.openSamples(dir);
    const target = 'http://127.0.0.1:20191';
    const stage = new impl.CompareStage([target], null, { ...impl.defaultCompareOptions(), cpuShare: 1, maxQueued: BATCH * 2 }, sink);
    let spent = 0;
    for (let done = 0; done < n; done += BATCH) {
      const batch: Case[] = [];
      for (let i = done; i < Math.min(n, done + BATCH); i++) batch.push(exchangeCase(i, mode));
      const t = cpuUs();
      for (const c of batch) {
        stage.exchange({ request: c.req, response: c.prod, responseMissing: null });
        stage.replayed(c.req, [c.shadow]);
      }
      stage.flush();
      spent += cpuUs() - t;
    }
    const results = stage.results({}, true);
    sink.close();
    let compared = 0, mismatched = 0;
    for (const e of results.endpoints) { compared += e.shadows[0]!.compared; mismatched += e.shadows[0]!.mismatched; }
    return { us: spent / n, digest: digest(results), compared, mismatched, samples: results.counters.samplesWritten };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function main(): void {
  const args = process.argv.slice(2);
  const flag = (name: string): string | null => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] ?? null : null;
  };
  const n = Number(args.find((a, i) => /^\d+$/.test(a) && !['--rounds', '--mode'].includes(args[i - 1] ?? '')) ?? 200_000);
  const self = resolve(__dirname, '../..');
  const child = flag('--child');
  if (child !== null) { // one measurement, as JSON on stdout
    process.stdout.write(JSON.stringify(measure(loadImpl(child), n, flag('--mode') as Mode)));
    return;
  }
  const against = flag('--against');
  if (against === null) {
    const impl = loadImpl(self);
    for (const mode of MODES) {
      const r = measure(impl, n, mode);
      console.log(`${mode.padEnd(9)} ${n} exchanges  ${r.us.toFixed(2)} µs CPU/exchange  compared ${r.compared} mismatched ${r.mismatched} samples ${r.samples}  results ${r.digest}`);
    }
    return;
  }
  const rounds = Number(flag('--rounds') ?? 3);
  const impls = [{ name: 'base', root: resolve(against) }, { name: 'this', root: self }];
  const us: Record<string, number[]> = {};
  const digests: Record<string, Set<string>> = {};
  for (let round = 0; round < rounds; round++) {
    for (const mode of MODES) {
      const order = round % 2 === 0 ? impls : [...impls].reverse();
      for (const impl of order) {
        const p = spawnSync(process.execPath, [__filename, String(n), '--child', impl.root, '--mode', mode], { encoding: 'utf8' });
        if (p.status !== 0) throw new Error(`${impl.name} ${mode}: ${p.stderr}`);
        const r = JSON.parse(p.stdout) as ReturnType<typeof measure>;
        (us[`${impl.name} ${mode}`] ??= []).push(r.us);
        (digests[mode] ??= new Set()).add(r.digest);
        console.log(`round ${round + 1} ${impl.name.padEnd(4)} ${mode.padEnd(9)} ${r.us.toFixed(2)} µs/exchange  compared ${r.compared} mismatched ${r.mismatched} samples ${r.samples}  results ${r.digest}`);
      }
    }
  }
  let same = true;
  for (const mode of MODES) {
    const b = median(us[`base ${mode}`]!), t = median(us[`this ${mode}`]!);
    const one = digests[mode]!.size === 1;
    same &&= one;
    console.log(`${mode.padEnd(9)} median of ${rounds}: base ${b.toFixed(2)} µs  this ${t.toFixed(2)} µs  (${(t / b * 100).toFixed(0)} % of base)  results ${one ? 'identical' : 'DIFFER'}`);
  }
  if (!same) process.exitCode = 1;
}

main();
