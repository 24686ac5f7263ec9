// record --bodies: production's responses kept whole, gzip-compressed, redacted (decoded first
// when compressed); the reader's refusals (newer version, damage, truncation) and directories.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type { Exchange, HttpRequest, HttpResponse } from '../../src/http';
import { RecordedRequest, RecordingError, RecordingReader, RecordingWriter, recordEntry, sniffFile, toHttpResponse } from '../../src/recording';
import { grpcStatus } from '../../src/compare/grpc';
import { Redactor } from '../../src/traffic/redact';
import { runCli } from '../support/tools';

const conn = { id: 3, client: { address: '10.0.0.1', port: 40000 }, server: { address: '10.0.0.2', port: 8080 }, ipVersion: 4, midstream: false, openedUs: 1 };

function exchange(i: number, res: { body: Buffer; headers?: string[]; truncated?: boolean }): Exchange {
  const request: HttpRequest = {
    versionMajor: 1, versionMinor: 1, headers: ['Host', 'prod'], trailers: [], body: Buffer.alloc(0), bodySize: 0, bodyTruncated: false,
    bodySha256: null, chunked: false, startUs: 1_700_000_000_000_000 + i * 1000, endUs: 1_700_000_000_000_000 + i * 1000,
    id: i + 1, conn, index: i, method: 'GET', url: `/u/${i}`,
  };
  const response: HttpResponse = {
    versionMajor: 1, versionMinor: 1, headers: res.headers ?? ['Content-Type', 'application/json'], trailers: [], body: res.body,
    bodySize: res.body.length, bodyTruncated: res.truncated === true, bodySha256: 'cd'.repeat(32), chunked: false,
    startUs: request.startUs + 100, endUs: request.startUs + 2500, statusCode: 200, statusMessage: 'OK',
  };
  return { request, response, responseMissing: null };
}

function tmpdir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-recbodies-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function readAll(file: string): Promise<{ reqs: RecordedRequest[]; reader: RecordingReader }> {
  const reader = RecordingReader.open(file);
  const reqs: RecordedRequest[] = [];
  for await (const r of reader.requests()) reqs.push(r);
  return { reqs, reader };
}

const secretJson = JSON.stringify({ user: 'ann', token: 'TOKEN-SECRET-123', note: 'Bearer abcdefghijklmnop' });

test('--bodies: responses kept whole in gzip parts (0600); secrets masked, a gzip response decoded first; a body beyond the cap is not kept', async (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'rec');
  const w = new RecordingWriter({ path: file, redactor: new Redactor(), maxFileBytes: 1 << 20, maxFiles: 10, bodies: true });
  w.write(exchange(0, { body: Buffer.from('{"a":1}') }));
  w.write(exchange(1, { body: zlib.gzipSync(secretJson), headers: ['Content-Type', 'application/json', 'Content-Encoding', 'gzip'] }));
  w.write(exchange(2, { body: Buffer.from('x'.repeat(10)), truncated: true }));
  w.close();
  const raw = fs.readFileSync(file);
  assert.deepEqual([...raw.subarray(0, 2)], [0x1f, 0x8b], 'gzip on disk');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const plain = zlib.gunzipSync(raw).toString();
  assert.ok(!plain.includes('TOKEN-SECRET-123') && !plain.includes('abcdefghijklmnop'), 'no secret in the recording');
  assert.equal(JSON.parse(plain.split('\n')[0]).bodies, true);
  assert.equal(sniffFile(file), 'recording');
  assert.equal(w.stats.bytesOnDisk, raw.length);

  const { reqs } = await readAll(file);
  assert.equal(reqs.length, 3);
  const [a, b, c] = reqs.map((r) => toHttpResponse(r)!);
  assert.equal(a.body!.toString(), '{"a":1}');
  assert.equal(a.bodyTruncated, false);
  assert.equal(a.endUs - reqs[0].t, 2500, 'production latency: request start to response end');
  // The compressed body was decoded to be redacted: kept decoded, its Content-Encoding dropped.
  assert.equal(reqs[1].response?.bodyDecoded, true);
  assert.equal(reqs[1].response?.bodyRedacted, true);
  assert.deepEqual(b.headers, ['Content-Type', 'application/json']);
  const body = JSON.parse(b.body!.toString());
  assert.equal(body.user, 'ann');
  assert.equal(body.token, '[redacted]');
  assert.equal(c.bodyTruncated, true, 'beyond --max-response-kb: status and headers only');
  assert.equal(reqs[2].response?.body, null);
});

