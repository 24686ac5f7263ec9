// The recording format: round trip, redaction by default, private files, size rotation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { recordConfig } from '../../src/config';
import type { Exchange, HttpRequest, HttpResponse } from '../../src/http';
import { RecordedRequest, RecordingReader, RecordingWriter, sniffFile, toHttpRequest } from '../../src/recording';
import { Redactor } from '../../src/traffic/redact';

const conn = {
  id: 7, client: { address: '10.0.0.1', port: 40000 }, server: { address: '10.0.0.2', port: 8080 },
  ipVersion: 4, midstream: false, openedUs: 1,
};

function exchange(i: number, opts: { headers?: string[]; body?: string; url?: string; method?: string } = {}): Exchange {
  const body = opts.body === undefined ? null : Buffer.from(opts.body);
  const request: HttpRequest = {
    versionMajor: 1, versionMinor: 1, headers: opts.headers ?? ['Host', 'prod', 'x-seq', String(i)], trailers: [],
    body: body ?? Buffer.alloc(0), bodySize: body?.length ?? 0, bodyTruncated: false, bodySha256: null, chunked: false,
    startUs: 1_700_000_000_000_000 + i * 1000, endUs: 1_700_000_000_000_000 + i * 1000 + 10,
    id: i + 1, conn, index: i, method: opts.method ?? (body ? 'POST' : 'GET'), url: opts.url ?? `/items/${i}?q=${i}`,
  };
  const response: HttpResponse = {
    versionMajor: 1, versionMinor: 1, headers: ['Content-Type', 'text/plain', 'Set-Cookie', 'sid=abcdef123456'], trailers: [],
    body: null, bodySize: 5, bodyTruncated: false, bodySha256: 'ab'.repeat(32), chunked: false,
    startUs: request.endUs + 100, endUs: request.endUs + 200, statusCode: 200, statusMessage: 'OK',
  };
  return { request, response: i % 5 === 4 ? null : response, responseMissing: i % 5 === 4 ? 'gap' : null };
}

async function readAll(file: string): Promise<RecordedRequest[]> {
  const out: RecordedRequest[] = [];
  for await (const r of RecordingReader.open(file).requests()) out.push(r);
  return out;
}

function tmpdir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-rec-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const secretExchange = () => exchange(1, {
  method: 'POST',
  url: '/pay?access_token=tok-SECRET-in-query&x=1',
  headers: ['Host', 'prod', 'Authorization', 'Bearer eyJhbGciOiJIUzI1NiJ9.SECRETBEARER', 'Cookie', 'session=COOKIESECRET42',
    'Content-Type', 'application/json'],
  body: JSON.stringify({ amount: 12, card: '4111 1111 1111 1111', note: 'pay with 4111111111111111', items: [1, 2] }),
});
const secrets = ['SECRETBEARER', 'COOKIESECRET42', '4111 1111 1111 1111', '4111111111111111', 'tok-SECRET-in-query'];

test('writer and reader round trip (no redaction): every field as captured, in order', async (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'rec.jsonl');
  const w = new RecordingWriter({ path: file, redactor: null, maxFileBytes: 1 << 20, maxFiles: 10 });
  const bin = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
  const exs = [exchange(0), exchange(1, { body: '{"a":1}' }), exchange(2, { url: '/caf\u00e9?x=\u00ff' }), exchange(3), exchange(4)];
  exs[3].request.body = bin;
  exs[3].request.bodySize = bin.length;
  for (const ex of exs) assert.equal(w.write(ex), true);
  const cut = exchange(5, { body: 'x' });
  cut.request.bodyTruncated = true;
  assert.equal(w.write(cut), false, 'a body cut by --max-body-mb is not recorded');
  w.close();

  const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
  const header = JSON.parse(lines[0]);
  assert.equal(header.format, 'shadowtap-recording');
  assert.equal(header.version, 1);
  assert.equal(header.redacted, false);
  assert.equal(header.part, 0);
  assert.ok(!Number.isNaN(Date.parse(header.createdAt)));
  assert.equal(sniffFile(file), 'recording');

  const got = await readAll(file);
  assert.equal(got.length, 5);
  for (let i = 0; i < 5; i++) {
    const r = got[i];
    const req = exs[i].request;
    assert.equal(r.t, req.startUs);
    assert.equal(r.conn, 7);
    assert.equal(r.client, '10.0.0.1:40000');
    assert.equal(r.server, '10.0.0.2:8080');
    assert.equal(r.index, i);
    assert.equal(r.method, req.method);
    assert.equal(r.url, req.url);
    assert.deepEqual(r.headers, req.headers);
    assert.equal(r.bodyRedacted, false);
    const back = toHttpRequest(r);
    assert.deepEqual(back.body, req.bodySize === 0 ? Buffer.alloc(0) : req.body);
    assert.equal(back.url, req.url);
    assert.equal(back.conn.client.port, 40000);
    if (i === 4) {
      assert.equal(r.response, null);
      assert.equal(r.responseMissing, 'gap');
    } else {
      assert.deepEqual(r.response, { status: 200, headers: ['Content-Type', 'text/plain', 'Set-Cookie', 'sid=abcdef123456'], bodySize: 5, sha256: 'ab'.repeat(32), startUs: exs[i].response!.startUs, endUs: exs[i].response!.endUs });
      assert.equal(r.responseMissing, null);
    }
  }
  assert.equal(got[0].body, null, 'no body: null');
  assert.equal(w.stats.requests, 5);
});

