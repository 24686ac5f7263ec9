// The command line's own answers: --version from package.json, a mistyped option or command as
// one short error with a hint (not the whole help), exit 2 for usage, 0 for --help.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot, runCli } from '../support/tools';

test('--version, --help, and short usage errors with exit 2', async () => {
  const version = (JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  const v = await runCli(['--version']);
  assert.deepEqual([v.code, v.stdout.trim()], [0, version]);

  const typo = await runCli(['run', '--interfac', 'lo']);
  assert.equal(typo.code, 2);
  assert.equal(typo.stderr.trim(), "error: unknown option '--interfac'\n(Did you mean --interface?)\n(add --help for the options)");

  const unknown = await runCli(['mirror']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^error: unknown command 'mirror'/);
  assert.ok(unknown.stderr.split('\n').length <= 4, unknown.stderr);

  const missing = await runCli(['report']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /missing required argument 'dir'/);

  const help = await runCli(['run', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: shadowtap run \[options\]/);
});
