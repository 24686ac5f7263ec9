// The man page and the bash completion come from the option tables: every command and flag is
// in both; groff reads the page without a warning; bash completes commands, flags, choices,
// interfaces and files with the real completion function.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { commandOptions } from '../../src/config/commands';
import { bashCompletion, manPage } from '../../src/config/manpage';
import { haveTool, runTool } from '../support/tools';

const commands = Object.keys(commandOptions) as Array<keyof typeof commandOptions>;

test('man page: groff reads it without a warning, and it lists every command and flag', async (t) => {
  if (!haveTool('groff')) { t.skip('groff missing'); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-man-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'shadowtap.1');
  fs.writeFileSync(file, manPage('9.9.9'));
  const strict = await runTool('groff', ['-man', '-Tutf8', '-ww', '-z', file]);
  assert.deepEqual([strict.code, strict.stderr], [0, '']);
  const text = (await runTool('groff', ['-man', '-Tascii', '-P-bcou', file])).stdout.replace(/-\n\s+/g, '-');
  assert.match(text, /shadowtap 9\.9\.9/);
  for (const c of commands) {
    assert.match(text, new RegExp(`shadowtap ${c} \\[options\\]`), c);
    for (const row of commandOptions[c]) assert.ok(text.includes(row.long), `${c} ${row.long}`);
  }
  assert.match(text, /EXIT STATUS[\s\S]*\b3\s+the\s+environment/);
});

async function complete(script: string, words: string[]): Promise<string[]> {
  const line = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _shadowtap; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = await runTool('bash', ['--norc', '--noprofile', '-c', line]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l !== '');
}

test('bash completion: commands, each command\'s flags, choices, interfaces and paths', async (t) => {
  if (!haveTool('bash')) { t.skip('bash missing'); return; }
  const script = bashCompletion();
  assert.deepEqual(await complete(script, ['shadowtap', 're']), ['read', 'record', 'replay', 'report']);
  assert.deepEqual(await complete(script, ['shadowtap', 'run', '--max-r']), ['--max-requests']);
  assert.deepEqual(await complete(script, ['shadowtap', 'replay', '--max-r']), [], 'replay has no --max-requests');
  assert.deepEqual(await complete(script, ['shadowtap', 'run', '--log-level', 'd']), ['debug']);
  assert.deepEqual(await complete(script, ['shadowtap', 'check-config', '--command', 'r']), ['run', 'read', 'record', 'replay']);
  assert.ok((await complete(script, ['shadowtap', 'run', '--interface', ''])).includes('lo'));
  assert.deepEqual(await complete(script, ['shadowtap', 'run', '-p', '']), [], 'a port is typed, not completed');
  const all = await complete(script, ['shadowtap', 'run', '--']);
  for (const row of commandOptions.run) assert.ok(all.includes(row.long), row.long);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-compl-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'capture.pcap'), '');
  assert.deepEqual(await complete(script, ['shadowtap', 'read', '--file', path.join(dir, 'cap')]), [path.join(dir, 'capture.pcap')]);
});
