/**
 * Endpoint grouping: method + a path template learned from the request target.
 *
 * pathTemplate() turns a request target into a stable, low-cardinality template by replacing
 * the segments that look like parameters. Rules, applied per path segment in this order (the
 * segment is percent-decoded for classification only; literal segments are emitted raw):
 *
 *   1. integer                               '123', '0042'            → {id}
 *        except a bare 1–2 digit number right after an 'api' segment  ('/rest/api/2/…': a version)
 *   2. UUID, any version or nil, dashed 8-4-4-4-12, with or without braces, or braced without
 *      dashes                                '550e8400-e29b-…', '{…}' → {uuid}
 *      (a bare 32-hex string is indistinguishable from an MD5 digest, so it goes to rule 4)
 *   3. date YYYY-MM-DD, optionally with an ISO time ('2024-05-01', '2024-05-01T10:00:00Z') → {date}
 *   4. hex string of ≥ 8 chars with at least one digit (digests, ObjectIds, short SHAs) → {hex}
 *      (letters-only hex words such as 'deadbeef', 'facade' stay literal)
 *   5. email  'a.b+c@example.com'                                       → {email}
 *   6. affixes — a word (all-lower or all-upper letters, '-'/'_'/'.'-joined words allowed) + a
 *      separator (- _ . : ~) + an id-like part, or an id + separator + word:
 *        'item-12345' → 'item-{id}', 'PROJ-123' → 'PROJ-{id}', '12345-my-title' → '{id}-my-title',
 *        'cus_NffrFeUfNV2Hib' → 'cus_{token}' (≥ 10 alnum, mixed case + digit),
 *        'user-<uuid>' → 'user-{uuid}', 'img_<hex>' → 'img_{hex}';
 *      numeric parts need ≥ 2 digits ('utf-8', 'page-2' stay literal);
 *      letters directly followed by ≥ 4 digits: 'order12345' → 'order{id}' (but 'v2024' is a version);
 *      shorter ones stay literal: API versions and names ('v2', 'v10', 'h264', 'oauth2', 'ipv6').
 *   7. long token: ≥ 20 chars of [A-Za-z0-9_.~+=-] (base64, base64url, JWT) with at least one
 *      letter and one digit, that is not a lowercase slug (a slug: lowercase only, with -/_/.
 *      separators, e.g. 'how-to-train-your-dragon')                       → {token}
 *      (a word-prefixed token keeps its prefix by rule 6: 'ch_3MmlLrLkdIwHu7ix0snN0B15' → 'ch_{token}')
 *   8. anything else is kept literally.
 *
 * Target forms:
 *   - origin-form '/a/b?q' — query and fragment dropped;
 *   - absolute-form 'http://host:port/a?q' — scheme and authority dropped ('http://host' → '/');
 *   - '*' (OPTIONS *) → '*'; empty target → '/';
 *   - anything else (authority-form of CONNECT, garbage) → '{authority}'.
 * Matrix parameters (';jsessionid=…', ';color=red') are dropped from each segment.
 * Trailing slashes are KEPT distinct ('/users/' ≠ '/users'): servers often route them differently
 * (one of them is commonly a redirect), and mixing a 301 population with 200s would skew the
 * comparison. Empty inner segments ('//') are kept too. Nothing is memoised.
 */

const C_DIGIT = 1;
const C_HEXLOW = 2; // a-f
const C_HEXUP = 4; // A-F
const C_LOW = 8; // g-z
const C_UP = 16; // G-Z
const C_SEP = 32; // - _ . ~
const C_TOKEN_OTHER = 64; // + =
const C_AT = 128;
const C_COLON = 256;
const C_BRACE = 512;
const C_OTHER = 1024; // anything else (incl. non-ASCII, spaces, %)
const C_PCT = 2048;

const CLASS = new Uint16Array(128);
for (let c = 0; c < 128; c++) {
  let k = C_OTHER;
  if (c >= 48 && c <= 57) k = C_DIGIT;
  else if (c >= 97 && c <= 102) k = C_HEXLOW;
  else if (c >= 65 && c <= 70) k = C_HEXUP;
  else if (c >= 103 && c <= 122) k = C_LOW;
  else if (c >= 71 && c <= 90) k = C_UP;
  else if (c === 45 || c === 95 || c === 46 || c === 126) k = C_SEP;
  else if (c === 43 || c === 61) k = C_TOKEN_OTHER;
  else if (c === 64) k = C_AT;
  else if (c === 58) k = C_COLON;
  else if (c === 123 || c === 125) k = C_BRACE;
  else if (c === 37) k = C_PCT;
  CLASS[c] = k;
}

function classesOf(s: string): number {
  let m = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    m |= c < 128 ? CLASS[c] : C_OTHER;
  }
  return m;
}

