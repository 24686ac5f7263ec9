// The README's flag tables, made from the option tables. Each sits between
// <!-- flags:NAME --> and <!-- /flags:NAME -->; `node dist/src/config/readme-table.js [README]`
// rewrites them, and test/config/readme.test.ts fails while README.md differs.

import { readFileSync, writeFileSync } from 'node:fs';
import { liveCaptureOptions, liveSourceOptions, sourceOptions } from '../capture/options';
import { compareOptions } from '../compare/options';
import { httpOptions } from '../http/options';
import { recordingOptions } from '../recording/options';
import { adminOptions, logOptions, logShipOptions, reportOutputOptions, resultIdsOptions, stopOptions, summaryOptions, thresholdOptions } from '../report/options';
import { pacingOptions, replayOptions, workerOptions } from '../replay/options';
import { tcpOptions } from '../tcp/options';
import { redactOptions, trafficOptions } from '../traffic/options';
import { commandOptions } from './commands';
import { OptionRow, rowsOf } from './options';
import { brokerOptions, fleetWorkerOptions, publishOptions, streamOptions } from '../fleet/options';

export interface ReadmeTable {
  name: string;
  rows: OptionRow[];
  /** The command's remaining flags, listed in one last row "as for `run`". */
  asForRun?: keyof typeof commandOptions;
}

export const readmeTables: ReadmeTable[] = [
  { name: 'run', rows: rowsOf(liveSourceOptions, sourceOptions, replayOptions, workerOptions, summaryOptions, logOptions, stopOptions, logShipOptions, adminOptions, liveCaptureOptions, tcpOptions, httpOptions, compareOptions) },
  { name: 'traffic', rows: rowsOf(trafficOptions, redactOptions) },
  { name: 'report', rows: [...rowsOf(thresholdOptions), ...reportOutputOptions] },
  { name: 'record', rows: rowsOf(recordingOptions), asForRun: 'record' },
  { name: 'replay', rows: rowsOf(pacingOptions, resultIdsOptions), asForRun: 'replay' },
  { name: 'fleet', rows: rowsOf(publishOptions, streamOptions, brokerOptions) },
  { name: 'worker', rows: rowsOf(fleetWorkerOptions), asForRun: 'worker' },
];

/** One table line; a `|` inside a cell is escaped. */
const line = (cells: string[]): string => `|${cells.map((c) => (c === '' ? ' ' : ` ${c.replace(/\|/g, '\\|')} `)).join('|')}|`;

/** The default column: the value, or what it means for a switch. */
export function readmeDefault(row: OptionRow): string {
  if (row.readmeDefault !== undefined) return row.readmeDefault;
  if (row.type === 'switch') return row.negated ? row.key : 'off';
  if ((row.type === 'int' || row.type === 'number') && row.default !== undefined) return String(row.default);
  if (row.type === 'string' && row.default !== undefined) return /^\w+$/.test(row.default) ? row.default : `\`${row.default}\``;
  return '';
}

export function renderTable(table: ReadmeTable): string {
  const lines = ['| flag | default | meaning |', '|---|---|---|'];
  const listed = new Set(table.rows.map((r) => r.long));
  for (const row of table.rows) {
    // A --no-x twin shares its positive form's line.
    if (row.negated && table.rows.some((r) => r.key === row.key && !r.negated)) continue;
    const twin = table.rows.find((r) => r.key === row.key && r.negated && !row.negated);
    const flag = `\`${row.flag}\`${twin === undefined ? '' : ` / \`${twin.flag}\``}`;
    lines.push(line([flag, readmeDefault(row), row.readme ?? row.help]));
  }
  if (table.asForRun !== undefined) {
    const rest = commandOptions[table.asForRun].filter((r) => !r.cliOnly && !listed.has(r.long) && !(r.negated && listed.has(`--${r.key}`)));
    const names = [...new Set(rest.map((r) => r.long))];
    lines.push(line([names.map((n) => `\`${n}\``).join(', '), '', 'as for `run`']));
  }
  return lines.join('\n');
}

const section = (name: string): RegExp => new RegExp(`(<!-- flags:${name} -->\\n)[^]*?(\\n<!-- /flags:${name} -->)`);

/** The table between a section's markers, or null when the README has no such section. */
export function readmeSection(readme: string, name: string): string | null {
  const m = section(name).exec(readme);
  return m === null ? null : m[0].slice(m[1].length, m[0].length - m[2].length);
}

export function withTables(readme: string): string {
  let out = readme;
  for (const t of readmeTables) {
    if (!section(t.name).test(out)) throw new Error(`README has no <!-- flags:${t.name} --> section`);
    out = out.replace(section(t.name), (_, open: string, close: string) => `${open}${renderTable(t)}${close}`);
  }
  return out;
}

if (require.main === module) {
  const file = process.argv[2] ?? 'README.md';
  writeFileSync(file, withTables(readFileSync(file, 'utf8')));
}
