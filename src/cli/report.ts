// `shadowtap report DIR` and `shadowtap verdict DIR`: read a run's results and judge them.

import { chmodSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../config';
import { checkWritableFile } from '../report';
import { Analysis, Thresholds, analyze, validateResults } from '../report/analysis';
import { readResults, readSamples } from '../report/outdir';
import { printable, renderTable } from '../report/table';

function load(dir: string, thresholds: Thresholds): Analysis {
  let raw: unknown;
  try {
    raw = readResults(dir);
  } catch (err) {
    throw new ConfigError('<dir>', `cannot read the results in ${dir}: ${(err as Error).message}`);
  }
  try {
    return analyze(validateResults(raw), thresholds);
  } catch (err) {
    throw new ConfigError('<dir>', `${dir}: ${(err as Error).message}`);
  }
}

function writeHtml(path: string, html: string): void {
  try {
    writeFileSync(path, html, { mode: 0o600 });
    chmodSync(path, 0o600); // also when it replaced an older file
  } catch (err) {
    throw new ConfigError('--html', `cannot write ${path}: ${(err as Error).message}`);
  }
}

export async function report(dir: string, thresholds: Thresholds, opts: { html?: string; json: boolean }): Promise<number> {
  if (opts.html !== undefined) {
    try {
      checkWritableFile(opts.html);
    } catch (err) {
      throw new ConfigError('--html', (err as Error).message);
    }
  }
  const analysis = load(dir, thresholds);
  if (opts.html !== undefined) {
    const { renderHtml } = await import('../report/html');
    writeHtml(opts.html, renderHtml(analysis, readSamples(dir)));
  }
  process.stdout.write(opts.json ? `${JSON.stringify(analysis)}\n` : renderTable(analysis));
  return 0;
}

export function verdict(dir: string, thresholds: Thresholds, json: boolean): Promise<number> {
  const a = load(dir, thresholds);
  if (json) process.stdout.write(`${JSON.stringify(a.verdict)}\n`);
  else {
    const lines = [a.verdict.pass ? 'PASS: the shadow is fit to promote' : 'FAIL: the shadow is not fit to promote'];
    for (const r of a.verdict.reasons) lines.push(`  - ${printable(r)}`);
    for (const n of a.verdict.notes) lines.push(`  note: ${printable(n)}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return Promise.resolve(a.verdict.pass ? 0 : 1);
}
