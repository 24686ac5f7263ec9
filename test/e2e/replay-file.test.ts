// `run --file`: a capture file feeds the same pipeline; unlike a live capture it waits for the
// shadow instead of dropping, so a tiny queue must still deliver every request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { headerValue, startProduction, startShadow, type RecordingServer } from '../support/servers';
import { sendVariedMix } from '../support/traffic';
import { captureSkipReason, runCli, startTcpdump } from '../support/tools';

test('run --file replays a capture to the shadow, waiting for it rather than dropping', { timeout: 120_000 }, async (t) => {
  const why = captureSkipReason(['tcpdump']);
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-file-'));
  const servers: RecordingServer[] = [];
  t.after(async () => {
    for (const s of servers) await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const prod = await startProduction();
  servers.push(prod);
  const pcap = path.join(dir, 'prod.pcap');
  const tcpdump = await startTcpdump({ iface: 'lo', filter: `tcp port ${prod.port}`, file: pcap });
  const sent = await sendVariedMix(prod.port, { count: 600, seed: 99 });
  await new Promise((r) => setTimeout(r, 300)); // the last FINs and ACKs
  assert.equal((await tcpdump.stop()).droppedByKernel, 0);

  const shadow = await startShadow();
  servers.push(shadow);
  const summaryPath = path.join(dir, 'summary.json');
  const run = await runCli(['run', '--allow-writes', '--file', pcap, '--port', String(prod.port), '--shadow', `http://127.0.0.1:${shadow.port}`,
    '--concurrency', '2', '--queue-size', '4', '--summary-json', summaryPath, '--stats-interval', '0']);
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
  assert.deepEqual({ seen: summary.seen, replayed: summary.replayed, notReplayed: summary.notReplayed },
    { seen: sent.length, replayed: sent.length, notReplayed: {} });
  const got = new Set(shadow.requests.map((r) => headerValue(r.headers, 'x-request-id')));
  assert.equal(shadow.requests.length, sent.length);
  assert.deepEqual(sent.filter((s) => !got.has(s.id)).map((s) => `${s.method} ${s.target}`), []);
});
