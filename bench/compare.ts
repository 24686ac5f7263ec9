// Comparison throughput on a JSON API mix (bodies 1–50 KB), beside the floor any structural
// JSON diff pays: JSON.parse of both bodies. CPU time of this process, one core.
// Usage: node dist/bench/compare.js [exchanges]
import { gzipSync } from 'node:zlib';
import { CompareStage, defaultCompareOptions } from '../src/compare';
import type { HttpRequest, HttpResponse } from '../src/http';
import type { ShadowResponse } from '../src/replay';

const N = Number(process.argv[2] ?? 20_000);
const DISTINCT = 400; // distinct requests; the rest repeat them (as real traffic does)

function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A JSON document of about `bytes` bytes: records with nested objects, numbers, strings. */
function document(id: number, bytes: number, r: () => number, noise: number): Record<string, unknown> {
  const items = [];
  let size = 80;
  for (let i = 0; size < bytes; i++) {
    const item = { id: id * 1000 + i, sku: `SKU-${(id * 7919 + i) % 100000}`, qty: 1 + (i % 9), price: Math.round(r() * 1e4) / 100,
      tags: ['a', 'b', 'c'].slice(0, 1 + (i % 3)), meta: { warehouse: `w${i % 5}`, fragile: i % 4 === 0 } };
    items.push(item);
    size += JSON.stringify(item).length + 1;
  }
  return { id, generatedAt: new Date(1_700_000_000_000 + noise).toISOString(), requestId: `req-${noise}`, items };
}

interface Case { req: HttpRequest; prod: HttpResponse; shadow: ShadowResponse; bytes: number }

let nextId = 1;

function request(url: string): HttpRequest {
  return {
    conn: { id: 1, client: { address: '10.0.0.1', port: 5000 }, server: { address: '10.0.0.2', port: 80 }, ipVersion: 4, midstream: false, openedUs: 0 },
    id: nextId++, index: 0, method: 'GET', url, versionMajor: 1, versionMinor: 1, headers: ['Host', 'api', 'Accept-Encoding', 'gzip'], trailers: [],
    body: null, bodySize: 0, bodyTruncated: false, bodySha256: null, chunked: false, startUs: 0, endUs: 0,
  } as HttpRequest;
}

function cases(mode: 'identical' | 'noisy' | 'noisy+gzip'): Case[] {
  const r = rng(42);
  const sizes = Array.from({ length: DISTINCT }, () => 1024 + Math.floor(r() * 49 * 1024));
  const out: Case[] = [];
  for (let n = 0; n < N; n++) {
    const id = n % DISTINCT;
    const base = document(id, sizes[id], rng(id), mode === 'identical' ? 0 : n);
    const prodBody = Buffer.from(JSON.stringify(base));
    const shadowDoc = mode === 'identical' ? base : { ...base, generatedAt: new Date(1_700_000_000_000 + n + 3).toISOString(), requestId: `req-s${n}` };
    let shadowBody = Buffer.from(JSON.stringify(shadowDoc));
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (mode === 'noisy+gzip') {
      shadowBody = gzipSync(shadowBody, { level: 1 });
      headers['content-encoding'] = 'gzip';
    }
    out.push({
      req: request(`/api/orders/${id}`),
      prod: { statusCode: 200, statusMessage: 'OK', versionMajor: 1, versionMinor: 1, headers: ['Content-Type', 'application/json', 'Date', 'x'], trailers: [],
        body: prodBody, bodySize: prodBody.length, bodyTruncated: false, bodySha256: null, chunked: false, startUs: 0, endUs: 500 },
      shadow: { target: 'http://shadow', statusCode: 200, headers: Object.entries(headers).flat(), body: shadowBody, bodySize: shadowBody.length, latencyUs: 700, outcome: 'replayed', error: null },
      bytes: prodBody.length,
    });
  }
  return out;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function run(mode: 'identical' | 'noisy' | 'noisy+gzip'): void {
  const cs = cases(mode);
  const mb = cs.reduce((a, c) => a + c.bytes, 0) / (1 << 20);
  // Reference: parse both bodies (after gunzip where the shadow compressed).
  let t = cpuMs();
  let sink = 0;
  for (const c of cs) {
    sink += (JSON.parse(c.prod.body!.toString()) as { id: number }).id;
    const b = mode === 'noisy+gzip' ? require('node:zlib').gunzipSync(c.shadow.body!) : c.shadow.body!;
    sink += (JSON.parse(b.toString()) as { id: number }).id;
  }
  const parseMs = cpuMs() - t;
  const stage = new CompareStage(['http://shadow'], null, { ...defaultCompareOptions(), cpuShare: 1, maxQueued: N + 1 });
  t = cpuMs();
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i]!;
    stage.exchange({ request: c.req, response: c.prod, responseMissing: null });
    stage.replayed(c.req, [c.shadow]);
    // Diffed as they come, as a run does (a queue of them all would pass maxQueuedBytes: 'busy').
    if (i % 100 === 99) stage.flush();
  }
  stage.flush();
  const compareMs = cpuMs() - t;
  const results = stage.results({}, true);
  const r = { compared: 0, mismatched: 0 };
  for (const e of results.endpoints) {
    r.compared += e.shadows[0].compared;
    r.mismatched += e.shadows[0].mismatched;
  }
  if (results.counters.busy > 0) throw new Error(`${results.counters.busy} exchanges skipped as busy: not a measure of the diff`);
  const rate = (ms: number) => Math.round((cs.length / ms) * 1000);
  console.log([
    mode.padEnd(11), `${cs.length} exchanges`, `${(mb / cs.length * 1024).toFixed(1)} KB avg`,
    `compare ${rate(compareMs)}/s (${(mb / (compareMs / 1000)).toFixed(0)} MB/s prod body)`,
    `JSON.parse both ${rate(parseMs)}/s`, `ratio ${(parseMs / compareMs).toFixed(2)}`,
    `compared ${r.compared} mismatched ${r.mismatched}`, sink > 0 ? '' : '-',
  ].join('  '));
}

for (const mode of ['identical', 'noisy', 'noisy+gzip'] as const) run(mode);
