// What redaction costs `record --bodies` per exchange, default masking vs --redact-pii, on the
// test API's mix (users ~0.3 KB with an e-mail address, orders ~1 KB, reports 1–44 KB, small
// search/health/css answers). CPU time of this process, one core; the gzip of the file is apart.
// Usage: node dist/bench/redact.js [exchanges]
import type { Exchange, HttpRequest, HttpResponse } from '../src/http';
import { recordEntry } from '../src/recording';
import { Redactor, defaultRedactOptions } from '../src/traffic/redact';
import { apiMixPlan, orderData, reportRows, searchResults, userData, ORDER_IDS, APP_CSS } from '../test/support/api';

const N = Number(process.argv[2] ?? 20_000);
const conn = { id: 1, client: { address: '10.0.0.7', port: 51234 }, server: { address: '10.0.0.2', port: 8080 }, ipVersion: 4, midstream: false, openedUs: 0 };

function body(target: string): { type: string; text: string } {
  let m: RegExpExecArray | null;
  if ((m = /^\/users\/(\d+)/.exec(target))) return { type: 'application/json', text: JSON.stringify({ ...userData(Number(m[1])), generatedAt: new Date(0).toISOString(), requestId: 'c0ffee00-0000-4000-8000-000000000000' }) };
  if ((m = /^\/orders\/(.+)/.exec(target))) return { type: 'application/json', text: JSON.stringify(orderData(m[1] ?? ORDER_IDS[0])) };
  if ((m = /^\/reports\/(\d+)/.exec(target))) return { type: 'application/json', text: JSON.stringify({ id: Number(m[1]), rows: reportRows(Number(m[1])), ts: 0 }) };
  if ((m = /^\/search\?q=(.+)/.exec(target))) return { type: 'application/json', text: JSON.stringify({ q: m[1], results: searchResults(m[1]), took_ms: 7 }) };
  if (target === '/health') return { type: 'text/plain', text: 'ok' };
  return { type: 'text/css', text: APP_CSS };
}

const exchanges: Exchange[] = apiMixPlan(N, 7).map(([, target], i) => {
  const b = body(target);
  const request: HttpRequest = {
    versionMajor: 1, versionMinor: 1, headers: ['Host', '10.0.0.2:8080', 'Accept-Encoding', 'gzip', 'User-Agent', 'client/1.0'], trailers: [],
    body: Buffer.alloc(0), bodySize: 0, bodyTruncated: false, bodySha256: null, chunked: false, startUs: i, endUs: i, id: i, conn, index: i, method: 'GET', url: target,
  };
  const buf = Buffer.from(b.text);
  const response: HttpResponse = {
    versionMajor: 1, versionMinor: 1, headers: ['Content-Type', b.type, 'X-Request-Id', 'c0ffee00-0000-4000-8000-000000000000', 'Content-Length', String(buf.length)],
    trailers: [], body: buf, bodySize: buf.length, bodyTruncated: false, bodySha256: null, chunked: false, startUs: i, endUs: i, statusCode: 200, statusMessage: 'OK',
  };
  return { request, response, responseMissing: null };
});
const bytes = exchanges.reduce((n, e) => n + (e.response?.bodySize ?? 0), 0);

function run(name: string, redactor: Redactor | null): number {
  for (let i = 0; i < 2000; i++) JSON.stringify(recordEntry(exchanges[i % exchanges.length], redactor, true)); // warm-up
  const t0 = process.cpuUsage();
  for (const ex of exchanges) JSON.stringify(recordEntry(ex, redactor, true));
  const d = process.cpuUsage(t0);
  const us = (d.user + d.system) / N;
  console.log(`${name.padEnd(16)} ${us.toFixed(1).padStart(7)} µs CPU per exchange  ${(bytes / 1e6 / ((d.user + d.system) / 1e6)).toFixed(0).padStart(5)} MB/s of response bodies`);
  return us;
}

console.log(`${N} exchanges, ${(bytes / N / 1024).toFixed(1)} KiB of response body each on average`);
const none = run('--no-redact', null);
const masked = run('redacted', new Redactor());
const pii = run('--redact-pii', new Redactor({ ...defaultRedactOptions(), pii: true, hashKey: Buffer.alloc(32, 1) }));
console.log(`redaction: +${(masked - none).toFixed(1)} µs; --redact-pii on top: +${(pii - masked).toFixed(1)} µs per exchange (×${(pii / masked).toFixed(2)})`);
