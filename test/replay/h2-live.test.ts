// `shadowtap run` live on lo with an HTTP/2 (h2c) production and an h2c shadow, protocol auto:
// what was captured over HTTP/2 is replayed over HTTP/2, every request once, with the method,
// path, fields and body production received; the ledger adds up.
import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { captureSkipReason, cliPath, startCli, type CliHandle } from '../support/tools';
import { driveH2, startH2Production } from '../h2/support';
import { startH2Shadow, type H2Shadow } from './h2-support';

const COUNT = 300;
const sha256 = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');


test('run, protocol auto: an h2c production mirrored live to an h2c shadow over HTTP/2, every request once and faithfully', { timeout: 180_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why !== null) return t.skip(why);
  assert.ok(fs.existsSync(cliPath()), `shadowtap CLI not built: ${cliPath()}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-h2live-'));
  const summaryPath = path.join(dir, 'summary.json');
  let shadow: H2Shadow | undefined;
  let cli: CliHandle | undefined;
  let stopped = false;
  let closeProduction = (): void => {};
  t.after(async () => {
    if (cli !== undefined && !stopped) await cli.stop('SIGKILL', 5_000).catch(() => undefined);
    closeProduction();
    await shadow?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const { port, atProduction, close } = await startH2Production();
  closeProduction = close;
  shadow = await startH2Shadow();
  cli = startCli(['run', '--allow-writes', '--interface', 'lo', '--port', String(port), '--shadow', shadow.origin, '--summary-json', summaryPath]);
  const started = await Promise.race([cli.waitForLine(/capture started/i, 10_000), cli.exited.then(() => 'exited' as const)]);
  assert.notEqual(started, 'exited', `shadowtap run exited early\n${cli.stderr().slice(-2000)}`);
  await new Promise((r) => setTimeout(r, started === null ? 1000 : 200));

  await driveH2(port, COUNT, { te: 'trailers' });
  assert.equal(atProduction.size, COUNT);

  const deadline = performance.now() + 30_000;
  while (shadow.seen.filter((s) => s.complete).length < COUNT && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300));
  stopped = true;
  assert.equal(await cli.stop('SIGTERM', 30_000), 0, cli.stderr().slice(-2000));

  const seenIds = new Set<string>();
  for (const s of shadow.seen) {
    const id = s.fields[s.fields.indexOf('x-request-id') + 1];
    assert.ok(!seenIds.has(id), `request ${id} reached the shadow twice`);
    seenIds.add(id);
    const p = atProduction.get(id)!;
    assert.deepEqual([s.version, s.method, s.path, s.scheme, s.authority], ['2.0', p.method, p.path, 'http', `127.0.0.1:${shadow.port}`], id);
    assert.equal(sha256(s.body), p.bodySha256, id);
    assert.deepEqual(s.fields, [...p.fields, 'x-shadowtap', '1'], `${id}: the fields production received, te: trailers kept, the marker last`);
  }
  assert.equal(seenIds.size, COUNT);
  const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
  assert.deepEqual([summary.seen, summary.replayed], [COUNT, COUNT], JSON.stringify(summary.notReplayed));
  // Streams share sessions: a second opens only while one carries its 128 streams at once, which
  // depends on how many requests the capture hands on before the first answers (a timing).
  const { sessionsOpened, ...streams } = summary.shadows[0].h2;
  assert.deepEqual(streams, { streams: COUNT, resets: 0, goaways: 0 });
  assert.ok(sessionsOpened >= 1 && sessionsOpened <= Math.ceil(COUNT / 128), `${sessionsOpened} sessions for ${COUNT} streams`);
});
