// JSON compared structurally. The walk generalises paths as it goes: array indexes become
// [*], id-like map keys {key} (see the header of ./index.ts).
import { isWholeMask, maskedMatch } from './masked';
import { overflowed, shown } from './record';
import { DiffKind, DiffOptions, DiffStats, FieldDiff, newDiffStats } from './types';

// ---------------------------------------------------------------------------------------------
// Paths

const PLAIN_KEY = /^[^.[\]"'\s{}*$]+$/;

/** ASCII characters PLAIN_KEY refuses: . [ ] " ' { } * $ and whitespace. */
const NOT_PLAIN = new Uint8Array(128);
for (const c of '.[]"\'{}*$ \t\n\v\f\r') NOT_PLAIN[c.charCodeAt(0)] = 1;

/** PLAIN_KEY.test(k), by a table for ASCII keys (the regular expression for the rest). */
function isPlainKey(k: string): boolean {
  if (k.length === 0) return false;
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i);
    if (c >= 128) return PLAIN_KEY.test(k);
    if (NOT_PLAIN[c] === 1) return false;
  }
  return true;
}

/** `.key` for plain keys, `["odd key"]` for keys that would make the path ambiguous. */
function keySegment(k: string): string {
  return isPlainKey(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const HEX8 = /^[0-9a-f]{8,}$/i;
const TOKEN16 = /^[A-Za-z0-9_\-+/=.:~]{16,}$/;
const ID_ISH = /^[A-Za-z0-9_\-.:]+$/;

function hasDigit(k: string): boolean {
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i);
    if (c >= 48 && c <= 57) return true;
  }
  return false;
}

