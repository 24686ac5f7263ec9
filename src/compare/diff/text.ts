// Text compared by lines (Myers' diff, bounded), each changed hunk one diff.
import { MAX_SHOWN, push, truncateString } from './record';
import { DiffStats, FieldDiff, newDiffStats } from './types';

export interface TextDiffOptions {
  /** Stop recording after this many diffs in `out`. Default: unlimited. */
  maxDiffs?: number;
  /** Edit distance (lines inserted + deleted) beyond which the line diff gives up and reports the rest as one hunk from the first differing line. Default 1000 (also bounded so that (N+M)·D stays near 20M steps). */
  maxEdits?: number;
  /** Path of the diffs. Default 'body'. */
  path?: string;
}

function splitLines(s: string): string[] {
  const lines = s.split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop(); // a final newline ends the last line
  return lines;
}

/**
 * Myers' O((N+M)·D) shortest edit script over interned lines, D bounded by `maxD`.
 * Returns the matched pairs (i, j) in order, or null when the distance exceeds maxD.
 */
function myers(a: Int32Array, b: Int32Array, maxD: number): Array<[number, number]> | null {
  const n = a.length, m = b.length;
  const max = Math.min(n + m, maxD);
  const off = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  let found = -1;
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice(off - d - 1, off + d + 2)); // the diagonals step d reads: -d-1 … d+1 (before the step)
    for (let k = -d; k <= d; k += 2) {
      let x: number;
      if (k === -d || (k !== d && v[off + k - 1]! < v[off + k + 1]!)) x = v[off + k + 1]!;
      else x = v[off + k - 1]! + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) { x++; y++; }
      v[off + k] = x;
      if (x >= n && y >= m) { found = d; break; }
    }
    if (found >= 0) break;
  }
  if (found < 0) return null;
  // Backtrack.
  const pairs: Array<[number, number]> = [];
  let x = n, y = m;
  for (let d = found; d > 0; d--) {
    const vp = trace[d]!; // v before step d; index of diagonal k is k + d + 1
    const k = x - y;
    const at = (kk: number): number => vp[kk + d + 1]!;
    const prevK = (k === -d || (k !== d && at(k - 1) < at(k + 1))) ? k + 1 : k - 1;
    const prevX = at(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) { x--; y--; pairs.push([x, y]); }
    x = prevX; y = prevY;
  }
  while (x > 0 && y > 0) { x--; y--; pairs.push([x, y]); }
  pairs.reverse();
  return pairs;
}

function hunkText(lines: string[], from: number, to: number): string {
  if (from >= to) return '';
  // Join only as much as can be shown.
  let s = '';
  for (let i = from; i < to; i++) {
    s += (i > from ? '\n' : '') + lines[i]!;
    if (s.length > MAX_SHOWN) break;
  }
  return truncateString(s);
}

/**
 * Line diff: each changed hunk (lines deleted and/or inserted together) becomes one 'text'
 * diff at `line N` (N = first line of the hunk in production's text, 1-based; for a pure
 * insertion, the line it goes before) with the hunk's lines as expected/actual. Beyond
 * `maxEdits` the rest is reported as one hunk from the first differing line.
 */
export function diffText(expected: string, actual: string, out: FieldDiff[], opts: TextDiffOptions = {}, stats: DiffStats = newDiffStats()): void {
  if (expected === actual) return;
  const max = opts.maxDiffs ?? Infinity;
  const path = opts.path ?? 'body';
  const el = splitLines(expected), al = splitLines(actual);
  // Common prefix and suffix first: the usual case is a small change in a big document.
  let pre = 0;
  const lim = Math.min(el.length, al.length);
  while (pre < lim && el[pre] === al[pre]) pre++;
  let suf = 0;
  while (suf < lim - pre && el[el.length - 1 - suf] === al[al.length - 1 - suf]) suf++;
  const eEnd = el.length - suf, aEnd = al.length - suf;
  if (pre === eEnd && pre === aEnd) {
    // Same lines: the difference is only in the final newline.
    push(out, max, stats, { path, at: `line ${el.length}`, kind: 'text', expected: JSON.stringify(expected.slice(-1)), actual: JSON.stringify(actual.slice(-1)) });
    return;
  }
  const ids = new Map<string, number>();
  const intern = (s: string): number => {
    let id = ids.get(s);
    if (id === undefined) { id = ids.size; ids.set(s, id); }
    return id;
  };
  const a = new Int32Array(eEnd - pre), b = new Int32Array(aEnd - pre);
  for (let i = pre; i < eEnd; i++) a[i - pre] = intern(el[i]!);
  for (let j = pre; j < aEnd; j++) b[j - pre] = intern(al[j]!);
  // Work is O((N+M)·D): bound D by the edit budget and by ~20M steps.
  const maxD = Math.min(opts.maxEdits ?? 1000, Math.max(16, Math.floor(2e7 / (a.length + b.length + 1))));
  const pairs = myers(a, b, maxD);
  if (pairs === null) {
    stats.textFallbacks++;
    push(out, max, stats, { path, at: `line ${pre + 1}`, kind: 'text', expected: hunkText(el, pre, eEnd), actual: hunkText(al, pre, aEnd) });
    return;
  }
  let i = 0, j = 0;
  const emit = (ti: number, tj: number): void => {
    if (ti > i || tj > j) {
      push(out, max, stats, { path, at: `line ${pre + i + 1}`, kind: 'text', expected: hunkText(el, pre + i, pre + ti), actual: hunkText(al, pre + j, pre + tj) });
    }
  };
  for (const [pi, pj] of pairs) {
    emit(pi, pj);
    i = pi + 1; j = pj + 1;
  }
  emit(a.length, b.length);
}