const RE_UUID = /^\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?$|^\{[0-9a-f]{32}\}$/i;
const RE_DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;
const RE_EMAIL = /^[^\s@]+@[^\s@.]+(?:\.[^\s@.]+)+$/;
/** Word(s) + separator + rest, split at the last possible separator; words are all-lower or all-upper letters. */
const RE_WORD_SEP = /^((?:[a-z]+|[A-Z]+)(?:[-_.:~](?:[a-z]+|[A-Z]+))*)([-_.:~])(.+)$/;
const RE_ID_SEP = /^(\d{2,})([-_.:~])([A-Za-z].*)$/;
const RE_LETTERS_DIGITS = /^(?![vV]\d)([A-Za-z]+)(\d{4,})$/; // 'v2024' is a version

const HEX = C_DIGIT | C_HEXLOW | C_HEXUP;
const ALPHA = C_HEXLOW | C_HEXUP | C_LOW | C_UP;
const UPPER = C_HEXUP | C_UP;
const LOWER = C_HEXLOW | C_LOW;
const TOKEN_CHARS = C_DIGIT | ALPHA | C_SEP | C_TOKEN_OTHER;

/** Classifies an already-decoded segment; returns the placeholder or null (keep literal). */
function classifySegment(s: string, prev: string): string | null {
  const n = s.length;
  if (n === 0) return null;
  const m = classesOf(s);
  if (m === C_DIGIT) {
    if (n <= 2 && (prev === 'api' || prev === 'API')) return null;
    return '{id}';
  }
  if ((m & ~(HEX | C_SEP | C_BRACE)) === 0 && (n === 32 + 2 || n === 36 || n === 38) && RE_UUID.test(s)) {
    return '{uuid}';
  }
  if (n >= 10 && (m & C_DIGIT) !== 0 && RE_DATE.test(s)) return '{date}';
  if (n >= 8 && (m & ~HEX) === 0 && (m & C_DIGIT) !== 0) return '{hex}';
  if ((m & C_AT) !== 0) return RE_EMAIL.test(s) ? '{email}' : null;
  if ((m & C_DIGIT) === 0 || (m & ALPHA) === 0) return null;
  const seps = (m & (C_SEP | C_COLON)) !== 0;
  // Rule 6 (affixes), then rule 7 (tokens), then the letters+digits form of rule 6.
  if (seps) {
    const w = RE_WORD_SEP.exec(s);
    if (w !== null) {
      const r = affixPart(w[3]);
      if (r !== null) return w[1] + w[2] + r;
    }
  }
  if (n >= 20 && (m & ~TOKEN_CHARS) === 0) {
    const slug = (m & UPPER) === 0 && (m & (C_SEP | C_TOKEN_OTHER)) !== 0;
    if (!slug) return '{token}';
  }
  if (seps) {
    const d = RE_ID_SEP.exec(s);
    return d !== null ? '{id}' + d[2] + d[3] : null;
  }
  const ld = RE_LETTERS_DIGITS.exec(s);
  return ld !== null ? ld[1] + '{id}' : null;
}

/** The id-like remainder of an affixed segment ('12345', a uuid, a hex or a random token). */
function affixPart(s: string): string | null {
  const n = s.length;
  const m = classesOf(s);
  if (m === C_DIGIT) return n >= 2 ? '{id}' : null;
  if (n === 36 && (m & ~(HEX | C_SEP)) === 0 && RE_UUID.test(s)) return '{uuid}';
  if (n >= 8 && (m & ~HEX) === 0 && (m & C_DIGIT) !== 0) return '{hex}';
  if (n >= 10 && (m & ~(C_DIGIT | ALPHA)) === 0 && (m & C_DIGIT) !== 0 && (m & UPPER) !== 0 && (m & LOWER) !== 0) {
    return '{token}';
  }
  return null;
}

function decodeSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** Offset of the path in the target, or -1 for '*'/authority-form, or target.length for 'http://host'. */
function pathStart(target: string): number {
  const c0 = target.charCodeAt(0);
  if (c0 === 47 /* / */) return 0;
  const scheme = target.indexOf('://');
  if (scheme > 0 && scheme < 10) {
    const p = target.indexOf('/', scheme + 3);
    if (p >= 0) {
      // A '?' or '#' before the first '/' means an authority with no path.
      const q = target.indexOf('?', scheme + 3);
      const h = target.indexOf('#', scheme + 3);
      if ((q >= 0 && q < p) || (h >= 0 && h < p)) return target.length;
      return p;
    }
    return target.length;
  }
  return -1;
}

/** '/users/123/orders/9f86d081884c7d659a2feaa0c55ad015?x=1' → '/users/{id}/orders/{hex}' (query dropped). */
export function pathTemplate(target: string): string {
  if (target.length === 0) return '/';
  if (target === '*') return '*';
  const start = pathStart(target);
  if (start < 0) return '{authority}';
  let end = target.length;
  for (let i = start; i < end; i++) {
    const c = target.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) {
      end = i;
      break;
    }
  }
  if (end - start <= 1) return '/';
  let out = '';
  let prev = '';
  let i = start + 1; // skip the leading '/'
  while (true) {
    let j = target.indexOf('/', i);
    if (j < 0 || j > end) j = end;
    let raw = target.slice(i, j);
    const semi = raw.indexOf(';');
    if (semi >= 0) raw = raw.slice(0, semi);
    const seg = raw.indexOf('%') >= 0 ? decodeSegment(raw) : raw;
    const t = classifySegment(seg, prev);
    out += '/' + (t === null ? raw : t);
    prev = seg;
    if (j >= end) break;
    i = j + 1;
  }
  return out;
}

