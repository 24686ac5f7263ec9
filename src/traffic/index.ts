// What to mirror and how: safe methods by default, ordered allow/deny rules, sampling
// (random or consistent by a key), and rewrites of what the shadow receives. Pure decisions
// over captured requests; the captured request itself is never changed.

import { readFileSync } from 'node:fs';
import { HttpRequest, headerValue } from '../http';

export { Redactor, defaultRedactOptions } from './redact';
export type { RedactOptions } from './redact';

/** Methods replayed when writes are not allowed: they must not change the shadow's state. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

export type Condition =
  | { kind: 'method'; methods: ReadonlySet<string> }
  | { kind: 'path'; re: RegExp }
  | { kind: 'host'; re: RegExp }
  | { kind: 'header'; name: string; re: RegExp | null };

export interface Rule {
  action: 'allow' | 'deny';
  conditions: Condition[];
  /** As written, for counters and logs. */
  text: string;
}

export interface SampleKey {
  from: 'header' | 'cookie' | 'query';
  name: string;
}

export interface Rewrites {
  setHeaders: Array<[string, string]>;
  removeHeaders: ReadonlySet<string>;
  /** lower-case old name → new name */
  renameHeaders: ReadonlyMap<string, string>;
  paths: Array<[RegExp, string]>;
  /** lower-case header name → production value → shadow value */
  headerValueMaps: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** Append the captured client address to X-Forwarded-For. */
  forwardClient: boolean;
}

export interface TrafficOptions {
  /** Methods replayed; null: every method (--allow-writes). */
  methods: ReadonlySet<string> | null;
  rules: Rule[];
  /** When no rule matches. */
  defaultAction: 'allow' | 'deny';
  /** Share of requests mirrored, in percent. */
  samplePercent: number;
  sampleBy: SampleKey | null;
  rewrites: Rewrites;
}

export function defaultTrafficOptions(): TrafficOptions {
  return {
    methods: SAFE_METHODS,
    rules: [],
    defaultAction: 'allow',
    samplePercent: 100,
    sampleBy: null,
    rewrites: { setHeaders: [], removeHeaders: new Set(), renameHeaders: new Map(), paths: [], headerValueMaps: new Map(), forwardClient: false },
  };
}

export type { TrafficReason } from '../model';
import type { TrafficReason } from '../model';

export interface TrafficStats {
  unsafeMethod: Record<string, number>;
  /** Requests stopped, by the rule that stopped them ('default deny' when none matched). */
  filteredBy: Record<string, number>;
  sampledOut: number;
  /** Consistent sampling found no key: such requests are sampled at random. */
  sampleKeyMissing: number;
  /** Header values with a map but no entry for them: sent unchanged. */
  unmappedHeaderValues: number;
}

export class RuleError extends Error {}

const conditionKinds = ['method', 'path', 'host', 'header'];

function regex(source: string, what: string): RegExp {
  try {
    return new RegExp(source);
  } catch (e) {
    throw new RuleError(`${what}: not a regular expression: ${(e as Error).message}`);
  }
}

/** `allow|deny COND…` with COND one of method:GET,POST  path:REGEX  host:REGEX
 * header:NAME (present)  header:NAME=REGEX. Every condition must hold. */
export function parseRule(text: string): Rule {
  const words = text.trim().split(/\s+/);
  const action = words[0];
  if (action !== 'allow' && action !== 'deny') throw new RuleError(`a rule starts with allow or deny: ${JSON.stringify(text)}`);
  if (words.length < 2) throw new RuleError(`a rule needs at least one condition: ${JSON.stringify(text)}`);
  const conditions = words.slice(1).map((w): Condition => {
    const colon = w.indexOf(':');
    const kind = colon < 0 ? w : w.slice(0, colon);
    const arg = colon < 0 ? '' : w.slice(colon + 1);
    if (!conditionKinds.includes(kind) || arg === '') {
      throw new RuleError(`condition ${JSON.stringify(w)}: expected method:LIST, path:REGEX, host:REGEX, header:NAME or header:NAME=REGEX`);
    }
    switch (kind) {
      case 'method': return { kind, methods: new Set(arg.split(',').map((m) => m.toUpperCase())) };
      case 'path': return { kind, re: regex(arg, w) };
      case 'host': return { kind, re: regex(arg, w) };
      default: {
        const eq = arg.indexOf('=');
        return eq < 0 ? { kind: 'header', name: arg.toLowerCase(), re: null }
          : { kind: 'header', name: arg.slice(0, eq).toLowerCase(), re: regex(arg.slice(eq + 1), w) };
      }
    }
  });
  return { action, conditions, text: words.join(' ') };
}

/** `header:NAME`, `cookie:NAME` or `query:NAME`. */
export function parseSampleKey(text: string): SampleKey {
  const m = /^(header|cookie|query):(.+)$/.exec(text.trim());
  if (m === null) throw new RuleError(`expected header:NAME, cookie:NAME or query:NAME, got ${JSON.stringify(text)}`);
  return { from: m[1] as SampleKey['from'], name: m[1] === 'header' ? m[2].toLowerCase() : m[2] };
}

/** A map file: one `PRODUCTION-VALUE<whitespace>SHADOW-VALUE` pair per line; blank lines and
 * lines starting with # are skipped. A value may not contain whitespace. */
export function readValueMap(path: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new RuleError(`cannot read ${path}: ${(e as Error).message}`);
  }
  const map = new Map<string, string>();
  text.split('\n').forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) return;
    const parts = t.split(/\s+/);
    if (parts.length !== 2) throw new RuleError(`${path}:${i + 1}: expected two values separated by whitespace`);
    map.set(parts[0], parts[1]);
  });
  return map;
}

