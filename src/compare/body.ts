// Response bodies as the compare stage sees them: Content-Encoding undone (with a hard cap on
// the decoded size, so a decompression bomb costs an error, not the process) and a coarse kind
// that picks the comparison: structural JSON, text lines, or bytes.
import { isUtf8 } from 'node:buffer';
import * as zlib from 'node:zlib';

export type BodyKind = 'json' | 'text' | 'binary';

export interface DecodedBody {
  /** The decoded body; on error the body exactly as given (never a partial decode). */
  body: Buffer;
  error: string | null;
}

type Decoder = (buf: Buffer, opts: zlib.ZlibOptions | zlib.BrotliOptions) => Buffer;

// zstd arrived in node:zlib with Node 22.15 / 23.8; use it when the runtime has it.
const zstd = (zlib as unknown as { zstdDecompressSync?: Decoder }).zstdDecompressSync;

/** A zlib (RFC 1950) header: CM = 8 (deflate), CINFO ≤ 7, and the 16-bit header a multiple of 31. */
function looksZlibWrapped(buf: Buffer): boolean {
  if (buf.length < 2) return false;
  const cmf = buf[0]!, flg = buf[1]!;
  return (cmf & 0x0f) === 8 && (cmf >> 4) <= 7 && ((cmf << 8) | flg) % 31 === 0;
}

/** "Content-Encoding: deflate" means zlib-wrapped by the RFC, but many servers send raw deflate. */
function inflateEither(buf: Buffer, opts: zlib.ZlibOptions): Buffer {
  if (looksZlibWrapped(buf)) {
    try {
      return zlib.inflateSync(buf, opts);
    } catch (e) {
      // Too big is final; otherwise the two header bytes may have been a raw stream's by chance.
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw e;
    }
  }
  return zlib.inflateRawSync(buf, opts);
}

function decoderFor(coding: string): Decoder | null {
  switch (coding) {
    case 'gzip': case 'x-gzip': return zlib.gunzipSync;
    case 'deflate': return inflateEither;
    case 'br': return zlib.brotliDecompressSync;
    case 'zstd': return zstd ?? null;
    default: return null;
  }
}

function errorText(e: unknown, maxBytes: number): string {
  const err = e as NodeJS.ErrnoException;
  if (err && (err.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError)) return `decoded size exceeds ${maxBytes} bytes`;
  return err && typeof err.message === 'string' ? err.message : String(e);
}

/**
 * Undo a Content-Encoding. Codings in a list were applied left to right, so they are undone
 * right to left. `identity` (and an empty/absent header) is a no-op. Every failure — unknown
 * coding, corrupt stream, output over `maxBytes` — is returned as `error` with the body untouched.
 */
export function decodeBody(body: Buffer, contentEncoding: string | null, maxBytes: number): DecodedBody {
  if (contentEncoding === null) return { body, error: null };
  const codings = contentEncoding.split(',').map((c) => c.trim().toLowerCase()).filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return { body, error: null };
  const cap = Math.max(1, Math.min(Math.floor(maxBytes), 0x7fffffff));
  let cur = body;
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i]!;
    const dec = decoderFor(coding);
    if (dec === null) return { body, error: `unsupported content-encoding '${coding}'` };
    if (cur.length === 0) continue; // an empty body with a coding header (HEAD, 204, 304) stays empty
    try {
      cur = dec(cur, { maxOutputLength: cap });
    } catch (e) {
      return { body, error: `${coding}: ${errorText(e, maxBytes)}` };
    }
    if (cur.length > maxBytes) return { body, error: `${coding}: decoded size exceeds ${maxBytes} bytes` };
  }
  return { body: cur, error: null };
}

// A service answers with a handful of Content-Type values: what each says is remembered (the
// first 256 values of up to 128 characters).
const MAX_REMEMBERED_TYPES = 256;
const MAX_REMEMBERED_LENGTH = 128;
const mediaTypes = new Map<string, string>();
const charsets = new Map<string, string | null>();

