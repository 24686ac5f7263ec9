// While a run compares, the admin port serves the HTML report of the results so far (/report),
// refreshed from the running comparison; checked as Chromium renders it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { startProduction, startShadow } from '../support/servers';
import { HEADLESS, noChromium, runChromium } from '../support/chromium';
import { captureSkipReason, freePort, startCli } from '../support/tools';

function fetch(port: number, p: string): Promise<{ code: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ code: res.statusCode!, type: String(res.headers['content-type']), body }));
    }).on('error', reject);
  });
}

test('/report on the admin port: the comparison so far, as Chromium renders it', { timeout: 180_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const production = await startProduction();
  const shadow = await startShadow();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-live-report-'));
  const adminPort = await freePort();
  const cli = startCli(['run', '--interface', 'lo', '--port', String(production.port), '--shadow', `http://127.0.0.1:${shadow.port}`,
    '--out', path.join(dir, 'out'), '--admin', `127.0.0.1:${adminPort}`, '--stats-interval', '0']);
  t.after(async () => {
    await cli.stop('SIGKILL').catch(() => undefined);
    await production.close();
    await shadow.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  assert.ok(await cli.waitForLine(/admin server on .*\/report/, 20_000), cli.stdout() + cli.stderr());
  assert.ok(await cli.waitForLine(/capture started/, 20_000), cli.stderr());
  const empty = await fetch(adminPort, '/report');
  assert.equal(empty.code, 200);
  assert.match(empty.type, /^text\/html/);

  for (let i = 0; i < 20; i++) {
    await new Promise<void>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: production.port, path: i % 2 === 0 ? `/items/${i}` : '/status', agent: false }, (res) => { res.resume(); res.on('end', () => resolve()); }).on('error', reject);
    });
  }
  assert.ok(await shadow.waitFor(20, 20_000));
  // A render is reused for a few seconds: wait for one that holds both endpoints.
  let page = '';
  for (let i = 0; i < 150 && !(page.includes('/items/') && page.includes('/status')); i++) {
    await new Promise((r) => setTimeout(r, 200));
    page = (await fetch(adminPort, '/report')).body;
  }
  assert.ok(page.includes('/status'), page.slice(0, 2000));
  assert.match(page, /<meta http-equiv="refresh" content="\d+">/);
  assert.match(page, /no, the run is still going/);

  if (noChromium) {
    t.diagnostic(noChromium);
  } else {
    const profile = path.join(dir, 'chromium');
    const dump = await runChromium(profile, [...HEADLESS, '--dump-dom', `http://127.0.0.1:${adminPort}/report`]);
    assert.equal(dump.code, 0, dump.stderr.slice(-2000));
    const table = /<table[^>]*id="endpoints"[^>]*>([\s\S]*?)<\/table>/.exec(dump.stdout);
    assert.ok(table, 'endpoint table in the rendered DOM');
    assert.equal(table[1].match(/<tr/g)?.length, 3, 'a header row and one row per endpoint');
    assert.match(table[1], /GET \/items\/\{[^}]*\}|GET \/items\//);
  }
  assert.equal(await cli.stop('SIGTERM', 30_000), 0, cli.stderr());
});