function cookie(headers: string[], name: string): string | null {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].toLowerCase() !== 'cookie') continue;
    for (const part of headers[i + 1].split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
    }
  }
  return null;
}

function queryParam(url: string, name: string): string | null {
  const q = url.indexOf('?');
  if (q < 0) return null;
  for (const pair of url.slice(q + 1).split('#')[0].split('&')) {
    const eq = pair.indexOf('=');
    const k = eq < 0 ? pair : pair.slice(0, eq);
    let key = k;
    try {
      key = decodeURIComponent(k);
    } catch { /* raw */ }
    if (key === name) return eq < 0 ? '' : pair.slice(eq + 1);
  }
  return null;
}

/** FNV-1a, 32 bits: a stable hash for consistent sampling (same key → same decision). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function matches(c: Condition, req: HttpRequest): boolean {
  switch (c.kind) {
    case 'method': return c.methods.has(req.method);
    case 'path': return c.re.test(req.url);
    case 'host': return c.re.test(headerValue(req.headers, 'host') ?? '');
    case 'header': {
      const v = headerValue(req.headers, c.name);
      return v !== null && (c.re === null || c.re.test(v));
    }
  }
}

export class TrafficPolicy {
  private readonly threshold: number;
  private readonly rewriting: boolean;

  /** `stats` carries the counts on when a reload replaces the policy. */
  constructor(readonly options: TrafficOptions, private readonly random: () => number = Math.random,
    readonly stats: TrafficStats = { unsafeMethod: {}, filteredBy: {}, sampledOut: 0, sampleKeyMissing: 0, unmappedHeaderValues: 0 }) {
    this.threshold = options.samplePercent / 100;
    const r = options.rewrites;
    this.rewriting = r.setHeaders.length > 0 || r.removeHeaders.size > 0 || r.renameHeaders.size > 0 ||
      r.paths.length > 0 || r.headerValueMaps.size > 0 || r.forwardClient;
  }

  /** Why `req` is not mirrored, or null when it is. */
  decide(req: HttpRequest): TrafficReason | null {
    const o = this.options;
    if (req.method === 'CONNECT') return 'tunnel';
    if (o.methods !== null && !o.methods.has(req.method)) {
      this.stats.unsafeMethod[req.method] = (this.stats.unsafeMethod[req.method] ?? 0) + 1;
      return 'unsafeMethod';
    }
    let action = o.defaultAction;
    let by = `default ${o.defaultAction}`;
    for (const rule of o.rules) {
      if (rule.conditions.every((c) => matches(c, req))) {
        action = rule.action;
        by = rule.text;
        break;
      }
    }
    if (action === 'deny') {
      this.stats.filteredBy[by] = (this.stats.filteredBy[by] ?? 0) + 1;
      return 'filtered';
    }
    if (this.threshold < 1 && !this.sampledIn(req)) {
      this.stats.sampledOut++;
      return 'sampledOut';
    }
    return null;
  }

  private sampledIn(req: HttpRequest): boolean {
    const key = this.options.sampleBy;
    if (key !== null) {
      const v = key.from === 'header' ? headerValue(req.headers, key.name)
        : key.from === 'cookie' ? cookie(req.headers, key.name) : queryParam(req.url, key.name);
      if (v !== null) return fnv1a(v) / 0x100000000 < this.threshold;
      this.stats.sampleKeyMissing++;
    }
    return this.random() < this.threshold;
  }

  /** The request as the shadow should get it: `req` itself when nothing is rewritten, else a
   * copy with the target and headers rewritten. */
  rewrite(req: HttpRequest): HttpRequest {
    if (!this.rewriting) return req;
    const r = this.options.rewrites;
    let url = req.url;
    for (const [re, to] of r.paths) url = url.replace(re, to);
    const headers: string[] = [];
    let forwarded = false;
    // The client is appended once, to the last X-Forwarded-For (RFC 7239 §7.1 order).
    let lastForwardedFor = -1;
    if (r.forwardClient) {
      for (let i = 0; i < req.headers.length; i += 2) if (req.headers[i].toLowerCase() === 'x-forwarded-for') lastForwardedFor = i;
    }
    for (let i = 0; i < req.headers.length; i += 2) {
      let name = req.headers[i];
      let value = req.headers[i + 1];
      const lower = name.toLowerCase();
      if (r.removeHeaders.has(lower)) continue;
      const renamed = r.renameHeaders.get(lower);
      if (renamed !== undefined) name = renamed;
      const map = r.headerValueMaps.get(lower);
      if (map !== undefined) value = this.mapValue(map, value);
      if (i === lastForwardedFor && !r.removeHeaders.has(lower)) {
        value = `${value}, ${req.conn.client.address}`;
        forwarded = true;
      }
      headers.push(name, value);
    }
    if (r.forwardClient && !forwarded) headers.push('X-Forwarded-For', req.conn.client.address);
    for (const [name, value] of r.setHeaders) {
      const lower = name.toLowerCase();
      for (let i = headers.length - 2; i >= 0; i -= 2) if (headers[i].toLowerCase() === lower) headers.splice(i, 2);
      headers.push(name, value);
    }
    return { ...req, url, headers };
  }

  /** The whole value, or the credential after an auth scheme ("Bearer X"), looked up. */
  private mapValue(map: ReadonlyMap<string, string>, value: string): string {
    const whole = map.get(value);
    if (whole !== undefined) return whole;
    const space = value.indexOf(' ');
    if (space > 0) {
      const credential = map.get(value.slice(space + 1).trim());
      if (credential !== undefined) return `${value.slice(0, space)} ${credential}`;
    }
    this.stats.unmappedHeaderValues++;
    return value;
  }
}
