// `shadowtap report DIR…` and `shadowtap verdict DIR…`: read one run's results, or merge many
// (see report/merge), and judge them.

import { chmodSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../config';
import { checkWritableFile } from '../report';
import { Analysis, Thresholds, analyze } from '../report/analysis';
import { findDuplicates, loadResults, mergeInfo, mergeNotes, mergeResults, mergedSamples } from '../report/merge';
import { SampleLine, readSamples } from '../report/outdir';
import { printable, renderTable } from '../report/table';

/** One directory as it always was; several merged, with each one's accounting and the duplicates. */
function load(dirs: string[], thresholds: Thresholds): Analysis {
  const parts = dirs.map(loadResults);
  if (dirs.length === 1) return judged(dirs[0], () => analyze(parts[0], thresholds));
  const merged = mergeResults(dirs, parts);
  const info = mergeInfo(dirs, parts, findDuplicates(dirs, parts));
  const a = judged(dirs.join(' '), () => analyze(merged, thresholds));
  a.verdict.notes.push(...mergeNotes(info));
  return { ...a, merge: info };
}

function judged(what: string, run: () => Analysis): Analysis {
  try {
    return run();
  } catch (err) {
    throw new ConfigError('<dir>', `${what}: ${(err as Error).message}`);
  }
}

function samplesOf(dirs: string[]): SampleLine[] {
  return dirs.length === 1 ? readSamples(dirs[0]) : mergedSamples(dirs);
}

function writeHtml(path: string, html: string): void {
  try {
    writeFileSync(path, html, { mode: 0o600 });
    chmodSync(path, 0o600); // also when it replaced an older file
  } catch (err) {
    throw new ConfigError('--html', `cannot write ${path}: ${(err as Error).message}`);
  }
}

export async function report(dirs: string[], thresholds: Thresholds, opts: { html?: string; json: boolean }): Promise<number> {
  if (opts.html !== undefined) {
    try {
      checkWritableFile(opts.html);
    } catch (err) {
      throw new ConfigError('--html', (err as Error).message);
    }
  }
  const analysis = load(dirs, thresholds);
  if (opts.html !== undefined) {
    const { renderHtml } = await import('../report/html');
    writeHtml(opts.html, renderHtml(analysis, samplesOf(dirs)));
  }
  process.stdout.write(opts.json ? `${JSON.stringify(analysis)}\n` : renderTable(analysis));
  return 0;
}

export function verdict(dirs: string[], thresholds: Thresholds, json: boolean): Promise<number> {
  const a = load(dirs, thresholds);
  if (json) process.stdout.write(`${JSON.stringify(a.verdict)}\n`);
  else {
    const lines = [a.verdict.pass ? 'PASS: the shadow is fit to promote' : 'FAIL: the shadow is not fit to promote'];
    for (const r of a.verdict.reasons) lines.push(`  - ${printable(r)}`);
    for (const n of a.verdict.notes) lines.push(`  note: ${printable(n)}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return Promise.resolve(a.verdict.pass ? 0 : 1);
}
