// Comparison helpers shared by the end-to-end tests: per-connection sequences whose
// connection numbering differs between sources (client plan, tshark streams, shadowtap
// conn ids), the `read` output format, and the mirror's header-equivalence rule.
import type { Header } from './traffic';

/** One line of `shadowtap read` output. */
export interface Exchange {
  conn: number;
  method: string;
  url: string;
  host: string | null;
  status: number | null;
  reqBodySize: number;
  reqBodySha256: string;
  resBodySize: number;
  resBodySha256: string | null;
  reqStartUs: number | null;
  reqEndUs: number | null;
  resStartUs: number | null;
  resEndUs: number | null;
}

/** Parse `read` stdout: every line that is a JSON object with `conn` and `method` (log lines are skipped). */
export function parseExchanges(stdout: string): Exchange[] {
  const out: Exchange[] = [];
  for (const line of stdout.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    let o: unknown;
    try { o = JSON.parse(t); } catch { continue; }
    if (o && typeof o === 'object' && 'conn' in o && 'method' in o && !('level' in o)) out.push(o as Exchange);
  }
  return out;
}

/** Group items into per-connection sequences of keys, keeping the order within each connection. */
export function connSequences<T>(items: T[], connOf: (x: T) => number | string, keyOf: (x: T) => string): string[][] {
  const m = new Map<number | string, string[]>();
  for (const x of items) {
    const c = connOf(x);
    const l = m.get(c);
    if (l) l.push(keyOf(x)); else m.set(c, [keyOf(x)]);
  }
  return [...m.values()];
}

/**
 * Compare two multisets of per-connection sequences (connection numbering ignored).
 * Returns null if equal, else a short human-readable description of the first differences.
 */
export function diffConnSequences(aName: string, a: string[][], bName: string, b: string[][]): string | null {
  const key = (s: string[]) => s.join('\n');
  const count = (xs: string[][]) => {
    const m = new Map<string, number>();
    for (const s of xs) m.set(key(s), (m.get(key(s)) ?? 0) + 1);
    return m;
  };
  const ca = count(a);
  const cb = count(b);
  const onlyA: string[][] = [];
  const onlyB: string[][] = [];
  for (const s of a) { const k = key(s); const n = cb.get(k) ?? 0; if (n > 0) cb.set(k, n - 1); else onlyA.push(s); }
  for (const s of b) { const k = key(s); const n = ca.get(k) ?? 0; if (n > 0) ca.set(k, n - 1); else onlyB.push(s); }
  if (!onlyA.length && !onlyB.length) return null;
  const total = (xs: string[][]) => xs.reduce((n, s) => n + s.length, 0);
  const lines = [
    `${aName}: ${a.length} connections / ${total(a)} items; ${bName}: ${b.length} connections / ${total(b)} items`,
    `${onlyA.length} connection sequence(s) only in ${aName}, ${onlyB.length} only in ${bName}`,
  ];
  // Pair each unmatched sequence of A with the unmatched B sequence sharing the longest prefix.
  for (const s of onlyA.slice(0, 3)) {
    let best: string[] | undefined;
    let bestLen = -1;
    for (const o of onlyB) {
      let i = 0;
      while (i < s.length && i < o.length && s[i] === o[i]) i++;
      if (i > bestLen) { bestLen = i; best = o; }
    }
    if (best) {
      lines.push(`  ${aName} conn (${s.length} items) vs closest ${bName} conn (${best.length} items): first difference at #${bestLen}:`,
        `    ${aName}: ${JSON.stringify(s[bestLen])}`, `    ${bName}: ${JSON.stringify(best[bestLen])}`);
    } else {
      lines.push(`  ${aName} conn (${s.length} items) has no counterpart; starts ${JSON.stringify(s.slice(0, 3))}`);
    }
  }
  for (const s of onlyB.slice(0, onlyA.length ? 0 : 3)) {
    lines.push(`  ${bName} conn (${s.length} items) has no counterpart; starts ${JSON.stringify(s.slice(0, 3))}`);
  }
  return lines.join('\n');
}

/** Hop-by-hop header names (lower case) that a mirror must not forward. */
export const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect']);

/** Lower-cased tokens of every Connection header in the list. */
export function connectionTokens(headers: Header[]): Set<string> {
  const s = new Set<string>();
  for (const [n, v] of headers) {
    if (n.toLowerCase() !== 'connection') continue;
    for (const t of v.split(',')) { const x = t.trim().toLowerCase(); if (x) s.add(x); }
  }
  return s;
}

/**
 * The headers that must reach the shadow unchanged (same order, case, values, duplicates):
 * everything except Host, Content-Length, hop-by-hop headers, headers named in Connection
 * (of the original request: `alsoDrop`, and of this list itself), and the x-shadowtap marker.
 */
export function forwardableHeaders(headers: Header[], alsoDrop: Set<string> = new Set()): Header[] {
  const named = connectionTokens(headers);
  return headers.filter(([n]) => {
    const l = n.toLowerCase();
    return !HOP_BY_HOP.has(l) && !named.has(l) && !alsoDrop.has(l) && l !== 'host' && l !== 'content-length' && l !== 'x-shadowtap';
  });
}
