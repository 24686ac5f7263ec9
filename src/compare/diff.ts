// Production response vs shadow response: status, headers, and the decoded body compared by
// kind (JSON structurally, text by lines, anything else by size + sha256). Pure functions, no I/O.
//
// Every diff carries two locations: `path`, generalised so that occurrences of the same field
// group together (array indexes become [*], id-like map keys become {key}), and `at`, the
// concrete place of this occurrence. Options that name paths (ignorePaths, unorderedArrays,
// numericTolerance) match the generalised path; ignorePaths also matches a concrete one.
import { createHash } from 'node:crypto';
import { bodyKind, bodyText, decodeBody } from './body';

export type DiffKind = 'status' | 'header' | 'value' | 'type' | 'missing' | 'extra' | 'text' | 'binary';

export interface FieldDiff {
  /** Generalised path used for grouping/noise: '$.user.age', '$.items[*].price', '$.users.{key}.name', 'header.content-type', 'status', 'body' */
  path: string;
  /** Concrete location of this occurrence: '$.items[3].price', '$.users.u-81f2.name' */
  at: string;
  kind: DiffKind;
  /** Production's value (strings over 200 chars truncated; large objects as truncated JSON text). */
  expected?: unknown;
  /** The shadow's value. */
  actual?: unknown;
}

export interface DiffOptions {
  /** Generalised paths whose arrays compare as multisets (order-insensitive). Default: none (order-sensitive). */
  unorderedArrays: ReadonlySet<string>;
  /** Numbers equal within this absolute tolerance, per generalised path; '*' applies everywhere. Default: exact. */
  numericTolerance: ReadonlyMap<string, number>;
  /** Header names (lower case) never compared. Default: `defaultIgnoredHeaders`. */
  ignoreHeaders: ReadonlySet<string>;
  /** Fields ignored explicitly: generalised ('$.meta.generatedAt', '$.items[*].ts') or concrete JSON paths, 'header.<name>', 'status', 'body'. */
  ignorePaths: ReadonlySet<string>;
  /** Stop recording after this many diffs (the rest are counted in `truncated`). */
  maxDiffs: number;
  /** JSON nesting deeper than this compares the subtree as a whole (one diff at most). Default 64. */
  maxDepth?: number;
  /** Decoded-size cap per body for diffResponses (decompression bombs). Default 16 MiB. */
  maxBodyBytes?: number;
  /** Applied to a JSON value before it is shortened for the record (e.g. redaction): called
   * with the concrete path. */
  showValue?: (at: string, value: unknown) => unknown;
}

/** What a diff run had to leave out; pass the same object through several calls to accumulate. */
export interface DiffStats {
  /** Diffs found but not recorded because `maxDiffs` was reached. */
  truncated: number;
  /** JSON subtrees beyond `maxDepth`, compared only as a whole. */
  depthLimited: number;
  /** Text diffs too large for a line diff, reported from the first differing line on. */
  textFallbacks: number;
  /** Generalised paths (with the kind) of diffs beyond `maxDiffs`, up to 64: a difference past
   * the cap still counts for its field. */
  overflowPaths: Map<string, DiffKind>;
}

export function newDiffStats(): DiffStats {
  return { truncated: 0, depthLimited: 0, textFallbacks: 0, overflowPaths: new Map() };
}

const MAX_OVERFLOW_PATHS = 64;

function overflowed(stats: DiffStats, path: string, kind: DiffKind): void {
  stats.truncated++;
  if (stats.overflowPaths.size < MAX_OVERFLOW_PATHS && !stats.overflowPaths.has(path)) stats.overflowPaths.set(path, kind);
}

/**
 * Headers that differ between any two responses for reasons other than the application's
 * behaviour. Not listed on purpose: set-cookie (compared by cookie name only, values and
 * Expires/Max-Age change per response), vary (compared as a token set, minus accept-encoding
 * which only follows whether a hop compressed), content-type, cache-control, location, …
 */
