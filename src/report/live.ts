// The admin port's /report: the HTML report of a run still comparing, as `report DIR --html`
// would render it now, rendered at most once every few seconds however often it is asked for.

import type { ResultsJson } from '../compare';
import { analyze, defaultThresholds } from './analysis';
import { renderHtml } from './html';
import { SampleLine, readSamples } from './outdir';

/** The page reloads itself this often; a render is reused for as long. */
export const LIVE_REFRESH_SECONDS = 5;

export function liveReport(results: () => ResultsJson, outDir: string | undefined, now: () => number = Date.now): () => string {
  let rendered: { at: number; html: string } | null = null;
  return () => {
    if (rendered !== null && now() - rendered.at < LIVE_REFRESH_SECONDS * 1000) return rendered.html;
    let samples: SampleLine[] = [];
    try {
      if (outDir !== undefined) samples = readSamples(outDir);
    } catch { /* no samples yet */ }
    rendered = { at: now(), html: renderHtml(analyze(results(), defaultThresholds), samples, LIVE_REFRESH_SECONDS) };
    return rendered.html;
  };
}