export interface RouteOverride {
  method?: string;
  /** '/users/:id/orders/:orderId', '/static/*' (a trailing '*' matches the rest, elsewhere one segment). */
  pattern: string;
  /** Shown instead of the pattern: key is `${METHOD} ${name ?? pattern}`. */
  name?: string;
}

const enum Part {
  Literal,
  Param,
  Rest,
}

interface CompiledRoute {
  method: string | null;
  parts: Array<{ kind: Part; text: string }>;
  name: string;
}

function compileRoute(r: RouteOverride): CompiledRoute {
  const pat = r.pattern.startsWith('/') ? r.pattern : '/' + r.pattern;
  const segs = pat.slice(1).split('/');
  if (segs.length > 1 && segs[segs.length - 1] === '') segs.pop(); // trailing slash: optional
  const parts = segs.map((s, idx) => {
    if (s === '*' && idx === segs.length - 1) return { kind: Part.Rest, text: '' };
    if (s === '*' || (s.startsWith(':') && s.length > 1)) return { kind: Part.Param, text: '' };
    return { kind: Part.Literal, text: decodeSegment(s) };
  });
  return { method: r.method ? r.method.toUpperCase() : null, parts, name: r.name ?? pat };
}

/** Path segments for route matching: query/fragment dropped, matrix params stripped, decoded. */
function routeSegments(target: string): string[] | null {
  const start = pathStart(target);
  if (start < 0) return null;
  let end = target.length;
  const q = target.indexOf('?', start);
  if (q >= 0) end = q;
  const h = target.indexOf('#', start);
  if (h >= 0 && h < end) end = h;
  const segs = end - start <= 1 ? [''] : target.slice(start + 1, end).split('/');
  if (segs.length > 1 && segs[segs.length - 1] === '') segs.pop(); // overrides ignore one trailing slash
  for (let i = 0; i < segs.length; i++) {
    let s = segs[i];
    const semi = s.indexOf(';');
    if (semi >= 0) s = s.slice(0, semi);
    segs[i] = s.indexOf('%') >= 0 ? decodeSegment(s) : s;
  }
  return segs;
}

function matches(route: CompiledRoute, segs: string[]): boolean {
  const parts = route.parts;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (p.kind === Part.Rest) return true; // zero or more remaining segments
    if (i >= segs.length) return false;
    if (p.kind === Part.Param) {
      if (segs[i] === '') return false;
    } else if (p.text !== segs[i]) return false;
  }
  return parts.length === segs.length;
}

function literalPath(target: string): string {
  const q = target.search(/[?#]/);
  return q < 0 ? target : target.slice(0, q);
}

const STANDARD_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/**
 * Endpoint keys 'GET /users/{id}'. Route overrides are tried first (first match wins), else the
 * learned template. At most maxEndpoints (default 1000) distinct keys are handed out; after that,
 * exchanges on new keys fold into '<METHOD> {other}' (non-standard methods into 'OTHER {other}')
 * and each such exchange is counted in `overflowed`.
 */
export class EndpointClassifier {
  private readonly routes: CompiledRoute[];
  private readonly maxEndpoints: number;
  private readonly seen = new Set<string>();
  private _overflowed = 0;

  constructor(routes: RouteOverride[] = [], opts: { maxEndpoints?: number } = {}) {
    this.routes = routes.map(compileRoute);
    const max = opts.maxEndpoints ?? 1000;
    if (!Number.isInteger(max) || max < 0) throw new RangeError(`maxEndpoints must be a non-negative integer: ${max}`);
    this.maxEndpoints = max;
  }

  /** Exchanges folded into '{other}' because the endpoint budget was spent. */
  get overflowed(): number {
    return this._overflowed;
  }

  /** Distinct endpoint keys handed out so far (≤ maxEndpoints). */
  get size(): number {
    return this.seen.size;
  }

  /** `literal`: the path is the endpoint as it is, query dropped (a gRPC method's path). */
  classify(method: string, target: string, literal = false): string {
    const m = method.toUpperCase();
    let key: string | null = null;
    if (this.routes.length > 0) {
      const segs = routeSegments(target);
      if (segs !== null) {
        for (const r of this.routes) {
          if ((r.method === null || r.method === m) && matches(r, segs)) {
            key = m + ' ' + r.name;
            break;
          }
        }
      }
    }
    if (key === null) key = m + ' ' + (literal ? literalPath(target) : pathTemplate(target));
    if (this.seen.has(key)) return key;
    if (this.seen.size < this.maxEndpoints) {
      this.seen.add(key);
      return key;
    }
    this._overflowed++;
    return (STANDARD_METHODS.has(m) ? m : 'OTHER') + ' {other}';
  }
}
