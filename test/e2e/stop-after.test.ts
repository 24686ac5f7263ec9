// --duration and --max-requests end a run as a first SIGTERM does: the capture closes, the queue
// drains, the summary is written and the exit status is 0 — no signal sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { startProduction, startShadow } from '../support/servers';
import { writeRecording } from '../support/recordings';
import { captureSkipReason, startCli } from '../support/tools';

interface Summary { seen: number; replayed: number; pending: number; notReplayed: Record<string, number> }

function get(port: number, p: string): Promise<void> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => { res.resume(); res.on('end', () => resolve()); }).on('error', reject);
  });
}

const accounted = (s: Summary): number => s.replayed + s.pending + Object.values(s.notReplayed).reduce((a, b) => a + b, 0);

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-stop-after-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('run --duration 2: stops by itself after 2 s like SIGTERM (summary, exit 0)', { timeout: 60_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const production = await startProduction();
  const shadow = await startShadow();
  const summaryPath = path.join(tmp(t), 's.json');
  t.after(async () => { await production.close(); await shadow.close(); });
  const started = Date.now();
  const cli = startCli(['run', '--interface', 'lo', '--port', String(production.port), '--shadow', `http://127.0.0.1:${shadow.port}`,
    '--duration', '2', '--summary-json', summaryPath, '--stats-interval', '0', '--admin', 'off']);
  try {
    assert.ok(await cli.waitForLine(/capture started/, 20_000), cli.stderr());
    await get(production.port, '/during');
    const end = await Promise.race([cli.exited, new Promise<null>((r) => setTimeout(() => r(null), 40_000).unref())]);
    assert.ok(end !== null, 'still running 40 s after --duration 2');
    assert.equal(end.code, 0, cli.stderr());
    assert.ok(Date.now() - started >= 2000, 'not before its duration');
    assert.match(cli.stdout(), /"why":"duration","msg":"stopping: closing capture"/);
    const s = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as Summary;
    assert.deepEqual([s.seen, s.replayed, accounted(s)], [1, 1, 1]);
  } finally {
    await cli.stop('SIGKILL').catch(() => undefined);
  }
});

test('run --max-requests 20: stops once 20 requests were captured, every one accounted for', { timeout: 90_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const production = await startProduction();
  const shadow = await startShadow();
  const summaryPath = path.join(tmp(t), 's.json');
  t.after(async () => { await production.close(); await shadow.close(); });
  const cli = startCli(['run', '--interface', 'lo', '--port', String(production.port), '--shadow', `http://127.0.0.1:${shadow.port}`,
    '--max-requests', '20', '--summary-json', summaryPath, '--stats-interval', '0', '--admin', 'off']);
  try {
    assert.ok(await cli.waitForLine(/capture started/, 20_000), cli.stderr());
    let exited = false;
    void cli.exited.then(() => { exited = true; });
    let sent = 0;
    while (!exited && sent < 500) {
      await get(production.port, `/n/${sent++}`);
      if (sent >= 20) await new Promise((r) => setTimeout(r, 20));
    }
    const end = await cli.exited;
    assert.equal(end.code, 0, cli.stderr());
    assert.match(cli.stdout(), /"why":"maxRequests","msg":"stopping: closing capture"/);
    const s = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as Summary;
    assert.ok(sent < 500, 'it stopped by itself');
    assert.ok(s.seen >= 20 && s.seen <= sent, `seen ${s.seen} of ${sent} sent`);
    assert.equal(accounted(s), s.seen);
    assert.equal(s.replayed, s.seen, JSON.stringify(s.notReplayed));
    assert.equal(shadow.requests.length, s.replayed);
  } finally {
    await cli.stop('SIGKILL').catch(() => undefined);
  }
});

test('replay --duration 1.5: a 20 s recording stops after 1.5 s, the rest counted as shutdown', { timeout: 60_000 }, async (t) => {
  const shadow = await startShadow();
  t.after(() => shadow.close());
  const dir = tmp(t);
  const rec = path.join(dir, 'traffic.rec');
  writeRecording(rec, 20);
  const summaryPath = path.join(dir, 's.json');
  const cli = startCli(['replay', '--file', rec, '--shadow', `http://127.0.0.1:${shadow.port}`, '--duration', '1.5', '--summary-json', summaryPath, '--stats-interval', '0']);
  const end = await Promise.race([cli.exited, new Promise<null>((r) => setTimeout(() => r(null), 40_000).unref())]);
  await cli.stop('SIGKILL').catch(() => undefined);
  assert.ok(end !== null, 'a 20 s recording still replaying 40 s later: --duration 1.5 was not applied');
  assert.equal(end.code, 0, cli.stderr());
  assert.match(cli.stdout(), /"why":"duration"/);
  const s = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as Summary;
  assert.equal(s.seen, accounted(s));
  assert.ok(s.replayed >= 1 && s.replayed < 20 && (s.notReplayed.shutdown ?? 0) >= 1, JSON.stringify(s));
});
