// `run --file … --shadow-protocol h2`: HTTP/1.x traffic captured by tcpdump, replayed through the
// whole pipeline to an HTTP/2 shadow. Every request ends in one outcome, and each replayed one
// reaches the shadow over HTTP/2 with its method, target, fields and body.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { startProduction } from '../support/servers';
import { sendVariedMix } from '../support/traffic';
import { captureSkipReason, runCli, startTcpdump } from '../support/tools';
import { sha256 } from '../support/servers';
import { startH2Shadow } from './h2-support';

test('run --file --shadow-protocol h2: a captured HTTP/1.x mix reaches an h2c shadow whole, every request accounted for', { timeout: 180_000 }, async (t) => {
  const why = captureSkipReason(['tcpdump']);
  if (why !== null) return t.skip(why);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-h2-file-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const prod = await startProduction();
  t.after(() => prod.close());
  const pcap = path.join(dir, 'prod.pcap');
  const tcpdump = await startTcpdump({ iface: 'lo', filter: `tcp port ${prod.port}`, file: pcap });
  const sent = await sendVariedMix(prod.port, { count: 300, seed: 7, bigUploads: 1 });
  await new Promise((r) => setTimeout(r, 300)); // the last FINs and ACKs
  assert.equal((await tcpdump.stop()).droppedByKernel, 0);

  const shadow = await startH2Shadow();
  t.after(() => shadow.close());
  const summaryPath = path.join(dir, 'summary.json');
  const run = await runCli(['run', '--allow-writes', '--file', pcap, '--port', String(prod.port), '--shadow', shadow.origin,
    '--shadow-protocol', 'h2', '--concurrency', '8', '--summary-json', summaryPath, '--stats-interval', '0']);
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
  assert.equal(summary.seen, sent.length);

  // Each request the shadow got, by its id: over HTTP/2, as sent by the client.
  const byId = new Map(shadow.seen.map((s) => [s.fields[s.fields.indexOf('x-request-id') + 1], s]));
  assert.equal(byId.size, shadow.seen.length, 'no request twice');
  const missing: string[] = [];
  for (const req of sent) {
    const got = byId.get(req.id);
    if (got === undefined) {
      missing.push(`${req.method} ${req.target}`);
      continue;
    }
    assert.deepEqual([got.method, got.path, got.scheme], [req.method, req.target, 'http'], req.id);
    assert.equal(sha256(got.body), req.bodySha256, `${req.id} body`);
    // Every end-to-end field the client sent arrives (Trailer too: the trailers go along),
    // lower-cased, its value as sent (less blanks).
    // Hop-by-hop ones do not, nor those the Connection field names.
    const hop = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'expect', 'upgrade', 'proxy-connection']);
    for (const [n, v] of req.headers) if (n.toLowerCase() === 'connection') for (const x of v.split(',')) hop.add(x.trim().toLowerCase());
    const expected = req.headers.filter(([n]) => !hop.has(n.toLowerCase())).map(([n, v]) => `${n.toLowerCase()}: ${v.trim()}`).sort();
    const arrived: string[] = [];
    for (let i = 0; i < got.fields.length; i += 2) if (got.fields[i] !== 'x-shadowtap') arrived.push(`${got.fields[i]}: ${got.fields[i + 1]}`);
    assert.deepEqual(arrived.sort(), expected, req.id);
    assert.deepEqual(got.trailers, req.trailers.flatMap(([n, v]) => [n.toLowerCase(), v.trim()]), `${req.id} trailers`);
  }
  assert.deepEqual(missing, []);
  assert.deepEqual([summary.replayed, summary.notReplayed, shadow.seen.length], [sent.length, {}, sent.length]);
  assert.deepEqual(summary.shadows[0].h2, { sessionsOpened: 1, streams: sent.length, resets: 0, goaways: 0 });
});