export const defaultIgnoredHeaders: ReadonlySet<string> = new Set([
  'date',               // the clock at response time
  'server',             // product/version of the front server, differs between builds and hosts
  'age',                // seconds a cache has held the response
  'expires',            // absolute time computed from "now" + a lifetime
  'etag',               // often derived from inode/mtime/build id; content changes show in the body diff
  'last-modified',      // file mtimes / deploy times differ between the two deployments
  'content-length',     // covered by the body comparison, and differs whenever one side compresses
  'content-encoding',   // bodies are compared decoded, so gzip on one side only is not a difference
  'transfer-encoding',  // chunked vs length-delimited framing is a transport detail
  'connection',         // hop-by-hop (RFC 9110 §7.6.1)
  'keep-alive',         // hop-by-hop, per connection
  'proxy-connection',   // hop-by-hop, legacy
  'trailer',            // framing of a chunked body
  'upgrade',            // hop-by-hop
  'x-request-id',       // per-request identifiers
  'request-id',
  'x-correlation-id',
  'x-trace-id',
  'x-amzn-trace-id',    // AWS load balancer trace id
  'x-amz-cf-id',        // CloudFront request id
  'cf-ray',             // Cloudflare request id
  'traceparent',        // W3C trace context: ids per request
  'tracestate',
  'b3',                 // Zipkin B3 trace propagation: ids per request
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'x-runtime',          // measured durations: latency is compared separately
  'x-response-time',
  'server-timing',
  'via',                // the proxies on the way, differs between the two paths
  'x-cache',            // cache hit/miss of an intermediary
  'x-served-by',        // which edge/host served it
]);

export function defaultDiffOptions(): DiffOptions {
  return {
    unorderedArrays: new Set(),
    numericTolerance: new Map(),
    ignoreHeaders: defaultIgnoredHeaders,
    ignorePaths: new Set(),
    maxDiffs: 100,
    maxDepth: 64,
    maxBodyBytes: 16 * 1024 * 1024,
  };
}

// ---------------------------------------------------------------------------------------------
// Recording

const MAX_SHOWN = 200;

/** Strings longer than 200 chars cut (never inside a surrogate pair), with the length left off. */
export function truncateString(s: string): string {
  if (s.length <= MAX_SHOWN) return s;
  let n = MAX_SHOWN;
  const c = s.charCodeAt(n - 1);
  if (c >= 0xd800 && c <= 0xdbff) n--;
  return `${s.slice(0, n)}…(+${s.length - n} chars)`;
}

