// The README's flag tables are made from the option tables: this fails when they disagree
// (flag names, defaults, meaning), or when a command has a flag that no table lists.
// To bring the README in line: node dist/src/config/readme-table.js README.md
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { commandOptions } from '../../src/config/commands';
import { readmeSection, readmeTables, renderTable } from '../../src/config/readme-table';
import { repoRoot } from '../support/tools';

const readme = fs.readFileSync(`${repoRoot()}/README.md`, 'utf8');

test('every flag table in the README is the one the option tables make', () => {
  for (const table of readmeTables) {
    const inReadme = readmeSection(readme, table.name);
    assert.notEqual(inReadme, null, `README.md has no <!-- flags:${table.name} --> section`);
    const expected = renderTable(table).split('\n');
    const actual = inReadme!.split('\n');
    // Line by line, so that the message names the flag that differs.
    for (let i = 0; i < Math.max(expected.length, actual.length); i++) {
      assert.equal(actual[i], expected[i], `README.md, flags:${table.name}, line ${i + 1} (regenerate: node dist/src/config/readme-table.js README.md)`);
    }
  }
});

test('every flag of the documented commands is in a README table', () => {
  const documented = readmeTables.map(renderTable).join('\n');
  for (const name of ['run', 'read', 'record', 'replay', 'report', 'verdict'] as const) {
    for (const row of commandOptions[name]) {
      if (row.cliOnly) continue;
      assert.ok(documented.includes(`\`${row.flag}\``) || documented.includes(`\`${row.long}\``), `${name} ${row.flag} is in no README flag table`);
    }
  }
});

test('a README table shows each row\'s flag, default and meaning', () => {
  const run = renderTable(readmeTables.find((t) => t.name === 'run')!);
  assert.match(run, /^\| `--max-body-mb <n>` \| 16 \| request body kept for replay/m);
  assert.match(run, /^\| `--marker <header>` \/ `--no-marker` \| `x-shadowtap: 1` \|/m);
  assert.match(run, /^\| `--no-compare` \| compare \|/m);
  assert.match(run, /^\| `--rate <n>` \| none \|/m);
  assert.match(run, /^\| `--keep-host` \| off \|/m);
});