test('redacted by default: bearer token, cookie and card number never reach the file; --no-redact keeps them', async (t) => {
  const dir = tmpdir(t);
  const flags = (extra: Record<string, unknown>) => recordConfig({ file: 'in.pcap', output: path.join(dir, 'x'), ...extra });
  const redacting = flags({});
  assert.notEqual(redacting.redact, null, 'redaction is the default');
  assert.equal(flags({ redact: false }).redact, null);

  const red = path.join(dir, 'redacted.jsonl');
  const w = new RecordingWriter({ path: red, redactor: new Redactor(redacting.redact!), maxFileBytes: 1 << 20, maxFiles: 10 });
  w.write(secretExchange());
  w.write(exchange(2, { body: '{"plain":true,  "n": 1}', headers: ['Content-Type', 'application/json'] }));
  w.write(exchange(3, { body: 'user=bob&password=hunter2hunter2', headers: ['Content-Type', 'application/x-www-form-urlencoded'] }));
  w.close();
  const bytes = fs.readFileSync(red);
  const text = bytes.toString('latin1');
  const [r, plain, form] = await readAll(red);
  const bodies = [r, plain, form].map((x) => Buffer.from(x.body as string, 'base64').toString());
  for (const s of [...secrets, 'hunter2hunter2']) {
    assert.ok(!text.includes(s), `${s} in the file`);
    assert.ok(!bodies.join('\n').includes(s), `${s} in a body`);
  }
  assert.equal(JSON.parse(text.split('\n')[0]).redacted, true);
  // Still sendable: the redacted JSON body parses, with the masked fields as strings.
  assert.equal(r.bodyRedacted, true);
  const json = JSON.parse(bodies[0]);
  assert.equal(json.amount, 12);
  assert.deepEqual(json.items, [1, 2]);
  assert.equal(json.card, '[redacted]');
  assert.match(r.headers[3], /redacted/);
  assert.match(r.url, /^\/pay\?access_token=\[redacted\]&x=1$/);
  // Nothing to mask: the body is kept byte for byte (not re-serialised) and not marked.
  assert.equal(plain.bodyRedacted, false);
  assert.equal(bodies[1], '{"plain":true,  "n": 1}');
  assert.equal(form.bodyRedacted, true);
  assert.match(bodies[2], /^user=bob&password=/);
  assert.match(plain.response!.headers[3], /redacted/, 'Set-Cookie of the response masked');

  const raw = path.join(dir, 'raw.jsonl');
  const w2 = new RecordingWriter({ path: raw, redactor: null, maxFileBytes: 1 << 20, maxFiles: 10 });
  w2.write(secretExchange());
  w2.close();
  const rawText = fs.readFileSync(raw, 'utf8');
  const [rr] = await readAll(raw);
  const rawBody = Buffer.from(rr.body as string, 'base64').toString();
  for (const s of ['SECRETBEARER', 'COOKIESECRET42', 'tok-SECRET-in-query']) assert.ok(rawText.includes(s), `${s} kept with --no-redact`);
  assert.ok(rawBody.includes('4111 1111 1111 1111'));
  assert.deepEqual(rr.headers, secretExchange().request.headers);
  assert.equal(JSON.parse(rawText.split('\n')[0]).redacted, false);
});