/** A value fit for a report: primitives as they are (strings truncated), containers as themselves when small, else as truncated JSON text. */
function shown(v: unknown): unknown {
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

function push(out: FieldDiff[], max: number, stats: DiffStats, d: FieldDiff): void {
  if (out.length >= max) overflowed(stats, d.path, d.kind);
  else out.push(d);
}

// ---------------------------------------------------------------------------------------------
// Paths

const PLAIN_KEY = /^[^.[\]"'\s{}*$]+$/;

/** `.key` for plain keys, `["odd key"]` for keys that would make the path ambiguous. */
function keySegment(k: string): string {
  return PLAIN_KEY.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
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

// ---------------------------------------------------------------------------------------------
// JSON

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
}

function genPath(w: JsonWalk, depth: number): string {
  let s = '$';
  for (let d = 0; d < depth; d++) {
    const k = w.keys[d]!;
    s += typeof k === 'number' ? '[*]' : (w.maps[d] || isIdKey(k) ? '.{key}' : keySegment(k));
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
  const prep = w.opts.showValue;
  if (has & 1) d.expected = kind === 'value' && typeof e === 'number' ? e : shown(prep ? prep(d.at, e) : e);
  if (has & 2) d.actual = kind === 'value' && typeof a === 'number' ? a : shown(prep ? prep(d.at, a) : a);
  w.out.push(d);
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
  w.maps[depth] = mapLike(e, ke, ka);
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
  };
  if (w.ignore && opts.ignorePaths.has('$')) return;
  walk(w, expected, actual, 0);
}

// ---------------------------------------------------------------------------------------------
// Text

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

// ---------------------------------------------------------------------------------------------
// Headers

export type HeaderInput = string[] | Record<string, string | string[] | number | undefined>;

/** Lower-case name → values in order (raw repeated headers and array values both become several values). */
export function headerMap(h: HeaderInput): Map<string, string[]> {
  const m = new Map<string, string[]>();
  const add = (name: string, value: string): void => {
    const k = name.toLowerCase();
    const vs = m.get(k);
    if (vs) vs.push(value.trim());
    else m.set(k, [value.trim()]);
  };
  if (Array.isArray(h)) {
    for (let i = 0; i + 1 < h.length; i += 2) add(h[i]!, h[i + 1]!);
  } else {
    for (const name of Object.keys(h)) {
      const v = h[name];
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) add(name, x);
      else add(name, String(v));
    }
  }
  return m;
}

/** One header's value, repeated values joined with ', ' (null when absent). */
export function headerValue(h: HeaderInput, name: string): string | null {
  const vs = headerMap(h).get(name.toLowerCase());
  return vs ? vs.join(', ') : null;
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

/**
 * Header diff: names case-insensitive; repeated headers and comma-joined values are the same
 * list (and list items in another order are equal); names in `ignoreHeaders` (or 'header.<name>'
 * in `ignorePaths`) skipped; set-cookie compared by cookie name only (values, Expires and Max-Age
 * change per response); vary as a token set without accept-encoding.
 */
export function diffHeaders(expected: HeaderInput, actual: HeaderInput, opts: DiffOptions, out: FieldDiff[], stats: DiffStats = newDiffStats()): void {
  const em = headerMap(expected), am = headerMap(actual);
  const skip = (name: string): boolean => opts.ignoreHeaders.has(name) || opts.ignorePaths.has(`header.${name}`);
  for (const [name, ev] of em) {
    if (skip(name)) continue;
    const path = `header.${name}`;
    const av = am.get(name);
    if (name === 'set-cookie') { diffSetCookie(ev, av ?? [], opts, out, stats); continue; }
    if (av === undefined) {
      if (name === 'vary' && varyTokens(ev).length === 0) continue;
      push(out, opts.maxDiffs, stats, { path, at: path, kind: 'missing', expected: truncateString(ev.join(', ')) });
      continue;
    }
    const ej = ev.join(', '), aj = av.join(', ');
    if (ej === aj) continue;
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

// ---------------------------------------------------------------------------------------------
// Whole responses

export interface ComparableResponse {
  status: number;
  headers: string[] | Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface ResponseDiff {
  diffs: FieldDiff[];
  /** Diffs found beyond maxDiffs, not recorded. */
  truncated: number;
  /** Their generalised paths and kinds (up to 64): they still count for their fields. */
  overflowPaths: Map<string, DiffKind>;
  /** How the bodies were compared: 'json' | 'text' | 'binary' ('json' falls back to 'text' when a side does not parse). */
  bodyKind: string;
  /** Content-Encoding failures, prefixed 'production: ' / 'shadow: '; such a body compares as received. */
  decodeErrors: string[];
  /** JSON subtrees compared only as a whole (depth limit). */
  depthLimited: number;
  /** Text bodies too different for a line diff (reported from the first differing line). */
  textFallbacks: number;
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Everything: status, headers, then the decoded body by kind (JSON structural, text lines, binary: size + sha256). */
export function diffResponses(production: ComparableResponse, shadow: ComparableResponse, opts: DiffOptions): ResponseDiff {
  const out: FieldDiff[] = [];
  const stats = newDiffStats();
  const decodeErrors: string[] = [];
  if (production.status !== shadow.status && !opts.ignorePaths.has('status')) {
    push(out, opts.maxDiffs, stats, { path: 'status', at: 'status', kind: 'status', expected: production.status, actual: shadow.status });
  }
  diffHeaders(production.headers, shadow.headers, opts, out, stats);

  const maxBytes = opts.maxBodyBytes ?? 16 * 1024 * 1024;
  const ctP = headerValue(production.headers, 'content-type'), ctS = headerValue(shadow.headers, 'content-type');
  const p = decodeBody(production.body, headerValue(production.headers, 'content-encoding'), maxBytes);
  const s = decodeBody(shadow.body, headerValue(shadow.headers, 'content-encoding'), maxBytes);
  if (p.error !== null) decodeErrors.push(`production: ${p.error}`);
  if (s.error !== null) decodeErrors.push(`shadow: ${s.error}`);

  const kP = bodyKind(ctP, p.body);
  let kind: string = kP;
  const result = (): ResponseDiff => ({
    diffs: out, truncated: stats.truncated, overflowPaths: stats.overflowPaths, bodyKind: kind, decodeErrors,
    depthLimited: stats.depthLimited, textFallbacks: stats.textFallbacks,
  });
  if (opts.ignorePaths.has('body') || p.body.equals(s.body)) return result();

  const kS = bodyKind(ctS, s.body);
  if (kP === 'binary' || kS === 'binary') kind = 'binary';
  else if (kP === 'json' && kS === 'json') {
    let ej: unknown, aj: unknown, ok = true;
    try {
      ej = JSON.parse(bodyText(p.body, ctP));
      aj = JSON.parse(bodyText(s.body, ctS));
    } catch {
      ok = false;
    }
    if (ok) {
      diffJson(ej, aj, opts, out, stats);
      return result();
    }
    kind = 'text';
  } else kind = 'text';

  if (kind === 'text') {
    diffText(bodyText(p.body, ctP), bodyText(s.body, ctS), out, { maxDiffs: opts.maxDiffs }, stats);
  } else {
    push(out, opts.maxDiffs, stats, {
      path: 'body', at: 'body', kind: 'binary',
      expected: { size: p.body.length, sha256: sha256(p.body) },
      actual: { size: s.body.length, sha256: sha256(s.body) },
    });
  }
  return result();
}
