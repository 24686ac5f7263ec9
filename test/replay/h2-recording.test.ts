// A recording keeps whether a request came over HTTP/2 ("h2": true), and `shadowtap replay`
// sends it over HTTP/2 again: against one TLS shadow that speaks both, the HTTP/2 exchange
// arrives over HTTP/2 and the HTTP/1.1 one over HTTP/1.1.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Exchange } from '../../src/http';
import { RecordedRequest, RecordingReader, RecordingWriter, toHttpRequest } from '../../src/recording';
import { fakeConnection, fakeRequest } from '../support/requests';
import { runCli } from '../support/tools';
import { h2Request, selfSigned, startH2Shadow } from './h2-support';

test('recording: "h2": true on requests captured over HTTP/2 only; replay sends them over HTTP/2, the others over HTTP/1.1', { timeout: 120_000 }, async (t) => {
  const tls = selfSigned();
  if (tls === null) return t.skip('openssl is not installed');
  t.after(tls.cleanup);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-h2-rec-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'rec.jsonl');
  const w = new RecordingWriter({ path: file, redactor: null, maxFileBytes: 1 << 20, maxFiles: 2 });
  const h2 = { ...h2Request('/over-h2', { method: 'POST', body: Buffer.from('{"a":1}'), fields: ['content-type', 'application/json'] }), conn: fakeConnection(1), startUs: 1_700_000_000_000_000 };
  const h1 = { ...fakeRequest('/over-h1', { headers: ['Host', 'prod', 'Accept', '*/*'], conn: fakeConnection(2) }), startUs: 1_700_000_000_001_000 };
  for (const request of [h2, h1]) assert.equal(w.write({ request, response: null, responseMissing: 'closed' } as Exchange), true);
  w.close();

  const read: RecordedRequest[] = [];
  for await (const r of RecordingReader.open(file).requests()) read.push(r);
  assert.deepEqual(read.map((r) => r.h2), [true, undefined]);
  assert.deepEqual(read.map((r) => toHttpRequest(r).versionMajor), [2, 1]);
  const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(1);
  assert.deepEqual(lines.map((l) => l.includes('"h2"')), [true, false], 'the field is absent for HTTP/1.x');

  const shadow = await startH2Shadow({ tls, allowHTTP1: true });
  t.after(() => shadow.close());
  const ca = path.join(dir, 'ca.pem');
  fs.writeFileSync(ca, tls.ca);
  const summaryPath = path.join(dir, 'summary.json');
  const r = await runCli(['replay', file, '--allow-writes', '--shadow', shadow.origin, '--shadow-ca', ca, '--speed', '0',
    '--stats-interval', '0', '--summary-json', summaryPath]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(shadow.seen.map((s) => [s.path, s.method, s.version, s.body.toString()]).sort(),
    [['/over-h1', 'GET', '1.1', ''], ['/over-h2', 'POST', '2.0', '{"a":1}']]);
  const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
  assert.deepEqual([summary.seen, summary.replayed, summary.shadows[0].h2.streams], [2, 2, 1]);
});
