// Masks credentials and personal data before anything leaves the process as text: log lines,
// samples, reports, recordings. What reaches the shadow is decided elsewhere.

import { createHmac, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';

export interface RedactOptions {
  /** Header names (lower case) whose values are always masked. */
  headers: ReadonlySet<string>;
  /** Header, query parameter and JSON key names matching this are masked too. */
  sensitiveName: RegExp;
  /** With a key, values become a keyed hash ('[h:…]', equal values stay equal); without, '[redacted]'. */
  hashKey: Buffer | null;
  /** Query parameter names (exact) masked besides those matching sensitiveName. */
  queryParams: ReadonlySet<string>;
  /** JSON body paths masked ('$.user.ssn', '$.items[*].card'; generalised like diff paths). */
  bodyPaths: ReadonlySet<string>;
  /** Personal data too: e-mail addresses, phone numbers, IP addresses in any text, hashed. */
  pii?: boolean;
}

export const defaultSensitiveHeaders: ReadonlySet<string> = new Set([
  'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'api-key', 'apikey',
  'x-auth-token', 'x-access-token', 'x-csrf-token', 'x-xsrf-token', 'x-amz-security-token',
]);

/** Names that carry secrets or personal data, wherever they appear (header, query, JSON key). */
export const defaultSensitiveName =
  /passw|passwd|pwd|secret|token|api[-_]?key|^key$|auth(?!or)|cookie|session|signature|^sig$|card|cvv|cvc|ssn|iban|^pin$|^code$/i;

export const MASK = '[redacted]';

export function defaultRedactOptions(): RedactOptions {
  return { headers: defaultSensitiveHeaders, sensitiveName: defaultSensitiveName, hashKey: null, queryParams: new Set(), bodyPaths: new Set() };
}

/** 13–19 digits, optionally grouped by spaces or dashes: a payment card number if Luhn agrees. */
const cardCandidate = /\b\d(?:[ -]?\d){12,18}\b/g;
const bearer = /\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
/** `"name": value` in text that is JSON cut short (a value may itself be cut, so the closing
 * quote is optional). */
const jsonMember = /"([^"\\]{1,64})"(\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,}\]\s]+)/g;
/** `name=value` after a start, space, ?, &, ; or quote: query parameters and cookies in text. */
const namedValue = /(^|[\s?&;,"'])([A-Za-z0-9_.-]+)=([^&;\s"',]+)/g;

// Personal data (--redact-pii). E-mail addresses, '@' percent-encoded too (a query string).
const email = /[A-Za-z0-9._%+-]{1,64}(?:@|%40)[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}/g;
/** Phone numbers as people write them: international (+ and 8–15 digits, separators allowed),
 * or national with separators ((555) 123-4567, 555-123-4567, 020 7946 0958). A bare run of
 * digits is not taken for one: it is an id far more often. */
const phone = /(?<![\w+.-])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}|\d{3}[ .-]\d{3}[ .-]\d{4}|0\d{2,4} \d{3,4} \d{3,4})(?![\w.-])/g;
const ipv4 = /(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w.])/g;
/** Candidates, kept only when node:net agrees it is IPv6 ('12:30:45' is a time, not an address). */
const ipv6 = /(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])/g;
const mayHoldPii = /[@:.]|%40|\d{3}/;

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = digits.length - 1, double = false; i >= 0; i--, double = !double) {
    let d = digits.charCodeAt(i) - 48;
    if (double && (d *= 2) > 9) d -= 9;
    sum += d;
  }
  return sum % 10 === 0;
}

/** '$.items[3].card' → '$.items[*].card' (the form configured body paths take). */
function generalise(path: string): string {
  return path.replace(/\[\d+\]/g, '[*]');
}

/** What a value is replaced by under a key: `[h:` 16 hex digits of its HMAC-SHA-256 `]`. */
function keyedTag(key: Buffer, value: string): string {
  return `[h:${createHmac('sha256', key).update(value).digest('hex').slice(0, 16)}]`;
}

export class Redactor {
  /** Hashes personal data: the configured key, else one of this process's own. */
  private piiKey: Buffer | null = null;

  /** Replaced as a whole when a reload changes the redaction settings. */
  constructor(public options: RedactOptions = defaultRedactOptions()) {}

  /** A keyed hash of a personal value: equal values give equal hashes. */
  private hashPii(value: string): string {
    return keyedTag(this.options.hashKey ?? (this.piiKey ??= randomBytes(32)), value);
  }

  /** E-mail addresses, phone numbers and IP addresses replaced by keyed hashes. */
  pii(s: string): string {
    if (!mayHoldPii.test(s)) return s;
    let out = s.replace(email, (m) => this.hashPii(m.replace('%40', '@').toLowerCase()));
    out = out.replace(ipv4, (m) => this.hashPii(m));
    if (out.indexOf(':') >= 0) out = out.replace(ipv6, (m) => (isIP(m) === 6 ? this.hashPii(m.toLowerCase()) : m));
    out = out.replace(phone, (m) => {
      const digits = m.replace(/\D/g, '');
      return digits.length >= 8 && digits.length <= 15 ? this.hashPii(`${m.startsWith('+') ? '+' : ''}${digits}`) : m;
    });
    return out;
  }

