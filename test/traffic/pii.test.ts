// --redact-pii: e-mail addresses, phone numbers and IP addresses become keyed hashes (equal
// values stay equal), in text, JSON bodies, headers and request targets; what only looks like
// them (times, versions, ids, prices) is kept. In a recording nothing of them remains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { recordConfig } from '../../src/config';
import type { Exchange } from '../../src/http';
import { RecordingWriter } from '../../src/recording';
import { Redactor, defaultRedactOptions } from '../../src/traffic/redact';

const HASH = /^\[h:[0-9a-f]{16}\]$/;

test('personal data is hashed with the key (equal values equal, another key another hash); look-alikes are kept', () => {
  const key = Buffer.alloc(16, 1);
  const r = new Redactor({ ...defaultRedactOptions(), pii: true, hashKey: key });
  for (const v of ['ada.lovelace1@example.com', 'Ann.Lee+tag@mail.example.co.uk', '+44 20 7946 0958', '(555) 123-4567', '555-123-4567', '10.0.0.7', '2001:db8::8a2e:370:7334', '::1']) {
    assert.match(r.text(v), HASH, v);
  }
  assert.equal(r.text('mail ada@example.com, again ada@example.com').split('[h:').length, 3);
  const [a, b] = r.text('ada@example.com ada@example.com').split(' ');
  assert.equal(a, b, 'equal values stay equal');
  assert.notEqual(new Redactor({ ...defaultRedactOptions(), pii: true, hashKey: Buffer.alloc(16, 2) }).text('ada@example.com'), a, 'keyed');
  assert.equal(r.url('/u?email=ann%40example.com&x=1').includes('ann'), false, 'percent-encoded in a query');
  for (const keep of ['2026-11-30T07:51:38.123Z', '12:30:45', 'v1.2.3', 'id 1738324800123', 'SKU-1234 qty 3 price 12.50', '192.168.1.300', 'Ada Lovelace']) {
    assert.equal(r.text(keep), keep, keep);
  }
  const body = JSON.parse(r.bodyText(JSON.stringify({ name: 'Ann', email: 'ann@example.com', contact: { phone: '+1 555 123 4567', ip: '10.1.2.3' }, age: 30 })));
  assert.equal(body.name, 'Ann');
  assert.equal(body.age, 30);
  for (const v of [body.email, body.contact.phone, body.contact.ip]) assert.match(v, HASH);
  // Off by default.
  assert.equal(new Redactor().text('ann@example.com from 10.0.0.7'), 'ann@example.com from 10.0.0.7');
});

test('record --redact-pii: no e-mail address, phone number or IP address left in requests, responses or headers', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-pii-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cfg = recordConfig({ file: 'x.pcap', output: path.join(dir, 'rec'), redactPii: true, bodies: true });
  assert.equal(cfg.redact?.pii, true);
  assert.throws(() => recordConfig({ file: 'x.pcap', output: path.join(dir, 'rec'), redactPii: true, redact: false }), /--redact-pii: not with --no-redact/);
  const personal = ['ann@example.com', '+44 20 7946 0958', '203.0.113.9', '198.51.100.23'];
  const conn = { id: 1, client: { address: '198.51.100.23', port: 5555 }, server: { address: '10.9.9.9', port: 80 }, ipVersion: 4, midstream: false, openedUs: 1 };
  const reqBody = Buffer.from(JSON.stringify({ email: 'ann@example.com', phone: '+44 20 7946 0958' }));
  const ex: Exchange = {
    request: {
      versionMajor: 1, versionMinor: 1, headers: ['Host', 'api', 'X-Forwarded-For', '203.0.113.9', 'Content-Type', 'application/json'], trailers: [],
      body: reqBody, bodySize: reqBody.length, bodyTruncated: false, bodySha256: null, chunked: false, startUs: 1, endUs: 2,
      id: 1, conn, index: 0, method: 'POST', url: '/signup?email=ann%40example.com',
    },
    response: {
      versionMajor: 1, versionMinor: 1, headers: ['Content-Type', 'application/json'], trailers: [], body: Buffer.from('{"ok":true,"email":"ann@example.com"}'),
      bodySize: 37, bodyTruncated: false, bodySha256: null, chunked: false, startUs: 3, endUs: 4, statusCode: 200, statusMessage: 'OK',
    },
    responseMissing: null,
  };
  const w = new RecordingWriter({ path: cfg.output, redactor: new Redactor(cfg.redact!), maxFileBytes: 1 << 20, maxFiles: 1, bodies: true });
  w.write(ex);
  w.close();
  const line = zlib.gunzipSync(fs.readFileSync(cfg.output)).toString().split('\n')[1];
  const entry = JSON.parse(line);
  const decoded = [line, Buffer.from(entry.body, 'base64').toString(), Buffer.from(entry.response.body, 'base64').toString()].join('\n');
  for (const p of [...personal, 'ann%40example.com']) assert.ok(!decoded.includes(p), `${p} left in ${decoded}`);
  // The same address in the request and in the response: the same hash.
  const reqEmail = JSON.parse(Buffer.from(entry.body, 'base64').toString()).email;
  assert.equal(JSON.parse(Buffer.from(entry.response.body, 'base64').toString()).email, reqEmail);
});
