// `record` onto a disk that fills up: the recorder says why it stopped, counts what it could
// not write (writeError), still logs its summary, and the file it leaves replays every whole
// line (a torn last line is skipped and counted).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startProduction, startShadow } from '../support/servers';
import { captureSkipReason, runCli, smallDisk, startCli, until } from '../support/tools';
import { sendGets } from '../ops/helpers';

test('record on a full disk: writeError counted, summary logged, the file replays up to its last whole line', { timeout: 120_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const disk = smallDisk(t, '256k');
  if (disk === null) return;
  const prod = await startProduction();
  const shadow = await startShadow();
  t.after(async () => {
    await prod.close();
    await shadow.close();
  });
  const recording = path.join(disk, 'traffic.rec');
  const rec = startCli(['record', '--interface', 'lo', '--port', String(prod.port), '--output', recording, '--stats-interval', '0']);
  assert.ok(await rec.waitForLine(/recording started/, 30_000), rec.stderr());
  // Far more than 256 KB of recording: the disk fills while requests keep coming.
  // Traffic goes on after the recorder stopped; it ends (or is cut) before production closes.
  const traffic = sendGets(prod.port, 4000, 8).catch(() => undefined);
  assert.ok(await rec.waitForLine(/cannot write the recording/, 60_000), rec.stdout().slice(-2000));
  const { code } = await rec.exited;
  await traffic;
  const lines = rec.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; stats?: { seen: number; notRecorded: Record<string, number>; recorded: number } });
  const summary = lines.find((l) => l.msg === 'summary')?.stats;
  assert.ok(summary, 'the summary reaches the log');
  assert.ok((summary.notRecorded.writeError ?? 0) > 0, JSON.stringify(summary.notRecorded));
  assert.equal(code, 1, 'a recorder that cannot record fails (the recording is incomplete)');

  const text = fs.readFileSync(recording, 'utf8');
  const whole = text.split('\n').slice(1, -1).filter((l) => l !== '');
  assert.ok(whole.length > 10, `${whole.length} whole lines`);
  assert.ok(summary.recorded >= whole.length, `recorded ${summary.recorded}, ${whole.length} whole lines on disk`);
  const out = path.join(os.tmpdir(), `shadowtap-recfull-${process.pid}.json`);
  t.after(() => fs.rmSync(out, { force: true }));
  const r = await runCli(['replay', '--file', recording, '--shadow', `http://127.0.0.1:${shadow.port}`, '--speed', '0',
    '--summary-json', out, '--stats-interval', '0']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(fs.readFileSync(out, 'utf8'));
  assert.equal(s.replayed, whole.length, 'every whole line replayed');
  assert.equal(s.recording.tornLines, text.endsWith('\n') ? 0 : 1);
  assert.ok(await until(() => shadow.requests.length === whole.length, 10_000));
});