function digitCount(k: string): number {
  let n = 0;
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

/**
 * A key that names an entity rather than a field, on its own: all digits, a UUID, ≥ 8 hex
 * digits (with at least one digit, so that words like 'deadbeef'… stay words only when they are
 * letters), or a token of ≥ 16 base64/url-safe characters with a digit in it.
 */
export function isIdKey(k: string): boolean {
  const n = k.length;
  if (n === 0) return false;
  const c0 = k.charCodeAt(0);
  // Fast exit for the common field name: starts with a letter and has no digit.
  if (((c0 >= 97 && c0 <= 122) || (c0 >= 65 && c0 <= 90)) && !hasDigit(k)) return false;
  let allDigits = true;
  for (let i = 0; i < n; i++) {
    const c = k.charCodeAt(i);
    if (c < 48 || c > 57) { allDigits = false; break; }
  }
  if (allDigits) return true;
  if (n === 36 || n === 32) { if (UUID.test(k)) return true; }
  if (n >= 8 && HEX8.test(k)) return true; // hasDigit held (or it started with a digit)
  return n >= 16 && TOKEN16.test(k);
}

/** Weaker: a short code with several digits ('u-81f2', 'sku-1234', '2024-05-01') — an id when all its siblings are too. */
function isIdIshKey(k: string): boolean {
  return isIdKey(k) || (digitCount(k) >= 2 && ID_ISH.test(k));
}

/**
 * Whether the keys of an object (both sides together) generalise to {key}: every key id-like
 * on its own, or every key id-ish with at least two of them (a map keyed by short codes).
 */
function mapLike(e: Record<string, unknown>, ke: string[], ka: string[]): boolean {
  let n = 0, strong = true;
  for (const k of ke) {
    if (!isIdIshKey(k)) return false;
    if (strong && !isIdKey(k)) strong = false;
    n++;
  }
  for (const k of ka) {
    if (Object.prototype.hasOwnProperty.call(e, k)) continue;
    if (!isIdIshKey(k)) return false;
    if (strong && !isIdKey(k)) strong = false;
    n++;
  }
  return n > 0 && (strong || n >= 2);
}

type Json = unknown;

/** JSON with object keys sorted, for multiset comparison and deep equality of cut subtrees. */
export function canonicalJson(v: Json, depth = 0): string {
  if (depth > 256) throw new RangeError('JSON nested too deep to compare'); // callers decide
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? '"NaN"' : (v > 0 ? '"Infinity"' : '"-Infinity"');
    const s = JSON.stringify(v);
    return s === undefined ? 'null' : s;
  }
  if (Array.isArray(v)) {
    let s = '[';
    for (let i = 0; i < v.length; i++) s += (i ? ',' : '') + canonicalJson(v[i], depth + 1);
    return s + ']';
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  let s = '{';
  for (let i = 0; i < keys.length; i++) s += (i ? ',' : '') + JSON.stringify(keys[i]) + ':' + canonicalJson(o[keys[i]!], depth + 1);
  return s + '}';
}

// The walk keeps the path as a stack of segments and builds strings only when a diff is
// recorded or an option needs a lookup: equal documents cost no string work at all.
interface JsonWalk {
  opts: DiffOptions;
  out: FieldDiff[];
  stats: DiffStats;
  max: number;
  maxDepth: number;
  ignore: boolean;          // any ignorePaths at all
  unordered: boolean;       // any unorderedArrays at all
  tolAll: number | undefined;
  tolPaths: boolean;        // numericTolerance has entries other than '*'
  /** Segment per depth: an object key (string) or an array index (number). */
  keys: Array<string | number>;
  /** Per depth: the key's object is an id-keyed map (its keys generalise to {key}). */
  maps: boolean[];
  /** Digit-only keys are field numbers (DiffOptions.fieldNumberKeys). */
  fieldNumbers: boolean;
  /** Diffs carry expected/actual (DiffOptions.values). */
  values: boolean;
}

function isFieldNumber(k: string): boolean {
  for (let i = 0; i < k.length; i++) {
    const c = k.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return k.length > 0;
}

function genPath(w: JsonWalk, depth: number): string {
  let s = '$';
  for (let d = 0; d < depth; d++) {
    const k = w.keys[d]!;
    s += typeof k === 'number' ? '[*]' : ((w.maps[d] || isIdKey(k)) && !(w.fieldNumbers && isFieldNumber(k)) ? '.{key}' : keySegment(k));
  }
  return s;
}

function atPath(w: JsonWalk, depth: number): string {
  let s = '$';
  for (let d = 0; d < depth; d++) {
    const k = w.keys[d]!;
    s += typeof k === 'number' ? `[${k}]` : keySegment(k);
  }
  return s;
}

function record(w: JsonWalk, depth: number, kind: DiffKind, e: Json, a: Json, has: 0 | 1 | 2 | 3): void {
  if (w.out.length >= w.max) { overflowed(w.stats, genPath(w, depth), kind); return; }
  const d: FieldDiff = { path: genPath(w, depth), at: atPath(w, depth), kind };
  if (!w.values) {
    if (((has & 1) !== 0 && isContainer(e)) || ((has & 2) !== 0 && isContainer(a))) w.stats.containerValues = (w.stats.containerValues ?? 0) + 1;
    w.out.push(d);
    return;
  }
  const prep = w.opts.showValue;
  if (has & 1) d.expected = kind === 'value' && typeof e === 'number' ? e : shown(prep ? prep(d.at, e) : e);
  if (has & 2) d.actual = kind === 'value' && typeof a === 'number' ? a : shown(prep ? prep(d.at, a) : a);
  w.out.push(d);
}

function isContainer(v: Json): boolean {
  return typeof v === 'object' && v !== null;
}

/** Whether the node at `depth` is named by ignorePaths (generalised or concrete). */
function ignored(w: JsonWalk, depth: number): boolean {
  const ip = w.opts.ignorePaths;
  return ip.has(genPath(w, depth)) || ip.has(atPath(w, depth));
}

function numbersEqual(w: JsonWalk, a: number, b: number, depth: number): boolean {
  if (a === b) return true;
  if (a !== a && b !== b) return true; // NaN (only from a non-JSON source) equals NaN
  let tol = w.tolPaths ? w.opts.numericTolerance.get(genPath(w, depth)) : undefined;
  if (tol === undefined) tol = w.tolAll;
  return tol !== undefined && Math.abs(a - b) <= tol;
}

function walk(w: JsonWalk, e: Json, a: Json, depth: number): void {
  if (e === a) return;
  if (w.opts.maskedProduction === true && typeof e === 'string' && (isWholeMask(e) || (typeof a === 'string' && maskedMatch(e, a)))) return;
  const te = typeof e, ta = typeof a;
  if (te !== ta || e === null || a === null || (te === 'object' && Array.isArray(e) !== Array.isArray(a))) {
    record(w, depth, 'type', e, a, 3);
    return;
  }
  if (te === 'number') {
    if (!numbersEqual(w, e as number, a as number, depth)) record(w, depth, 'value', e, a, 3);
    return;
  }
  if (te !== 'object') {
    // string, boolean (and bigint/undefined from non-JSON sources): === failed above
    record(w, depth, 'value', e, a, 3);
    return;
  }
  if (depth >= w.maxDepth) {
    w.stats.depthLimited++;
    let same: boolean;
    try {
      same = canonicalJson(e) === canonicalJson(a);
    } catch {
      same = false; // too deep even to serialise: report it rather than guess
    }
    if (!same) record(w, depth, 'value', e, a, 3);
    return;
  }
  if (Array.isArray(e)) walkArray(w, e, a as Json[], depth);
  else walkObject(w, e as Record<string, unknown>, a as Record<string, unknown>, depth);
}

function walkObject(w: JsonWalk, e: Record<string, unknown>, a: Record<string, unknown>, depth: number): void {
  const ke = Object.keys(e), ka = Object.keys(a);
  // Only id-looking keys can make a map; most objects exit on their first key.
  w.maps[depth] = mapLike(e, ke, ka) && !(w.fieldNumbers && (ke.some(isFieldNumber) || ka.some(isFieldNumber)));
  const hasOwn = Object.prototype.hasOwnProperty;
  let matched = 0;
  for (let i = 0; i < ke.length; i++) {
    const k = ke[i]!;
    w.keys[depth] = k;
    if (w.ignore && ignored(w, depth + 1)) { if (hasOwn.call(a, k)) matched++; continue; }
    if (!hasOwn.call(a, k)) {
      record(w, depth + 1, 'missing', e[k], undefined, 1);
      continue;
    }
    matched++;
    walk(w, e[k], a[k], depth + 1);
  }
  if (matched === ka.length) return; // every key of the shadow's object was seen: no extras
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i]!;
    if (hasOwn.call(e, k)) continue;
    w.keys[depth] = k;
    if (w.ignore && ignored(w, depth + 1)) continue;
    record(w, depth + 1, 'extra', undefined, a[k], 2);
  }
}

