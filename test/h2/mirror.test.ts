// `shadowtap run` live on lo with an HTTP/2 (h2c) production: every request a node:http2
// client sends is replayed once to an HTTP/1.1 shadow (--shadow-protocol http1: by default
// what came over HTTP/2 goes over HTTP/2) with the method, target, fields and body production
// received, and the ledger adds up (seen = replayed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { headerValue, startShadow, type RecordingServer } from '../support/servers';
import { captureSkipReason, cliPath, startCli, type CliHandle } from '../support/tools';
import { driveH2, startH2Production } from './support';

const COUNT = 300;
/** Fields a mirror writes itself: not compared. */
const REWRITTEN = new Set(['host', 'x-shadowtap', 'content-length', 'connection']);

/** A flat field list as [name, value] pairs. */
const pairs = (flat: string[]): Array<[string, string]> => flat.flatMap((x, i) => (i % 2 === 0 ? [[x, flat[i + 1]] as [string, string]] : []));

test('run: an h2c production mirrored live to an HTTP/1.1 shadow, every request once and faithfully', { timeout: 180_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  assert.ok(fs.existsSync(cliPath()), `shadowtap CLI not built: ${cliPath()}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-h2mirror-'));
  const summaryPath = path.join(dir, 'summary.json');
  let shadow: RecordingServer | undefined;
  let cli: CliHandle | undefined;
  let stopped = false;
  let closeProduction = (): void => {};
  t.after(async () => {
    if (cli && !stopped) await cli.stop('SIGKILL', 5_000).catch(() => undefined);
    closeProduction();
    await shadow?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const { port, atProduction, close } = await startH2Production();
  closeProduction = close;
  shadow = await startShadow();
  const shadowHost = `127.0.0.1:${shadow.port}`;
  cli = startCli(['run', '--allow-writes', '--interface', 'lo', '--port', String(port), '--shadow', `http://${shadowHost}`,
    '--shadow-protocol', 'http1', '--summary-json', summaryPath]);
  const started = await Promise.race([cli.waitForLine(/capture started/i, 10_000), cli.exited.then(() => 'exited' as const)]);
  assert.notEqual(started, 'exited', `shadowtap run exited early\n${cli.stderr().slice(-2000)}`);
  await new Promise((r) => setTimeout(r, started === null ? 1000 : 200));

  await driveH2(port, COUNT);
  assert.equal(atProduction.size, COUNT);

  assert.ok(await shadow.waitFor(COUNT, 30_000), `only ${shadow.requests.length}/${COUNT} reached the shadow`);
  await new Promise((r) => setTimeout(r, 300));
  stopped = true;
  assert.equal(await cli.stop('SIGTERM', 30_000), 0, cli.stderr().slice(-2000));

  const seenIds = new Set<string>();
  for (const r of shadow.requests) {
    const id = headerValue(r.headers, 'x-request-id')!;
    assert.ok(!seenIds.has(id), `request ${id} reached the shadow twice`);
    seenIds.add(id);
    const p = atProduction.get(id)!;
    assert.equal(r.method, p.method, id);
    assert.equal(r.url, p.path, id);
    assert.equal(r.bodySha256, p.bodySha256, id);
    assert.equal(headerValue(r.headers, 'host'), shadowHost);
    const fields = r.headers.filter(([n]) => !REWRITTEN.has(n.toLowerCase()));
    assert.deepEqual(fields, pairs(p.fields), `${id}: the fields production received (cookies joined as HTTP/1 carries them)`);
  }
  assert.equal(seenIds.size, COUNT);
  const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
  assert.equal(summary.seen, COUNT);
  assert.equal(summary.replayed, COUNT, JSON.stringify(summary.notReplayed));
  assert.equal(summary.http.h2.connections, 2);
});