test('files are created 0600 (whatever the umask), never overwritten, in an existing directory', (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'r.jsonl');
  const old = process.umask(0);
  try {
    const w = new RecordingWriter({ path: file, redactor: null, maxFileBytes: 300, maxFiles: 10 });
    for (let i = 0; i < 5; i++) w.write(exchange(i));
    w.close();
  } finally {
    process.umask(old);
  }
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.equal(fs.statSync(`${file}.1`).mode & 0o777, 0o600, 'rotated parts too');
  assert.throws(() => new RecordingWriter({ path: file, redactor: null, maxFileBytes: 1 << 20, maxFiles: 1 }), /EEXIST/);
  assert.throws(() => new RecordingWriter({ path: path.join(dir, 'nope', 'r'), redactor: null, maxFileBytes: 1 << 20, maxFiles: 1 }), /ENOENT/);
});

test('rotation by size: PATH, PATH.1, …, each under the limit with its own header; only the newest --max-files kept', async (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'rot.jsonl');
  const max = 2000;
  const w = new RecordingWriter({ path: file, redactor: null, maxFileBytes: max, maxFiles: 3 });
  for (let i = 0; i < 60; i++) w.write(exchange(i, { body: `body-${i}-${'x'.repeat(100)}` }));
  w.close();
  const st = w.stats;
  assert.ok(st.parts > 3, `parts ${st.parts}`);
  assert.equal(st.partsDeleted, st.parts - 3);
  const names = fs.readdirSync(dir).sort();
  const expected = [st.parts - 3, st.parts - 2, st.parts - 1].map((n) => (n === 0 ? 'rot.jsonl' : `rot.jsonl.${n}`)).sort();
  assert.deepEqual(names, expected);
  assert.deepEqual(st.files, [st.parts - 3, st.parts - 2, st.parts - 1].map((n) => `${file}.${n}`));
  const ids = new Set<string>();
  for (const n of names) {
    const f = path.join(dir, n);
    assert.ok(fs.statSync(f).size <= max, `${n}: ${fs.statSync(f).size} bytes`);
    const header = JSON.parse(fs.readFileSync(f, 'utf8').split('\n')[0]);
    assert.equal(header.part, Number(n.split('.').pop()));
    ids.add(header.recording);
  }
  assert.equal(ids.size, 1);
  // Reading from the oldest part kept follows the later ones: the newest requests, in order.
  const reader = RecordingReader.open(st.files[0]);
  assert.equal(reader.files.length, 3);
  const got = await readAll(st.files[0]);
  assert.ok(got.length > 0 && got.length < 60);
  assert.deepEqual(got.map((r) => r.index), Array.from({ length: got.length }, (_, k) => 60 - got.length + k));
  assert.equal(await reader.countRequests(), got.length);
  // A stale part of another recording is not followed.
  fs.writeFileSync(`${file}.${st.parts}`, '{"format":"shadowtap-recording","version":1,"createdAt":"x","redacted":true,"recording":"other","part":' + st.parts + '}\n');
  assert.equal(RecordingReader.open(st.files[0]).files.length, 3);
});

test('sniffFile tells a recording from pcap and pcapng by content', (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'a');
  fs.writeFileSync(p, Buffer.from('d4c3b2a1020004000000000000000000', 'hex'));
  assert.equal(sniffFile(p), 'pcap');
  fs.writeFileSync(p, Buffer.from('0a0d0d0a1c000000', 'hex'));
  assert.equal(sniffFile(p), 'pcap');
  fs.writeFileSync(p, 'GET / HTTP/1.1\r\n');
  assert.equal(sniffFile(p), 'unknown');
});

test('a torn last line (full disk, killed writer) is skipped and counted; garbage before the end is still an error', async (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'rec.jsonl');
  const w = new RecordingWriter({ path: file, redactor: null, maxFileBytes: 1 << 20, maxFiles: 2 });
  for (let i = 0; i < 3; i++) w.write(exchange(i));
  w.close();
  const whole = fs.readFileSync(file, 'utf8');
  const lines = whole.trimEnd().split('\n');
  // Cut the last request's line in half, as a killed writer leaves it.
  fs.writeFileSync(file, `${lines.slice(0, -1).join('\n')}\n${lines[lines.length - 1].slice(0, 40)}`);
  const reader = RecordingReader.open(file);
  const got: RecordedRequest[] = [];
  for await (const r of reader.requests()) got.push(r);
  assert.deepEqual(got.map((r) => r.url), ['/items/0?q=0', '/items/1?q=1']);
  assert.equal(reader.tornLines, 1);
  // The same damage before the last line is not a torn tail: the file is refused, naming the line.
  fs.writeFileSync(file, `${lines[0]}\n${lines[1].slice(0, 40)}\n${lines.slice(2).join('\n')}\n`);
  await assert.rejects(readAll(file), /rec\.jsonl:2: not a JSON line/);
});