test('without --bodies the recording stays plain JSON lines and its responses compare by status and headers only', async (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'rec');
  const w = new RecordingWriter({ path: file, redactor: null, maxFileBytes: 1 << 20, maxFiles: 10 });
  w.write(exchange(0, { body: Buffer.from('{"a":1}') }));
  w.close();
  assert.equal(fs.readFileSync(file, 'utf8')[0], '{');
  const { reqs } = await readAll(file);
  assert.equal(reqs[0].response?.body, undefined);
  assert.equal(toHttpResponse(reqs[0])!.bodyTruncated, true);
});

test('the reader refuses a newer major version, a header cut short and damage, each in one line; a cut gzip tail is a torn line', async (t) => {
  const dir = tmpdir(t);
  const header = (version: number) => `${JSON.stringify({ format: 'shadowtap-recording', version, createdAt: '2025-01-01T00:00:00.000Z', redacted: true, recording: 'r1', part: 0 })}\n`;
  const future = path.join(dir, 'future');
  fs.writeFileSync(future, `${header(2)}{}\n`);
  assert.throws(() => RecordingReader.open(future), (e: Error) => e instanceof RecordingError && /version 2 is newer than this shadowtap reads \(1\)/.test(e.message) && !e.message.includes('\n'));
  const cut = path.join(dir, 'cut');
  fs.writeFileSync(cut, header(1).slice(0, 40));
  assert.throws(() => RecordingReader.open(cut), /header line is cut short/);

  // A real compressed recording, then damaged and truncated copies of it.
  const file = path.join(dir, 'rec');
  const w = new RecordingWriter({ path: file, redactor: null, maxFileBytes: 1 << 30, maxFiles: 10, bodies: true });
  for (let i = 0; i < 3000; i++) {
    w.write(exchange(i, { body: Buffer.from(JSON.stringify({ i, text: `row ${i} `.repeat(20 + (i % 7)) })) }));
    if (i % 500 === 499) w.flush(); // several gzip members
  }
  w.close();
  assert.equal((await readAll(file)).reqs.length, 3000);
  const bytes = fs.readFileSync(file);

  const damaged = path.join(dir, 'damaged');
  const d = Buffer.from(bytes);
  d.fill(0x55, Math.floor(d.length / 3), Math.floor(d.length / 3) + 64);
  fs.writeFileSync(damaged, d);
  await assert.rejects(readAll(damaged), (e: Error) => e instanceof RecordingError && /damaged.*a corrupt recording/.test(e.message));

  const truncated = path.join(dir, 'truncated');
  fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  const { reqs, reader } = await readAll(truncated);
  assert.ok(reqs.length > 1000 && reqs.length < 3000, `${reqs.length} requests before the cut`);
  assert.deepEqual(reqs.map((r) => r.index), reqs.map((_, i) => i), 'in order, none skipped before the cut');
  assert.equal(reader.tornLines, 1);
  const headerOnly = path.join(dir, 'gz-head');
  fs.writeFileSync(headerOnly, bytes.subarray(0, 12));
  assert.throws(() => RecordingReader.open(headerOnly), /header line is cut short/);
});

test('a directory of rotated parts is read in part order; a directory mixing two recordings is refused', async (t) => {
  const dir = tmpdir(t);
  const parts = path.join(dir, 'parts');
  fs.mkdirSync(parts);
  const w = new RecordingWriter({ path: path.join(parts, 'rec'), redactor: null, maxFileBytes: 2000, maxFiles: 100, bodies: true });
  for (let i = 0; i < 40; i++) w.write(exchange(i, { body: Buffer.from(JSON.stringify({ i, pad: 'p'.repeat(200) })) }));
  w.close();
  const names = fs.readdirSync(parts);
  assert.ok(names.length >= 10, names.join(' ')); // rec, rec.1 … rec.10 …: sorted by name, rec.10 comes before rec.2
  const { reqs, reader } = await readAll(parts);
  assert.deepEqual(reqs.map((r) => r.index), Array.from({ length: 40 }, (_, i) => i));
  assert.equal(reader.files.length, names.length);
  assert.equal(sniffFile(parts), 'recording');

  const other = new RecordingWriter({ path: path.join(parts, 'other'), redactor: null, maxFileBytes: 1 << 20, maxFiles: 1 });
  other.write(exchange(0, { body: Buffer.from('{}') }));
  other.close();
  assert.throws(() => RecordingReader.open(parts), /holds parts of 2 recordings/);
});

