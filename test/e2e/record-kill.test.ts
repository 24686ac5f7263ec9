// A recorder killed mid-run (SIGKILL: no chance to flush or close) leaves a file that replays:
// every whole line is replayed, and a torn last line, if the kill left one, is counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startProduction, startShadow } from '../support/servers';
import { captureSkipReason, runCli, startCli, until } from '../support/tools';
import { sendGets } from '../ops/helpers';

test('SIGKILL during record: replay sends every whole line of what was written', { timeout: 120_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-reckill-'));
  const prod = await startProduction();
  const shadow = await startShadow();
  t.after(async () => {
    await prod.close();
    await shadow.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const recording = path.join(dir, 'traffic.rec');
  const rec = startCli(['record', '--interface', 'lo', '--port', String(prod.port), '--output', recording, '--stats-interval', '1']);
  assert.ok(await rec.waitForLine(/recording started/, 30_000), rec.stderr());
  // Requests keep coming while the recorder is killed.
  const traffic = sendGets(prod.port, 3000, 8);
  const wrote = (): number => (fs.existsSync(recording) ? fs.statSync(recording).size : 0);
  assert.ok(await until(() => wrote() > 20_000, 30_000), `the recording did not grow: ${wrote()} bytes`);
  await rec.stop('SIGKILL');
  await traffic;

  const text = fs.readFileSync(recording, 'utf8');
  const whole = text.split('\n').slice(1, -1).filter((l) => l !== ''); // after the header; the last piece is '' or torn
  const torn = text.endsWith('\n') ? 0 : 1;
  assert.ok(whole.length > 10, `${whole.length} whole lines`);
  const summaryPath = path.join(dir, 'replay.json');
  const r = await runCli(['replay', '--file', recording, '--shadow', `http://127.0.0.1:${shadow.port}`, '--speed', '0',
    '--summary-json', summaryPath, '--stats-interval', '0']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
  assert.equal(s.replayed, whole.length, 'every whole line replayed');
  assert.equal(s.recording.tornLines, torn);
  assert.equal(shadow.requests.length, whole.length);
});