function walkArray(w: JsonWalk, e: Json[], a: Json[], depth: number): void {
  w.keys[depth] = 0;
  if (w.ignore && w.opts.ignorePaths.has(genPath(w, depth + 1))) return; // '$.list[*]': every element
  if (w.unordered && w.opts.unorderedArrays.has(genPath(w, depth))) {
    walkMultiset(w, e, a, depth);
    return;
  }
  const n = Math.min(e.length, a.length);
  for (let i = 0; i < n; i++) {
    w.keys[depth] = i;
    if (w.ignore && w.opts.ignorePaths.has(atPath(w, depth + 1))) continue;
    walk(w, e[i], a[i], depth + 1);
  }
  for (let i = n; i < e.length; i++) { w.keys[depth] = i; record(w, depth + 1, 'missing', e[i], undefined, 1); }
  for (let i = n; i < a.length; i++) { w.keys[depth] = i; record(w, depth + 1, 'extra', undefined, a[i], 2); }
}

/** Order-insensitive: elements match by canonical JSON; the unmatched ones are missing/extra at their own index. */
function walkMultiset(w: JsonWalk, e: Json[], a: Json[], depth: number): void {
  const ce = e.map((x) => canonicalJson(x)), ca = a.map((x) => canonicalJson(x));
  const tally = (xs: string[]): Map<string, number> => {
    const m = new Map<string, number>();
    for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
    return m;
  };
  // Earlier occurrences match first: a duplicate lost is reported at its last index.
  const inA = tally(ca);
  for (let i = 0; i < e.length; i++) {
    const n = inA.get(ce[i]!) ?? 0;
    if (n > 0) inA.set(ce[i]!, n - 1);
    else { w.keys[depth] = i; record(w, depth + 1, 'missing', e[i], undefined, 1); }
  }
  const inE = tally(ce);
  for (let j = 0; j < a.length; j++) {
    const n = inE.get(ca[j]!) ?? 0;
    if (n > 0) inE.set(ca[j]!, n - 1);
    else { w.keys[depth] = j; record(w, depth + 1, 'extra', undefined, a[j], 2); }
  }
}

/**
 * Structural JSON diff of production's document (`expected`) against the shadow's (`actual`),
 * appended to `out`. Object key order never matters; arrays are element-wise unless their
 * generalised path is in `unorderedArrays`.
 */
export function diffJson(expected: unknown, actual: unknown, opts: DiffOptions, out: FieldDiff[], stats: DiffStats = newDiffStats()): void {
  const tol = opts.numericTolerance;
  const w: JsonWalk = {
    opts, out, stats,
    max: opts.maxDiffs,
    maxDepth: opts.maxDepth ?? 64,
    ignore: opts.ignorePaths.size > 0,
    unordered: opts.unorderedArrays.size > 0,
    tolAll: tol.get('*'),
    tolPaths: tol.size > (tol.has('*') ? 1 : 0),
    keys: [],
    maps: [],
    fieldNumbers: opts.fieldNumberKeys === true,
    values: opts.values !== false,
  };
  if (w.ignore && opts.ignorePaths.has('$')) return;
  walk(w, expected, actual, 0);
}
