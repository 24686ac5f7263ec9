// Headers compared as lists per name, with the few headers that need their own rules.
import { isWholeMask, maskedMatch } from './masked';
import { push, truncateString } from './record';
import { DiffOptions, DiffStats, FieldDiff, newDiffStats } from './types';

export type HeaderInput = readonly string[];

/** Lower-case name → values in order (a repeated header gives several values). */
export function headerMap(h: HeaderInput): Map<string, string[]> {
  const m = new Map<string, string[]>();
  const add = (name: string, value: string): void => {
    const k = name.toLowerCase();
    const vs = m.get(k);
    if (vs) vs.push(value.trim());
    else m.set(k, [value.trim()]);
  };
  for (let i = 0; i + 1 < h.length; i += 2) add(h[i]!, h[i + 1]!);
  return m;
}

/** Comma-separated list items, trimmed, empty items dropped (RFC 9110 §5.6.1). */
function listItems(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function sameItemsAnyOrder(x: string[], y: string[]): boolean {
  if (x.length !== y.length) return false;
  const xs = [...x].sort(), ys = [...y].sort();
  for (let i = 0; i < xs.length; i++) if (xs[i] !== ys[i]) return false;
  return true;
}

/** Vary as a case-insensitive token set without accept-encoding (present exactly when some hop compressed). */
function varyTokens(vs: string[]): string[] {
  const set = new Set<string>();
  for (const v of vs) for (const t of listItems(v)) { const l = t.toLowerCase(); if (l !== 'accept-encoding') set.add(l); }
  return [...set].sort();
}

function cookieName(setCookie: string): string {
  const eq = setCookie.indexOf('=');
  const semi = setCookie.indexOf(';');
  const end = eq >= 0 && (semi < 0 || eq < semi) ? eq : (semi >= 0 ? semi : setCookie.length);
  return setCookie.slice(0, end).trim();
}

function diffSetCookie(e: string[], a: string[], opts: DiffOptions, out: FieldDiff[], stats: DiffStats): void {
  const count = new Map<string, number>();
  for (const c of a) { const n = cookieName(c); count.set(n, (count.get(n) ?? 0) + 1); }
  const missing: string[] = [];
  for (const c of e) {
    const n = cookieName(c);
    const k = count.get(n) ?? 0;
    if (k > 0) count.set(n, k - 1);
    else missing.push(n);
  }
  const path = 'header.set-cookie';
  for (const n of missing) {
    const at = `${path}[${JSON.stringify(n)}]`;
    if (!opts.ignorePaths.has(at)) push(out, opts.maxDiffs, stats, { path, at, kind: 'missing', expected: n });
  }
  for (const [n, k] of count) {
    const at = `${path}[${JSON.stringify(n)}]`;
    if (opts.ignorePaths.has(at)) continue;
    for (let i = 0; i < k; i++) push(out, opts.maxDiffs, stats, { path, at, kind: 'extra', actual: n });
  }
}

// The fast path. Most exchanges differ in no header that is compared: they are told from the
// rest by one walk over both lists, with each name's lower case and whether it is compared
// remembered per options object (DiffOptions are not changed once in use: a reload makes new
// ones), so that the usual exchange allocates nothing for its headers.

/** Raw header name → its lower case, or null when it is not compared. */
type NameTable = Map<string, string | null>;
const nameTables = new WeakMap<DiffOptions, NameTable>();
/** Distinct names remembered per options object, each of up to 64 characters; the others are
 * worked out each time. */
const MAX_NAMES = 1024;
const MAX_NAME_LENGTH = 64;

function nameTable(opts: DiffOptions): NameTable {
  let t = nameTables.get(opts);
  if (t === undefined) {
    t = new Map();
    nameTables.set(opts, t);
  }
  return t;
}

function comparedName(table: NameTable, opts: DiffOptions, raw: string): string | null {
  let name = table.get(raw);
  if (name === undefined) {
    const lower = raw.toLowerCase();
    name = opts.ignoreHeaders.has(lower) || opts.ignorePaths.has(`header.${lower}`) ? null : lower;
    if (table.size < MAX_NAMES && raw.length <= MAX_NAME_LENGTH) table.set(raw, name);
  }
  return name;
}

/**
 * True when the compared headers of both lists are the same names (any case) with the same
 * trimmed values in the same order: then diffHeaderLists finds nothing (equal lists make equal
 * maps). False says nothing: the full comparison decides.
 */
export function sameComparedHeaders(expected: HeaderInput, actual: HeaderInput, opts: DiffOptions): boolean {
  const table = nameTable(opts);
  let i = 0, j = 0;
  for (;;) {
    let ne: string | null = null, na: string | null = null;
    for (; i + 1 < expected.length; i += 2) if ((ne = comparedName(table, opts, expected[i]!)) !== null) break;
    for (; j + 1 < actual.length; j += 2) if ((na = comparedName(table, opts, actual[j]!)) !== null) break;
    if (ne === null || na === null) return ne === na;
    if (ne !== na) return false;
    const ve = expected[i + 1]!, va = actual[j + 1]!;
    if (ve !== va && ve.trim() !== va.trim()) return false;
    i += 2;
    j += 2;
  }
}

/**
 * Header diff: names case-insensitive; repeated headers and comma-joined values are the same
 * list (and list items in another order are equal); names in `ignoreHeaders` (or 'header.<name>'
 * in `ignorePaths`) skipped; set-cookie compared by cookie name only (values, Expires and Max-Age
 * change per response); vary as a token set without accept-encoding.
 */
export function diffHeaders(expected: HeaderInput, actual: HeaderInput, opts: DiffOptions, out: FieldDiff[], stats: DiffStats = newDiffStats()): void {
  if (!sameComparedHeaders(expected, actual, opts)) diffHeaderLists(expected, actual, opts, out, stats);
}

/** diffHeaders without its fast path: every name looked at (what the fast path is held to). */
export function diffHeaderLists(expected: HeaderInput, actual: HeaderInput, opts: DiffOptions, out: FieldDiff[], stats: DiffStats = newDiffStats()): void {
  const em = headerMap(expected), am = headerMap(actual);
  const skip = (name: string): boolean => opts.ignoreHeaders.has(name) || opts.ignorePaths.has(`header.${name}`);
  for (const [name, ev] of em) {
    if (skip(name)) continue;
    const path = `header.${name}`;
    const av = am.get(name);
    // A masked cookie no longer shows its name: the cookies are not compared.
    if (name === 'set-cookie' && opts.maskedProduction === true && ev.some(isWholeMask)) continue;
    if (name === 'set-cookie') { diffSetCookie(ev, av ?? [], opts, out, stats); continue; }
    if (av === undefined) {
      if (name === 'vary' && varyTokens(ev).length === 0) continue;
      push(out, opts.maxDiffs, stats, { path, at: path, kind: 'missing', expected: truncateString(ev.join(', ')) });
      continue;
    }
    const ej = ev.join(', '), aj = av.join(', ');
    if (ej === aj) continue;
    if (opts.maskedProduction === true && maskedMatch(ej, aj)) continue;
    if (name === 'vary') { if (varyTokens(ev).join(',') === varyTokens(av).join(',')) continue; }
    else if (sameItemsAnyOrder(listItems(ej), listItems(aj))) continue;
    push(out, opts.maxDiffs, stats, { path, at: path, kind: 'header', expected: truncateString(ej), actual: truncateString(aj) });
  }
  for (const [name, av] of am) {
    if (em.has(name) || skip(name)) continue;
    const path = `header.${name}`;
    if (name === 'set-cookie') { diffSetCookie([], av, opts, out, stats); continue; }
    if (name === 'vary' && varyTokens(av).length === 0) continue;
    push(out, opts.maxDiffs, stats, { path, at: path, kind: 'extra', actual: truncateString(av.join(', ')) });
  }
}