/** The media type of a Content-Type value, lower case, without parameters ('' when absent). */
export function mediaType(contentType: string | null): string {
  if (contentType === null) return '';
  let t = mediaTypes.get(contentType);
  if (t === undefined) {
    const semi = contentType.indexOf(';');
    t = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
    if (mediaTypes.size < MAX_REMEMBERED_TYPES && contentType.length <= MAX_REMEMBERED_LENGTH) mediaTypes.set(contentType, t);
  }
  return t;
}

/** The charset parameter of a Content-Type value, lower case, or null. */
export function charsetOf(contentType: string | null): string | null {
  if (contentType === null) return null;
  let cs = charsets.get(contentType);
  if (cs === undefined) {
    const m = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType);
    cs = m ? m[1]!.toLowerCase() : null;
    if (charsets.size < MAX_REMEMBERED_TYPES && contentType.length <= MAX_REMEMBERED_LENGTH) charsets.set(contentType, cs);
  }
  return cs;
}

function isJsonType(t: string): boolean {
  return t === 'application/json' || t === 'text/json' || t.endsWith('+json');
}

function isTextType(t: string): boolean {
  return t.startsWith('text/')
    || t === 'application/xml' || t.endsWith('+xml')
    || t === 'application/javascript' || t === 'application/x-javascript' || t === 'application/ecmascript'
    || t === 'application/x-www-form-urlencoded'
    || t === 'application/x-ndjson' || t === 'application/jsonl' || t === 'application/json-seq'
    || t === 'application/yaml' || t === 'application/x-yaml' || t.endsWith('+yaml')
    || t === 'application/graphql' || t === 'application/csv';
}

/** Types that are bytes whatever they happen to contain. */
function isBinaryType(t: string): boolean {
  return t.startsWith('image/') || t.startsWith('audio/') || t.startsWith('video/') || t.startsWith('font/')
    || t === 'application/octet-stream' || t === 'application/pdf' || t === 'application/zip'
    || t === 'application/gzip' || t === 'application/wasm'
    || t.includes('protobuf') || t.startsWith('application/grpc') || t.startsWith('application/vnd.ms-');
}

/** Valid UTF-8 and no C0 control bytes other than tab, LF, FF, CR (and no DEL). */
export function looksLikeText(body: Buffer): boolean {
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!;
    if (b < 0x20) {
      if (b !== 0x09 && b !== 0x0a && b !== 0x0c && b !== 0x0d) return false;
    } else if (b === 0x7f) return false;
  }
  return isUtf8(body);
}

/** The body as a string: UTF-8 (BOM dropped) unless a charset that TextDecoder knows says otherwise. */
export function bodyText(body: Buffer, contentType: string | null = null): string {
  const cs = charsetOf(contentType);
  if (cs !== null && cs !== 'utf-8' && cs !== 'utf8') {
    try {
      return new TextDecoder(cs).decode(body);
    } catch { /* unknown label: fall through to UTF-8 */ }
  }
  const s = body.toString('utf8');
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}

function firstNonSpace(body: Buffer): number {
  let i = 0;
  if (body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) i = 3;
  for (; i < body.length; i++) {
    const b = body[i]!;
    if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return b;
  }
  return -1;
}

/** Parse a body as JSON; `undefined` when it is not JSON. */
export function parseJsonBody(body: Buffer, contentType: string | null = null): unknown {
  try {
    return JSON.parse(bodyText(body, contentType)) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Which comparison fits: JSON by media type (application/json, text/json, *+json), or — with no
 * Content-Type — by a successful parse of a body that starts with '{' or '['; text for text/*,
 * XML, JavaScript, form-urlencoded and a few other textual types; known binary families stay
 * binary; anything else (or no type) is text when it is valid UTF-8 without control bytes.
 */
export function bodyKind(contentType: string | null, body: Buffer): BodyKind {
  const t = mediaType(contentType);
  if (isJsonType(t)) return 'json';
  if (isTextType(t)) return 'text';
  if (isBinaryType(t)) return 'binary';
  if (t === '') {
    const c = firstNonSpace(body);
    if ((c === 0x7b || c === 0x5b) && parseJsonBody(body) !== undefined) return 'json';
  }
  return looksLikeText(body) ? 'text' : 'binary';
}
