// Recording a diff: values shortened for a report, and the cap on how many are kept.
import type { DiffKind, DiffStats, FieldDiff } from './types';

const MAX_OVERFLOW_PATHS = 64;

/** Counts a diff past `maxDiffs`, keeping its path (up to 64) so that it still counts for its field. */
export function overflowed(stats: DiffStats, path: string, kind: DiffKind): void {
  stats.truncated++;
  if (stats.overflowPaths.size < MAX_OVERFLOW_PATHS && !stats.overflowPaths.has(path)) stats.overflowPaths.set(path, kind);
}

export const MAX_SHOWN = 200;

/** Strings longer than 200 chars cut (never inside a surrogate pair), with the length left off. */
export function truncateString(s: string): string {
  if (s.length <= MAX_SHOWN) return s;
  let n = MAX_SHOWN;
  const c = s.charCodeAt(n - 1);
  if (c >= 0xd800 && c <= 0xdbff) n--;
  return `${s.slice(0, n)}…(+${s.length - n} chars)`;
}

/** A value fit for a report: primitives as they are (strings truncated), containers as themselves when small, else as truncated JSON text. */
export function shown(v: unknown): unknown {
  if (typeof v === 'string') return truncateString(v);
  if (v === null || typeof v !== 'object') return v;
  let s: string;
  try {
    s = JSON.stringify(v);
  } catch {
    return Array.isArray(v) ? '[…]' : '{…}';
  }
  return s.length <= MAX_SHOWN ? v : truncateString(s);
}

/** Records `d`, or past `max` only counts it. */
export function push(out: FieldDiff[], max: number, stats: DiffStats, d: FieldDiff): void {
  if (out.length >= max) overflowed(stats, d.path, d.kind);
  else out.push(d);
}

