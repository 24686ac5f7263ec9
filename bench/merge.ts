// `report DIR…` costs: merging D directories' results of E endpoints each (real compare-stage
// results; the merge, then the analysis), and the duplicate check over D lists of N exchange
// ids written by OutputDir.compared (K of each list redelivered from the previous one).
// Usage: node dist/bench/merge.js [dirs] [endpoints] [ids per dir] [redelivered]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CompareStage, defaultCompareOptions } from '../src/compare';
import type { ResultsJson } from '../src/compare';
import { analyze } from '../src/report/analysis';
import { findDuplicates, mergeResults } from '../src/report/merge';
import { OutputDir } from '../src/report/outdir';
import { Redactor, defaultRedactOptions } from '../src/traffic/redact';
import { fakeAnswer, fakeRequest, fakeResponse } from '../test/support/requests';

const [D, E, N, K] = [2, 3, 4, 5].map((i, j) => Number(process.argv[i] ?? [10, 1000, 1_000_000, 500][j]));
const PER_ENDPOINT = 5;

function directoryResults(d: number): ResultsJson {
  const stage = new CompareStage(['http://shadow:1'], null, { ...defaultCompareOptions(), latencyWarmup: 0, maxEndpoints: E + 10 });
  for (let e = 0; e < E; e++) {
    for (let i = 0; i < PER_ENDPOINT; i++) {
      const req = fakeRequest(`/e${e}x/y`, { startUs: 0 });
      stage.exchange({ request: req, response: fakeResponse('{"a":1}', { endUs: 100 + ((i * 7919 + d * 31 + e) % 90_000) }), responseMissing: null });
      stage.replayed(req, [fakeAnswer('http://shadow:1', i % 5 ? '{"a":1}' : '{"a":2}', { latencyUs: 100 + ((i * 104_729 + e) % 90_000) })]);
    }
  }
  stage.flush();
  return JSON.parse(JSON.stringify(stage.results({ seen: E * PER_ENDPOINT }, true))) as ResultsJson;
}

const ms = (from: bigint): number => Math.round(Number(process.hrtime.bigint() - from) / 1e6);

const parts = Array.from({ length: D }, (_, d) => directoryResults(d));
let t = process.hrtime.bigint();
const merged = mergeResults(parts.map((_, i) => `d${i}`), parts);
const mergeMs = ms(t);
t = process.hrtime.bigint();
analyze(merged);
console.log(JSON.stringify({ dirs: D, endpoints: merged.endpoints.length, mergeMs, analyzeMs: ms(t) }));

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-bench-merge-'));
try {
  const dirs = Array.from({ length: 3 }, (_, d) => {
    const dir = path.join(base, `w${d}`);
    const out = new OutputDir(dir, new Redactor(defaultRedactOptions()), undefined, { recordIds: true });
    for (let i = 0; i < N; i++) out.compared(`0123456789abcdef/${d * N + i - (d > 0 && i < K ? K : 0)}/0`);
    out.close();
    return dir;
  });
  const rss = process.memoryUsage().rss;
  t = process.hrtime.bigint();
  const dup = findDuplicates(dirs, dirs.map(() => ({}) as ResultsJson))!;
  console.log(JSON.stringify({ idLists: dirs.length, ids: dup.ids, duplicates: dup.exchanges, expected: 2 * K, checkMs: ms(t),
    rssGrowthMB: Math.round((process.memoryUsage().rss - rss) / 1048576) }));
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