  /** A whole value (of any type) replaced by its mask. */
  private maskValue(v: unknown): string {
    return this.mask(typeof v === 'string' ? v : JSON.stringify(v) ?? String(v));
  }

  /** The replacement for a secret value. */
  mask(value: string): string {
    const key = this.options.hashKey;
    return key === null ? MASK : keyedTag(key, value);
  }

  isSensitiveHeader(name: string): boolean {
    const lower = name.toLowerCase();
    return this.options.headers.has(lower) || this.options.sensitiveName.test(lower);
  }

  /** A header list [name, value, …] with sensitive values masked. */
  headerList(headers: readonly string[]): string[] {
    const out = headers.slice();
    for (let i = 0; i + 1 < out.length; i += 2) {
      out[i + 1] = this.isSensitiveHeader(out[i]) ? this.mask(out[i + 1]) : this.text(out[i + 1]);
    }
    return out;
  }

  /** A request target with sensitive query parameter values masked. */
  url(target: string): string {
    const q = target.indexOf('?');
    if (q < 0) return this.text(target);
    const hash = target.indexOf('#', q);
    const query = target.slice(q + 1, hash < 0 ? undefined : hash);
    const parts = query.split('&').map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      let name = pair.slice(0, eq);
      try {
        name = decodeURIComponent(name);
      } catch { /* keep it raw */ }
      return this.sensitiveParam(name) ? `${pair.slice(0, eq)}=${this.mask(pair.slice(eq + 1))}` : pair;
    });
    return this.text(target.slice(0, q + 1) + parts.join('&') + (hash < 0 ? '' : target.slice(hash)));
  }

  private sensitiveParam(name: string): boolean {
    return this.options.sensitiveName.test(name) || this.options.queryParams.has(name);
  }

  /** Free text with bearer credentials, card numbers and secret-named `name=value` pairs
   * (as in a query string or a cookie) masked. */
  text(s: string): string {
    if (this.options.pii === true) s = this.pii(s);
    if (s.length < 13 && !/Bearer|Basic|Token/i.test(s) && s.indexOf('=') < 0) return s;
    let out = s.replace(bearer, (_m, scheme: string) => `${scheme} ${this.mask(_m)}`);
    out = out.replace(namedValue, (m, lead: string, name: string, value: string) =>
      (this.sensitiveParam(name) && !value.startsWith('[') ? `${lead}${name}=${this.mask(value)}` : m));
    if (out.indexOf('":') >= 0 || out.indexOf('" :') >= 0) {
      out = out.replace(jsonMember, (m, name: string, colon: string, value: string) =>
        (this.sensitiveParam(name) ? `"${name}"${colon}${JSON.stringify(this.mask(value))}` : m));
    }
    out = out.replace(cardCandidate, (m) => {
      const digits = m.replace(/[ -]/g, '');
      return luhn(digits) ? this.mask(digits) : m;
    });
    return out;
  }

  /** A parsed JSON value with values under sensitive keys or configured paths masked (a copy;
   * the input is untouched). `path` is the generalised path of `value`. */
  json(value: unknown, path = '$', depth = 0): unknown {
    if (this.options.bodyPaths.has(path) && value !== null) {
      return typeof value === 'object' ? this.mask(JSON.stringify(value)) : this.mask(String(value));
    }
    if (typeof value === 'string') return this.text(value);
    if (typeof value !== 'object' || value === null) return value;
    if (depth > 64) return this.mask(JSON.stringify(value)); // too deep to look into: hidden whole
    if (Array.isArray(value)) return value.map((v) => this.json(v, `${path}[*]`, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      // Under a secret-named key everything goes, objects and lists included.
      out[k] = this.options.sensitiveName.test(k) && v !== null ? this.maskValue(v) : this.json(v, `${path}.${k}`, depth + 1);
    }
    return out;
  }

  /** A body for display: JSON redacted by key, anything else as redacted text. */
  bodyText(text: string): string {
    const t = text.trimStart();
    if (t.startsWith('{') || t.startsWith('[')) {
      try {
        return JSON.stringify(this.json(JSON.parse(text)));
      } catch { /* not JSON after all */ }
    }
    return this.text(text);
  }

  /** True when a diff path (header.x / $.a.b) names something sensitive. */
  isSensitivePath(path: string): boolean {
    if (path.startsWith('header.')) return this.isSensitiveHeader(path.slice(7));
    if (path.startsWith('$') && this.options.bodyPaths.size > 0) {
      const g = generalise(path);
      for (const p of this.options.bodyPaths) if (g === p || g.startsWith(`${p}.`) || g.startsWith(`${p}[`)) return true;
    }
    // Any named step counts: $.api_keys[0] and $.session.id are secrets all the way down.
    for (const m of path.matchAll(/[^.[\]{}"$*]+/g)) {
      if (!/^\d+$/.test(m[0]) && this.options.sensitiveName.test(m[0])) return true;
    }
    return false;
  }

  /** A diff value for display, masked when its path is sensitive. */
  value(path: string, v: unknown): unknown {
    if (v === undefined) return v;
    if (this.isSensitivePath(path)) return v === null ? v : this.maskValue(v);
    return this.json(v, path.startsWith('$') ? generalise(path) : '$');
  }
}
