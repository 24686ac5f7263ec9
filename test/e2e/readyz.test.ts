// /readyz tells the truth about the shadows: each one's state in the body (answers, failures in
// a row, last error), 503 once every shadow is failing; and each failing shadow is logged by
// name, not only the first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { startProduction, startShadow } from '../support/servers';
import { captureSkipReason, freePort, startCli } from '../support/tools';

interface Readyz { code: number; body: { status: string; capture: string; shadows: Array<{ target: string; state: string; answered: number; failed: number; consecutiveFailures: number; lastError: string | null }> } }

function readyz(port: number): Promise<Readyz> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/readyz' }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ code: res.statusCode!, body: JSON.parse(text) }));
    }).on('error', reject);
  });
}

function get(port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => { res.resume(); res.on('end', () => resolve()); }).on('error', reject);
  });
}

test('/readyz: per-shadow state, not ready once every shadow fails; each failing shadow logged by name', { timeout: 90_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const production = await startProduction();
  const shadow = await startShadow();
  const [deadA, deadB, adminPort] = [await freePort(), await freePort(), await freePort()];
  const good = `http://127.0.0.1:${shadow.port}`;
  const refusedA = `http://127.0.0.1:${deadA}`;
  const refusedB = `http://127.0.0.1:${deadB}`;
  const cli = startCli(['run', '--interface', 'lo', '--port', String(production.port), '--shadow', good, '--shadow', refusedA, '--shadow', refusedB,
    '--admin', `127.0.0.1:${adminPort}`, '--stats-interval', '0', '--no-compare']);
  try {
    assert.ok(await cli.waitForLine(/admin server on/, 20_000), cli.stdout() + cli.stderr());
    assert.ok(await cli.waitForLine(/capture started/, 20_000), cli.stdout() + cli.stderr());
    const before = await readyz(adminPort);
    assert.equal(before.code, 200);
    assert.deepEqual(before.body.shadows.map((s) => [s.target, s.state]), [[good, 'unknown'], [refusedA, 'unknown'], [refusedB, 'unknown']]);
    const report = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: adminPort, path: '/report' }, (res) => { res.resume(); resolve(res.statusCode!); }).on('error', reject);
    });
    assert.equal(report, 404, 'no /report without a comparison');

    for (let i = 0; i < 10; i++) await get(production.port, `/ready/${i}`);
    assert.ok(await shadow.waitFor(10, 20_000), `the good shadow got ${shadow.requests.length}`);
    let r = await readyz(adminPort);
    for (let i = 0; i < 100 && !(r.body.shadows[1].failed === 10 && r.body.shadows[2].failed === 10); i++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await readyz(adminPort);
    }
    assert.equal(r.code, 200, JSON.stringify(r.body));
    assert.equal(r.body.status, 'ready');
    const [ok, a, b] = r.body.shadows;
    assert.deepEqual([ok.state, ok.answered, ok.consecutiveFailures, ok.lastError], ['ok', 10, 0, null]);
    for (const s of [a, b]) {
      assert.deepEqual([s.state, s.answered, s.failed, s.consecutiveFailures], ['failing', 0, 10, 10], JSON.stringify(s));
      assert.match(s.lastError ?? '', /ECONNREFUSED/);
    }
    // Both failing shadows are named in the log, not only the first.
    const warned = async (target: string) => (await cli.waitForLine(new RegExp(`"level":40.*"target":"${target}".*"msg":"shadow ${target} failed"`), 20_000)) !== null;
    assert.ok(await warned(refusedA) && await warned(refusedB), cli.stdout());

    // The last working shadow goes away: nothing mirrored reaches a working shadow any more.
    await shadow.close();
    for (let i = 0; i < 10; i++) await get(production.port, `/gone/${i}`);
    let gone = await readyz(adminPort);
    for (let i = 0; i < 100 && gone.code === 200; i++) {
      await new Promise((res) => setTimeout(res, 100));
      gone = await readyz(adminPort);
    }
    assert.equal(gone.code, 503, JSON.stringify(gone.body));
    assert.equal(gone.body.status, 'shadowsFailing');
    assert.equal(gone.body.capture, 'running');
    assert.deepEqual(gone.body.shadows.map((s) => s.state), ['failing', 'failing', 'failing']);
    assert.ok(await warned(good), 'the third shadow is logged by name too');
    assert.equal(await cli.stop('SIGTERM', 30_000), 0, cli.stderr());
  } finally {
    await cli.stop('SIGKILL').catch(() => undefined);
    await production.close();
    await shadow.close().catch(() => undefined);
  }
});
