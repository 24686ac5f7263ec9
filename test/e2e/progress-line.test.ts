// On a terminal, `run` keeps one progress line on stderr (what was seen and what became of it);
// off a terminal it writes none. The terminal is a real pseudo-terminal made by script(1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sendGets } from '../ops/helpers';
import { startProduction, startShadow } from '../support/servers';
import { captureSkipReason, cliPath, haveTool, runTool, startCli, until } from '../support/tools';

test('run on a terminal: a progress line rewritten in place, counting what was seen and replayed', { timeout: 60_000 }, async (t) => {
  const why = captureSkipReason([]) ?? (haveTool('script') ? null : 'script(1) missing (bsdutils)');
  if (why) { t.skip(why); return; }
  const prod = await startProduction();
  const shadow = await startShadow();
  t.after(async () => { await prod.close(); await shadow.close(); });
  const args = ['run', '--interface', 'lo', '--port', String(prod.port), '--shadow', `http://127.0.0.1:${shadow.port}`,
    '--duration', '4', '--stats-interval', '0', '--admin', 'off'];
  const command = [process.execPath, cliPath(), ...args].map((a) => `'${a}'`).join(' ');
  const running = runTool('script', ['-qfec', command, '/dev/null'], { timeoutMs: 45_000 });
  await new Promise((r) => setTimeout(r, 1500));
  await sendGets(prod.port, 25);
  const r = await running;
  assert.equal(r.code, 0, r.stdout.slice(-2000));
  const rewrites = r.stdout.split('\r').filter((l) => /\d+\.\ds {2}\d+ seen: \d+ replayed, \d+ pending, \d+ not/.test(l));
  assert.ok(rewrites.length >= 5, `${rewrites.length} progress lines in:\n${r.stdout.slice(-1500)}`);
  assert.match(rewrites[rewrites.length - 1], /25 seen: 25 replayed, 0 pending, 0 not {2}· {2}\d+ packets/);
  assert.ok(await until(() => shadow.requests.length === 25, 5000));

  // Not a terminal: no progress line at all.
  const plain = startCli(args);
  assert.equal(await plain.exited.then((e) => e.code), 0);
  assert.ok(!plain.stderr().includes(' seen: '), plain.stderr());
});
