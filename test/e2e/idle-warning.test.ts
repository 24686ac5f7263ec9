// A capture that matches nothing says so: the startup line names the filter in force, and a
// warning comes once --warn-idle seconds have passed without a matching packet (a wrong --port).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sendGets } from '../ops/helpers';
import { startProduction } from '../support/servers';
import { captureSkipReason, freePort, startCli } from '../support/tools';

test('--warn-idle: a capture matching nothing is reported once, with its filter', { timeout: 60_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const prod = await startProduction();
  t.after(() => prod.close());
  const wrongPort = await freePort();
  const cli = startCli(['run', '--interface', 'lo', '--port', String(wrongPort), '--shadow', 'http://127.0.0.1:9', '--warn-idle', '1',
    '--stats-interval', '0', '--admin', 'off']);
  const started = await cli.waitForLine(/capture started/, 15_000);
  assert.ok(started, cli.stderr());
  assert.match(JSON.parse(started).filter, new RegExp(`port ${wrongPort}`));
  const warning = await cli.waitForLine(/no packet matched the capture filter on lo for 1 s/, 15_000);
  assert.ok(warning, cli.stdout());
  assert.match(JSON.parse(warning).filter, new RegExp(`port ${wrongPort}`));
  // Traffic elsewhere does not count; the warning is not repeated while nothing changes.
  await sendGets(prod.port, 3);
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(cli.stdout().split('\n').filter((l) => l.includes('no packet matched')).length, 1);
  assert.equal(await cli.stop('SIGTERM'), 0, cli.stderr());
});
