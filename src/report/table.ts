// The comparison as a terminal table: one row per endpoint, flagged fields and the verdict below.

import type { Analysis, EndpointAnalysis } from './analysis';
import type { MergeInfo } from './merge';

/** Control characters (C0, DEL, C1) from captured data shown as \xNN: a terminal must not
 * obey them. */
export function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const ms = (us: number): string => (us >= 100_000 ? (us / 1000).toFixed(0) : (us / 1000).toFixed(1));

function table(header: string[], rows: string[][], rightAligned: Set<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** A quantile, or – when the side has no timed exchange (see the verdict's notes for why). */
const timed = (side: { count: number }, us: number): string => (side.count > 0 ? ms(us) : '–');

function endpointRow(e: EndpointAnalysis): string[] {
  const flagged = e.fields.filter((f) => f.flagged).length;
  const status = !e.judged ? 'few' : e.problems.length > 0 ? 'FAIL' : 'ok';
  const sides = e.baseline !== null ? [e.production, e.baseline, e.shadow] : [e.production, e.shadow];
  return [
    printable(e.key), String(e.traffic), String(e.compared), pct(e.mismatchRate), pct(e.rawMismatchRate), String(e.noise.comparisons),
    String(flagged), `${pct(e.production.errorRate)}/${pct(e.shadow.errorRate)}`,
    sides.map((x) => timed(x, x.p50)).join('/'), sides.map((x) => timed(x, x.p99)).join('/'), status,
  ];
}

/** A ledger in one line: seen, replayed, each reason not replayed, pending. */
export function ledgerText(accounting: Record<string, unknown>): string {
  const acc = accounting as { seen?: number; replayed?: number; notReplayed?: Record<string, number>; pending?: number };
  if (acc.seen === undefined) return 'no accounting';
  const reasons = Object.entries(acc.notReplayed ?? {}).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
  return `seen ${acc.seen}, replayed ${acc.replayed ?? 0}, not replayed ${reasons.length > 0 ? reasons.join(', ') : 'none'}` +
    `${(acc.pending ?? 0) > 0 ? `, pending ${acc.pending}` : ''}`;
}

function mergeLines(m: MergeInfo, total: Record<string, unknown>): string[] {
  const rows = m.directories.map((d) => [printable(d.dir), ledgerText(d.accounting), d.ids === null ? '–' : String(d.ids),
    d.complete ? 'complete' : 'in progress']);
  rows.push(['total', ledgerText(total), m.duplicates === null ? '–' : String(m.duplicates.ids), '']);
  const out = ['', `merged from ${m.directories.length} result directories:`, '', table(['directory', 'requests', 'ids', ''], rows, new Set([2]))];
  const d = m.duplicates;
  if (d !== null && d.countedTwice > 0) {
    out.push('', `duplicates: ${d.exchanges} exchange(s) counted in more than one directory (${d.countedTwice} count(s) too many in the totals):`);
    for (const x of d.first) out.push(`  ${printable(x.id)}: ${x.dirs.map(printable).join(', ')}`);
    if (d.exchanges > d.first.length) out.push(`  … and ${d.exchanges - d.first.length} more`);
  } else if (d !== null) {
    out.push('', `duplicates: none among ${d.ids} ids in ${d.checkedDirectories} directories`);
  }
  return out;
}

export function renderTable(a: Analysis, maxFieldsShown = 10): string {
  const out: string[] = [];
  const acc = a.accounting as { seen?: number; replayed?: number };
  out.push(`shadowtap comparison — ${a.complete ? 'complete' : 'in progress'}, ${a.startedAt} … ${a.updatedAt}`);
  if (acc.seen !== undefined) out.push(`requests seen ${acc.seen}, replayed ${acc.replayed}; exchanges compared per target below`);
  if (a.merge !== undefined) out.push(...mergeLines(a.merge, a.accounting));
  if (a.baseline !== null) out.push(`baseline (noise and latency reference): ${a.baseline}`);
  const sidesLabel = a.baseline !== null ? 'p/b/s' : 'p/s';
  for (const t of a.targets) {
    out.push('', `shadow ${t.target}: ${t.compared} compared, ${t.mismatched} with any difference, ${t.flaggedFields} flagged field(s)`, '');
    out.push(table(
      ['endpoint', 'traffic', 'compared', 'mismatch', 'raw diff', 'noise n', 'flagged', 'errors p/s',
        `p50 ms ${sidesLabel}`, `p99 ms ${sidesLabel}`, ''],
      t.endpoints.map(endpointRow),
      new Set([1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ));
    const fieldRows: string[][] = [];
    for (const e of t.endpoints) {
      for (const f of e.fields.filter((x) => x.flagged).slice(0, maxFieldsShown)) {
        fieldRows.push([printable(e.key), printable(f.path), f.basis === 'presence' ? 'presence' : Object.keys(f.kinds).join(','), `${f.diffs}/${e.compared}`, pct(f.rate),
          `${pct(f.noiseRate)}${f.noisePooled ? '*' : ''}`]);
      }
    }
    if (fieldRows.length > 0) {
      out.push('', 'flagged fields (difference rate clearly above noise; * = noise pooled over endpoints):', '');
      out.push(table(['endpoint', 'field', 'kind', 'diffs', 'rate', 'noise'], fieldRows, new Set([3, 4, 5])));
    }
  }
  const onWire = a.targets.some((t) => t.endpoints.some((e) => e.shadow.timedOn === 'capture'));
  const timing = onWire ? 'timed from the capture too, --wire-timing' : 'timed by shadowtap as their client';
  out.push('', `columns: p = production (timed from the capture)${a.baseline !== null ? ', b = baseline' : ''}, s = shadow (${timing})`);
  out.push('', `verdict: ${a.verdict.pass ? 'PASS — fit to promote' : 'FAIL — not fit to promote'}`);
  for (const r of a.verdict.reasons) out.push(`  - ${printable(r)}`);
  for (const n of a.verdict.notes) out.push(`  note: ${printable(n)}`);
  return `${out.join('\n')}\n`;
}
