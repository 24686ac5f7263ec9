// `shadowtap replay` stopped by a signal counts the requests it had read ahead but not sent
// as `shutdown`: seen = replayed + Σ notReplayed still holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startShadow } from '../support/servers';
import { writeRecording } from '../support/recordings';
import { startCli } from '../support/tools';

test('replay: SIGTERM counts the requests read ahead but not yet sent as shutdown', { timeout: 30_000 }, async (t) => {
  const shadow = await startShadow();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-review-replay-'));
  t.after(async () => { await shadow.close(); fs.rmSync(dir, { recursive: true, force: true }); });
  const rec = path.join(dir, 'traffic.rec');
  writeRecording(rec, 20);
  const summaryPath = path.join(dir, 's.json');
  const cli = startCli(['replay', '--file', rec, '--shadow', `http://127.0.0.1:${shadow.port}`, '--summary-json', summaryPath, '--stats-interval', '0']);
  assert.ok(await cli.waitForLine(/replay started/, 10_000), cli.stderr());
  await new Promise((r) => setTimeout(r, 1500)); // two requests are due by now (t = 0 s, 1 s)
  assert.equal(await cli.stop('SIGTERM', 15_000), 0, cli.stderr());
  const s = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
  const notReplayed = Object.values(s.notReplayed as Record<string, number>).reduce((a, b) => a + b, 0);
  assert.equal(s.replayed + notReplayed + s.pending, s.seen);
  assert.equal(s.seen, 20, `all 20 requests were read; only ${s.seen} are accounted for (replayed ${s.replayed}, notReplayed ${JSON.stringify(s.notReplayed)})`);
});
