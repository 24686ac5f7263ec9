import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../support/tools';

test('devices lists lo with its loopback addresses, as text and as JSON', async () => {
  const json = await runCli(['devices', '--json']);
  assert.equal(json.code, 0, json.stderr);
  const list = JSON.parse(json.stdout) as Array<{ name: string; loopback: boolean; addresses: Array<{ address: string }> }>;
  const lo = list.find((d) => d.name === 'lo');
  assert.ok(lo, `no lo in ${json.stdout}`);
  assert.equal(lo.loopback, true);
  assert.ok(lo.addresses.some((a) => a.address === '127.0.0.1'));
  assert.ok(list.some((d) => d.name === 'any'), 'the any pseudo-device');

  const text = await runCli(['devices']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^lo\s+127\.0\.0\.1.*\(loopback\)$/m);
});