test('read lists a recording\'s exchanges like a capture\'s (plain or compressed); a newer recording is refused with exit 2', async (t) => {
  const dir = tmpdir(t);
  for (const bodies of [false, true]) {
    const file = path.join(dir, `rec-${bodies}`);
    const w = new RecordingWriter({ path: file, redactor: null, maxFileBytes: 1 << 20, maxFiles: 10, bodies });
    for (let i = 0; i < 5; i++) w.write(exchange(i, { body: Buffer.from(`{"i":${i}}`) }));
    w.close();
    const r = await runCli(['read', '--file', file]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => [l.index, l.method, l.url, l.status, l.resBodySha256, l.resEndUs - l.reqStartUs]),
      Array.from({ length: 5 }, (_, i) => [i, 'GET', `/u/${i}`, 200, 'cd'.repeat(32), 2500]));
    assert.match(r.stderr, /5 requests in the recording/);
  }
  const future = path.join(dir, 'future');
  fs.writeFileSync(future, `${JSON.stringify({ format: 'shadowtap-recording', version: 3, createdAt: '', redacted: true, recording: 'x', part: 0 })}\n`);
  const r = await runCli(['read', '--file', future]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^shadowtap: --file: .*recording format version 3 is newer than this shadowtap reads \(1\): upgrade shadowtap\n$/);
});

test('--bodies, a disk full in the middle of a gzip member: its lines count as unwritten until the retry gets them out whole', async (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'rec');
  const w = new RecordingWriter({ path: file, redactor: null, maxFileBytes: 1 << 20, maxFiles: 10, bodies: true });
  for (let i = 0; i < 50; i++) w.write(exchange(i, { body: Buffer.from(JSON.stringify({ i, text: `row ${i}`.repeat(30) })) }));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const nodeFs = require('node:fs') as { writeSync: (...a: unknown[]) => number };
  const realWriteSync = nodeFs.writeSync;
  let calls = 0;
  nodeFs.writeSync = (fd: unknown, buf: unknown, off: unknown) => {
    calls++;
    const data = buf as Buffer;
    const at = (off as number | undefined) ?? 0;
    if (calls === 1) return realWriteSync(fd, data, at, Math.floor((data.length - at) / 2)); // half the member
    if (calls === 2) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    return realWriteSync(fd, data, at);
  };
  t.after(() => { nodeFs.writeSync = realWriteSync; });
  assert.throws(() => w.flush(), /ENOSPC/);
  nodeFs.writeSync = realWriteSync;
  assert.equal(w.stats.unwritten, 50, 'half a member holds no readable line');
  assert.equal(w.stats.requests, 0);
  w.close();
  assert.equal(w.stats.unwritten, 0);
  assert.equal(w.stats.requests, 50);
  assert.equal(w.stats.bytesOnDisk, fs.statSync(file).size);
  const { reqs, reader } = await readAll(file);
  assert.deepEqual(reqs.map((r) => r.index), Array.from({ length: 50 }, (_, i) => i));
  assert.equal(reader.tornLines, 0);
});

test('trailers are recorded and come back (a gRPC status travels in them): a replayed call is judged by its status, not by its absence', () => {
  const grpc = exchange(0, { body: Buffer.from([0, 0, 0, 0, 0]), headers: ['content-type', 'application/grpc'] });
  grpc.response!.trailers = ['grpc-status', '14', 'grpc-message', 'backend%20down'];
  const plain = exchange(1, { body: Buffer.from('{}') });
  const [g, p] = [grpc, plain].map((ex) => recordEntry(ex, new Redactor(), true)!);
  assert.deepEqual(toHttpResponse(g)?.trailers, ['grpc-status', '14', 'grpc-message', 'backend%20down']);
  assert.equal(grpcStatus(toHttpResponse(g)!.headers, toHttpResponse(g)!.trailers).code, '14');
  assert.equal(p.response?.trailers, undefined, 'no trailers, no key');
  assert.deepEqual(toHttpResponse(p)?.trailers, []);
});
