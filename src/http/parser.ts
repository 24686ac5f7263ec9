// http-parser-js, hardened for hostile input: chunk sizes and Content-Length are validated
// (the stock parser loops forever on a negative size) and lines are bounded.

import { HTTPParser } from 'http-parser-js';

export interface HeaderInfo {
  versionMajor: number;
  versionMinor: number;
  headers: string[];
  method: number;
  url: string;
  statusCode: number;
  statusMessage: string;
  upgrade: boolean;
}

/** The parts of http-parser-js's parser object that we use. */
export interface Parser {
  state: string;
  line: string;
  /** Where execute() stopped in the chunk (after an error: just past what it consumed). */
  offset: number;
  /** Read after kOnHeadersComplete returns: true sends the body through the chunked states. */
  isChunked: boolean;
  execute(chunk: Buffer, start: number, length: number): number | Error;
  finish(): void | Error;
  reinitialize(type: string): void;
  [HTTPParser.kOnHeadersComplete]: (info: HeaderInfo) => number | boolean | void;
  [HTTPParser.kOnBody]: (chunk: Buffer, offset: number, length: number) => void;
  [HTTPParser.kOnHeaders]: (trailers: string[], url: string) => void;
  [HTTPParser.kOnMessageComplete]: () => void;
}

// One character per byte, every byte kept: the stock 'ascii' clears the top bit of bytes over
// 0x7f, which would change raw UTF-8 or latin1 in a target or header value before replay.
(HTTPParser as unknown as { encoding: string }).encoding = 'latin1';

export const REQUEST = HTTPParser.REQUEST;
export const RESPONSE = HTTPParser.RESPONSE;
export const methods: readonly string[] = (HTTPParser as unknown as { methods: string[] }).methods;
export const kOnHeadersComplete = HTTPParser.kOnHeadersComplete;
export const kOnBody = HTTPParser.kOnBody;
export const kOnHeaders = HTTPParser.kOnHeaders;
export const kOnMessageComplete = HTTPParser.kOnMessageComplete;

/** Longest line (request line, header, chunk size, trailer) we accept. */
export const MAX_LINE = 64 * 1024;
/** Most bytes one message head (start line + headers), or one trailer section, may take. */
export const MAX_HEAD = 80 * 1024;

export class HttpParseError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

const chunkSizeLine = /^([0-9a-fA-F]{1,12})[ \t]*(?:;.*)?$/;

interface ParserInternals {
  consumeLine(): string | undefined;
  body_bytes: number | null;
  state: string;
  line: string;
  offset: number;
  maxHeaderSize: number;
  /** Bytes of the current head, and of its trailer section, consumed so far. */
  headBytes: number;
  trailerBytes: number;
}

const consumeLine = (HTTPParser.prototype as unknown as ParserInternals).consumeLine;

function SafeParser(this: ParserInternals, type: string): void {
  (HTTPParser as unknown as (this: unknown, type: string) => void).call(this, type);
  // http-parser-js adds every byte of an execute() call to its header count when the call
  // ends between messages, bodies of completed messages included, and never counts a head
  // that completes within the call: a large body segment made the next, normal head fail,
  // while a 100 KB header split over two segments passed. We count heads ourselves instead.
  this.maxHeaderSize = Infinity;
  this.headBytes = 0;
  this.trailerBytes = 0;
  (this as unknown as HeadInternals).headIsLast = false;
}
SafeParser.prototype = Object.create(HTTPParser.prototype);
// http-parser-js's initialize(), run for every message, field for field, but its first state is
// one of two literal names: `type + '_LINE'` made a new string each time, which every state
// check then compared character by character and every keyed call by state looked up anew.
SafeParser.prototype.initialize = function (this: Record<string, unknown>, type: string): void {
  if (type !== HTTPParser.REQUEST && type !== HTTPParser.RESPONSE) throw new Error('type must be REQUEST or RESPONSE');
  this.type = type;
  this.state = type === HTTPParser.REQUEST ? 'REQUEST_LINE' : 'RESPONSE_LINE';
  this.info = { headers: [], upgrade: false };
  this.trailers = [];
  this.line = '';
  this.isChunked = false;
  this.connection = '';
  this.headerSize = 0;
  this.body_bytes = null;
  this.isUserCall = false;
  this.hadError = false;
};
// nextRequest() re-runs the constructor through reinitialize; keep it ours.
SafeParser.prototype.reinitialize = SafeParser;
SafeParser.prototype.consumeLine = function (this: ParserInternals): string | undefined {
  const before = this.offset;
  const line = consumeLine.call(this);
  const state = this.state;
  if (state === 'REQUEST_LINE' || state === 'RESPONSE_LINE' || state === 'HEADER') {
    this.headBytes += this.offset - before;
    if (this.headBytes > MAX_HEAD) throw new HttpParseError('HPE_HEADER_OVERFLOW', `message head longer than ${MAX_HEAD} bytes`);
  } else if (state === 'BODY_CHUNKTRAILERS') {
    this.trailerBytes += this.offset - before;
    if (this.trailerBytes > MAX_HEAD) throw new HttpParseError('HPE_HEADER_OVERFLOW', `trailers longer than ${MAX_HEAD} bytes`);
  }
  if ((line === undefined ? this.line.length : line.length) > MAX_LINE) {
    throw new HttpParseError('HPE_LINE_TOO_LONG', `line longer than ${MAX_LINE} bytes`);
  }
  return line;
};
SafeParser.prototype.BODY_CHUNKHEAD = function (this: ParserInternals): void {
  const line = this.consumeLine();
  if (line === undefined) return;
  const match = chunkSizeLine.exec(line);
  if (match === null) throw new HttpParseError('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size line');
  this.body_bytes = parseInt(match[1], 16);
  this.state = this.body_bytes === 0 ? 'BODY_CHUNKTRAILERS' : 'BODY_CHUNK';
};

/** name.toLowerCase() === lower, for an ASCII `lower`, without making the lower-case string
 * when `name` is ASCII (a name with other characters is lower-cased as before). */
export function isNamed(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let k = 0; k < name.length; k++) {
    let c = name.charCodeAt(k);
    if (c >= 0x80) return name.toLowerCase() === lower;
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(k)) return false;
  }
  return true;
}

/** Header names lower-cased before, up to LOWER_NAMES_KEPT of them (all forgotten at once past it). */
let lowerNames = new Map<string, string>();
const LOWER_NAMES_KEPT = 1024;
const LOWER_NAME_LENGTH = 64;

/** name.toLowerCase(), remembered: the same few names come in every message. */
export function lowerName(name: string): string {
  const known = lowerNames.get(name);
  if (known !== undefined) return known;
  const lower = name.toLowerCase();
  if (name.length <= LOWER_NAME_LENGTH) {
    if (lowerNames.size >= LOWER_NAMES_KEPT) lowerNames = new Map();
    lowerNames.set(name, lower);
  }
  return lower;
}

function parseErrorCode(code: string): Error {
  return Object.assign(new Error('Parse Error'), { code });
}

interface HeaderStateInternals {
  consumeLine(): string | undefined;
  parseHeader(line: string, headers: string[]): void;
  info: HeaderInfo & { shouldKeepAlive?: boolean; method?: number };
  isChunked: boolean;
  body_bytes: number | null;
  connection: string;
  type: string;
  state: string;
  shouldKeepAlive(): boolean;
  userCall(): (ret: unknown) => unknown;
  nextRequest(): void;
  [HTTPParser.kOnHeadersComplete]: (info: HeaderInfo) => number | boolean | void;
}

const methodConnect = methods.indexOf('CONNECT');

// http-parser-js's HEADER state, line for line, but header names are matched without
// lower-casing each into a new string.
SafeParser.prototype.HEADER = function (this: HeaderStateInternals & ParserInternals & HeadInternals & { chunk: Buffer; end: number }): boolean | void {
  let line: string | undefined;
  const at = this.offset;
  if (this.line === '' && at + 1 < this.end && this.chunk[at] === CR && this.chunk[at + 1] === LF) {
    // The empty line that ends the head (where the fast path leaves a head), counted as
    // consumeLine() counts it, without making a string of it.
    this.offset = at + 2;
    this.headBytes += 2;
    if (this.headBytes > MAX_HEAD) throw new HttpParseError('HPE_HEADER_OVERFLOW', `message head longer than ${MAX_HEAD} bytes`);
    line = '';
  } else {
    line = this.consumeLine();
    if (line === undefined) return;
  }
  const info = this.info;
  if (line) {
    this.parseHeader(line, info.headers);
    return;
  }
  const headers = info.headers;
  let hasContentLength = false;
  let hasUpgradeHeader = false;
  // The same header lines as the last head's give the same framing: taken from there.
  const last = this.headIsLast ? this.lastHead : undefined;
  this.headIsLast = false;
  const known = last === undefined ? null : last.framing;
  if (known !== null) {
    if (known.transferEncoding) this.isChunked = known.chunked;
    hasContentLength = known.contentLength >= 0;
    if (hasContentLength) this.body_bytes = known.contentLength;
    this.connection += known.connection;
    hasUpgradeHeader = known.upgrade;
  } else {
    let transferEncoding = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      if (isNamed(name, 'transfer-encoding')) {
        transferEncoding = true;
        this.isChunked = headers[i + 1].toLowerCase() === 'chunked';
      } else if (isNamed(name, 'content-length')) {
        const value = +headers[i + 1];
        if (hasContentLength) {
          // Repeated with the same value is accepted; a different one is an error.
          if (value !== this.body_bytes) throw parseErrorCode('HPE_UNEXPECTED_CONTENT_LENGTH');
        } else {
          hasContentLength = true;
          this.body_bytes = value;
        }
      } else if (isNamed(name, 'connection')) {
        this.connection += headers[i + 1].toLowerCase();
      } else if (isNamed(name, 'upgrade')) {
        hasUpgradeHeader = true;
      }
    }
    if (last !== undefined) {
      // (-1: none. A Content-Length that is negative or not a number is not remembered.)
      const length = hasContentLength ? (this.body_bytes as number) : -1;
      if (!hasContentLength || length >= 0) last.framing = new Framing(transferEncoding, this.isChunked, length, this.connection, hasUpgradeHeader);
    }
  }
  // Chunked wins over Content-Length.
  if (this.isChunked && hasContentLength) {
    hasContentLength = false;
    this.body_bytes = null;
  }
  if (hasUpgradeHeader && this.connection.indexOf('upgrade') != -1) {
    info.upgrade = this.type === HTTPParser.REQUEST || info.statusCode === 101;
  } else {
    info.upgrade = info.method === methodConnect;
  }
  if (this.isChunked && info.upgrade) this.isChunked = false;
  info.shouldKeepAlive = this.shouldKeepAlive();
  const skipBody = this.userCall()(this[HTTPParser.kOnHeadersComplete](info));
  if (skipBody === 2) {
    this.nextRequest();
    return true;
  } else if (this.isChunked && !skipBody) {
    this.state = 'BODY_CHUNKHEAD';
  } else if (skipBody || this.body_bytes === 0) {
    this.nextRequest();
    return info.upgrade;
  } else if (this.body_bytes === null) {
    this.state = 'BODY_RAW';
  } else {
    this.state = 'BODY_SIZED';
  }
};

// http-parser-js's BODY_SIZED, but the body is handed on as (chunk, offset, length) without a
// Buffer view made of it first: kOnBody's handlers take the offset.
SafeParser.prototype.BODY_SIZED = function (this: HeaderStateInternals & { end: number; offset: number; chunk: Buffer;
  [HTTPParser.kOnBody]: (chunk: Buffer, offset: number, length: number) => void; }): void {
  const length = Math.min(this.end - this.offset, this.body_bytes as number);
  this.userCall()(this[HTTPParser.kOnBody](this.chunk, this.offset, length));
  this.offset += length;
  (this.body_bytes as number) -= length;
  if (!this.body_bytes) this.nextRequest();
};

interface ExecuteInternals {
  chunk: Buffer | null;
  offset: number;
  end: number;
  state: string;
  isUserCall: boolean;
  hadError: boolean;
  headerSize: number;
  maxHeaderSize: number;
  HEADER(): boolean | void;
  BODY_SIZED(): boolean | void;
  REQUEST_LINE(): boolean | void;
  RESPONSE_LINE(): boolean | void;
}

/** Runs the parser's current state; the common ones by name (a keyed call on the state's
 * name costs more than the state's work when the head came through the fast path). */
function runState(p: ExecuteInternals): boolean | void {
  switch (p.state) {
    case 'HEADER': return p.HEADER();
    case 'BODY_SIZED': return p.BODY_SIZED();
    case 'REQUEST_LINE': return p.REQUEST_LINE();
    case 'RESPONSE_LINE': return p.RESPONSE_LINE();
    default: return (p as unknown as Record<string, () => boolean | void>)[p.state]();
  }
}

// http-parser-js's execute(), step for step, with its state's name compared instead of looked
// up in objects (run a state, and "is this a head state?" after the loop).
SafeParser.prototype.execute = function (this: ExecuteInternals, chunk: Buffer, start?: number, length?: number): number | Error {
  const self: unknown = this;
  if (!(self instanceof HTTPParser)) throw new TypeError('not a HTTPParser');
  start = start || 0;
  length = typeof length === 'number' ? length : chunk.length;
  this.chunk = chunk;
  this.offset = start;
  const end = this.end = start + length;
  try {
    while (this.offset < end) {
      if (runState(this)) break;
    }
  } catch (err) {
    if (this.isUserCall) throw err;
    this.hadError = true;
    return err as Error;
  }
  this.chunk = null;
  length = this.offset - start;
  const state = this.state;
  if (state === 'REQUEST_LINE' || state === 'RESPONSE_LINE' || state === 'HEADER') {
    this.headerSize += length;
    if (this.headerSize > (this.maxHeaderSize || (HTTPParser as unknown as { maxHeaderSize: number }).maxHeaderSize)) {
      return new Error('max header size exceeded');
    }
  }
  return length;
};

// The stock userCall() allocates a closure per callback; one per parser does the same job.
SafeParser.prototype.userCall = function (this: { isUserCall: boolean; endUserCall?: (ret: unknown) => unknown }) {
  this.isUserCall = true;
  if (this.endUserCall === undefined) {
    this.endUserCall = (ret: unknown) => {
      this.isUserCall = false;
      return ret;
    };
  }
  return this.endUserCall;
};

/** A hardened parser; `stockHeads` keeps http-parser-js's own execute(), HEADER and BODY_SIZED
 * (the path the fast one is compared with). */
export function createParser(type: string, stockHeads = false): Parser {
  const parser = new (SafeParser as unknown as new (type: string) => Parser)(type);
  if (stockHeads) {
    const own = parser as unknown as { HEADER: unknown; BODY_SIZED: unknown; execute: unknown };
    const stock = HTTPParser.prototype as unknown as { HEADER: unknown; BODY_SIZED: unknown; execute: unknown };
    own.HEADER = stock.HEADER;
    own.BODY_SIZED = stock.BODY_SIZED;
    own.execute = stock.execute;
  }
  return parser;
}

/** True when `value` is 1 to 15 decimal digits (/^[0-9]{1,15}$/, without a regular expression). */
function isContentLengthValue(value: string): boolean {
  const length = value.length;
  if (length === 0 || length > 15) return false;
  for (let k = 0; k < length; k++) {
    const c = value.charCodeAt(k);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Throws unless every Content-Length header of `headers` is a plain decimal number. */
export function checkContentLength(headers: string[]): void {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (isNamed(name, 'content-length') && !isContentLengthValue(headers[i + 1])) {
      throw new HttpParseError('HPE_INVALID_CONTENT_LENGTH', `invalid Content-Length ${JSON.stringify(headers[i + 1].slice(0, 40))}`);
    }
  }
}

const methodNames = new Set(methods);
const methodPrefixes = new Set(methods.flatMap((m) => Array.from({ length: m.length }, (_, i) => m.slice(0, i + 1))));

/** True unless `line`, the unfinished first line of a message, already cannot be a request
 * line (type REQUEST) or a status line (RESPONSE). Lets non-HTTP streams fail at once
 * instead of after 64 KiB without a newline. */
export function couldStartMessage(type: string, line: string): boolean {
  if (line.length === 0 || line === '\r') return true;
  if (type === RESPONSE) return line.length <= 5 ? 'HTTP/'.startsWith(line) : line.startsWith('HTTP/');
  const space = line.indexOf(' ');
  return space < 0 ? methodPrefixes.has(line) : methodNames.has(line.slice(0, space));
}

/** True when the parser sits between messages (nothing of the next one consumed yet). */
export function isIdle(parser: Parser, type: string): boolean {
  return parser.state === (type === REQUEST ? 'REQUEST_LINE' : 'RESPONSE_LINE') && parser.line.trim() === '';
}

/** Every value of a header in a raw header list, joined with ', ' (a repeated header is one
 * list, RFC 9110 §5.3), or null when absent. */
export function joinedHeaderValue(headers: readonly string[], lowerName: string): string | null {
  let out: string | null = null;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i];
    if (isNamed(name, lowerName)) out = out === null ? headers[i + 1].trim() : `${out}, ${headers[i + 1].trim()}`;
  }
  return out;
}

/** Case-insensitive lookup in a raw header list; the first value, or null. */
export function headerValue(headers: string[], lowerName: string): string | null {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (isNamed(name, lowerName)) return headers[i + 1];
  }
  return null;
}

// ---------------------------------------------------------------------------
// The fast path for ordinary heads. http-parser-js turns every line of a head into a string
// and matches it with a regular expression; most heads are plain, whole in one chunk, and can
// be read straight from the Buffer. Only the start line and header lines are read here: the
// empty line that ends the head is left to the parser's HEADER state, which then decides the
// body's framing (Content-Length, chunked, upgrade, 1xx ...) and calls the callbacks, so
// everything after the header lines is the same code as for any other head. A head that is
// not plain — split over chunks, leading empty lines, a bare CR or LF, obs-fold, an odd start
// line, an unknown method, a malformed header line, a line or head over the limits — is left
// whole to http-parser-js, which judges it (and fails it) exactly as before.

const CR = 13;
const LF = 10;
const SP = 32;
const TAB = 9;
const COLON = 58;
const DEL = 127;

const methodIndex = new Map<string, number>();
methods.forEach((m, i) => { if (!methodIndex.has(m)) methodIndex.set(m, i); });

interface HeadInternals {
  info: {
    headers: string[]; method?: number; url?: string; versionMajor?: number; versionMinor?: number;
    statusCode?: number; statusMessage?: string;
  };
  body_bytes: number | null;
  state: string;
  line: string;
  headBytes: number;
  /** Undefined before the first ordinary head, NOTHING_KEPT after it, then the last one. */
  lastHead: LastHead | undefined;
  /** The head just read is lastHead's, header for header (its framing may be taken from there). */
  headIsLast: boolean;
}

/** What a head's headers say of its framing, as HEADER reads them (before the rules that
 * combine them with the start line). */
class Framing {
  constructor(readonly transferEncoding: boolean, readonly chunked: boolean, readonly contentLength: number,
    readonly connection: string, readonly upgrade: boolean) {}
}

/** Header and start lines taken from the parser's last head (LastHead) since the process began. */
export const headLines = { remembered: 0 };

/** Heads up to this size are remembered for the next one (a few hundred bytes per parser). */
const MAX_REMEMBERED_HEAD = 1024;

/** A DataView of the last buffer asked for (heads come from a few batch buffers in turn). */
let viewedBuffer: Buffer | null = null;
let bufferView: DataView = new DataView(new ArrayBuffer(0));

function viewOf(buf: Buffer): DataView {
  if (buf !== viewedBuffer) {
    bufferView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    viewedBuffer = buf;
  }
  return bufferView;
}

/**
 * The last ordinary head a parser read, line by line: its bytes, where each line ends and
 * what was read from each. A line of the next head with the very same bytes (CRLF included)
 * reads the same, so it is taken from here instead of being scanned and sliced again: most
 * heads on a connection repeat most of their lines (a Date changes, a target, a length).
 */
class LastHead {
  /** The head's lines, start line first, each with its CRLF; the empty line is not kept. */
  bytes = Buffer.alloc(0);
  view: DataView = new DataView(this.bytes.buffer, this.bytes.byteOffset, 0);
  /** Offset in `bytes` after line k's CRLF; `lines` of them are valid. */
  lineEnds: number[] = [];
  lines = 0;
  /** Header line k's name and value at 2(k-1) and 2(k-1)+1. */
  fields: string[] = [];
  method = -1;
  url = '';
  major = 0;
  minor = 0;
  status = 0;
  statusMessage = '';
  /** What HEADER read of the framing of this head's headers; null until it did. */
  framing: Framing | null = null;

  /** Takes buf[start..end), `lines` lines each ending in CRLF, read as the other arguments say. */
  remember(buf: Buffer, start: number, end: number, lines: number, headers: readonly string[], method: number, url: string,
    major: number, minor: number, status: number, statusMessage: string): void {
    const length = end - start;
    if (this.bytes.length < length) {
      this.bytes = Buffer.allocUnsafe(Math.max(length, 2 * this.bytes.length));
      this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length);
    }
    buf.copy(this.bytes, 0, start, end);
    const lineEnds = this.lineEnds;
    let line = 0;
    for (let j = 1; j < length; j++) if (buf[start + j] === LF && buf[start + j - 1] === CR) lineEnds[line++] = j + 1;
    lineEnds.length = line;
    this.lines = line === lines ? lines : 0; // (a bare CR LF inside a line would make more: never from an ordinary head)
    const fields = this.fields;
    fields.length = headers.length;
    for (let j = 0; j < headers.length; j++) fields[j] = headers[j];
    this.method = method;
    this.url = url;
    this.major = major;
    this.minor = minor;
    this.status = status;
    this.statusMessage = statusMessage;
    this.framing = null;
  }

  /** The length of line k when buf[at..end) starts with it, else 0. */
  match(k: number, buf: Buffer, at: number, end: number): number {
    if (k >= this.lines) return 0;
    const from = k === 0 ? 0 : this.lineEnds[k - 1];
    const length = this.lineEnds[k] - from;
    return at + length <= end && this.sameBytes(from, buf, at, length) ? length : 0;
  }

  /** The length of the whole head (its lines, not the empty line) when buf[at..end) starts
   * with it followed by the empty line, else 0. */
  matchAll(buf: Buffer, at: number, end: number): number {
    if (this.lines === 0) return 0;
    const length = this.lineEnds[this.lines - 1];
    return at + length + 2 <= end && buf[at + length] === CR && buf[at + length + 1] === LF &&
      this.sameBytes(0, buf, at, length) ? length : 0;
  }

  /** True when bytes[from, from + length) and buf[at, at + length) are equal. */
  private sameBytes(from: number, buf: Buffer, at: number, length: number): boolean {
    // Four bytes at a time (unaligned loads), then the rest one by one.
    const mine = this.view;
    const theirs = viewOf(buf);
    let j = 0;
    for (; j + 4 <= length; j += 4) if (theirs.getInt32(at + j) !== mine.getInt32(from + j)) return false;
    const bytes = this.bytes;
    for (; j < length; j++) if (buf[at + j] !== bytes[from + j]) return false;
    return true;
  }
}

/** A parser's lastHead after its first head: nothing kept yet (a connection that carries one
 * request never repeats it; the memory of a head is only worth it on a kept-alive one). */
const NOTHING_KEPT = new LastHead();

/** buf.toString('latin1', from, to) without its argument checks (Node's own method behind it). */
const latin1 = (buf: Buffer, from: number, to: number): string =>
  (buf as unknown as { latin1Slice(from: number, to: number): string }).latin1Slice(from, to);

/** Recent header names and short values by a hash of their bytes: a head that repeats one
 * (most do) gets the same string again instead of a new one to collect. */
const recentNames: string[] = new Array<string>(512).fill('');
const recentValues: string[] = new Array<string>(1024).fill('');
const MAX_RECENT_VALUE = 64;

/** latin1(buf, from, to), the string remembered in `recent` when it holds those bytes. */
function recentOrNew(recent: string[], buf: Buffer, from: number, to: number): string {
  const length = to - from;
  if (length === 0) return '';
  const slot = (length * 31 + buf[from] * 7 + buf[to - 1] * 3 + buf[from + (length >> 1)]) & (recent.length - 1);
  const known = recent[slot];
  if (known.length === length) {
    let k = 0;
    while (k < length && known.charCodeAt(k) === buf[from + k]) k++;
    if (k === length) return known;
  }
  const made = latin1(buf, from, to);
  recent[slot] = made;
  return made;
}

const isDigit = (b: number): boolean => b >= 48 && b <= 57;

/** True when the line from `lineStart` ends at `at` with CRLF and is within MAX_LINE. */
function endsLine(buf: Buffer, lineStart: number, at: number, end: number): boolean {
  return at + 1 < end && buf[at] === CR && buf[at + 1] === LF && at - lineStart <= MAX_LINE;
}

function declined(headers: string[]): number {
  headers.length = 0;
  return -1;
}

/**
 * Reads an ordinary message head at buf[start..end) into `parser`, which must sit between
 * messages with nothing of the next one read (state REQUEST_LINE/RESPONSE_LINE, line '').
 * Returns the offset of the CRLF that ends the head, where http-parser-js takes over in
 * state HEADER, or -1 (the parser untouched) when the head is not ordinary.
 */
export function readOrdinaryHead(parser: Parser, type: string, buf: Buffer, start: number, end: number): number {
  const p = parser as unknown as HeadInternals;
  if (p.info.headers.length !== 0) return -1;
  const kept = p.lastHead;
  let last = kept ?? NOTHING_KEPT;
  const whole = last.matchAll(buf, start, end);
  if (whole > 0 && p.headBytes + whole + 2 <= MAX_HEAD) {
    // The last head again, every line of it (most often): its fields as they were read.
    const headers = p.info.headers;
    const fields = last.fields;
    for (let j = 0; j < fields.length; j++) headers.push(fields[j]);
    headLines.remembered += last.lines;
    p.headIsLast = true;
    return headRead(p, type, start, start + whole, last.method, last.url, last.major, last.minor, last.status, last.statusMessage);
  }
  let i = start;
  let method = -1;
  let url = '';
  let major: number;
  let minor: number;
  let status = 0;
  let statusMessage = '';
  /** Lines of this head that are the last head's, from the first on. */
  let same = 0;
  const startLine = last.match(0, buf, start, end);
  if (startLine > 0) {
    method = last.method;
    url = last.url;
    major = last.major;
    minor = last.minor;
    status = last.status;
    statusMessage = last.statusMessage;
    i += startLine - 2;
    same = 1;
    headLines.remembered++;
  } else if (type === REQUEST) {
    // METHOD SP target SP HTTP/d.d CRLF, as /^([A-Z-]+) ([^ ]+) HTTP\/(\d)\.(\d)$/ with a known method.
    while (i < end && ((buf[i] >= 65 && buf[i] <= 90) || buf[i] === 45)) i++;
    if (i === start || i >= end || buf[i] !== SP) return -1;
    const known = methodIndex.get(recentOrNew(recentNames, buf, start, i));
    if (known === undefined) return -1;
    method = known;
    const target = ++i;
    while (i < end && buf[i] > SP && buf[i] !== DEL) i++;
    if (i === target || i + 10 > end || buf[i] !== SP) return -1;
    url = latin1(buf, target, i);
    if (buf[i + 1] !== 72 || buf[i + 2] !== 84 || buf[i + 3] !== 84 || buf[i + 4] !== 80 || buf[i + 5] !== 47 ||
        !isDigit(buf[i + 6]) || buf[i + 7] !== 46 || !isDigit(buf[i + 8])) return -1;
    major = buf[i + 6] - 48;
    minor = buf[i + 8] - 48;
    i += 9;
    if (!endsLine(buf, start, i, end)) return -1;
  } else {
    // HTTP/d.d SP ddd [SP reason] CRLF, as /^HTTP\/(\d)\.(\d) (\d{3}) ?(.*)$/.
    if (start + 14 > end || buf[i] !== 72 || buf[i + 1] !== 84 || buf[i + 2] !== 84 || buf[i + 3] !== 80 ||
        buf[i + 4] !== 47 || !isDigit(buf[i + 5]) || buf[i + 6] !== 46 || !isDigit(buf[i + 7]) || buf[i + 8] !== SP ||
        !isDigit(buf[i + 9]) || !isDigit(buf[i + 10]) || !isDigit(buf[i + 11])) return -1;
    major = buf[i + 5] - 48;
    minor = buf[i + 7] - 48;
    status = (buf[i + 9] - 48) * 100 + (buf[i + 10] - 48) * 10 + (buf[i + 11] - 48);
    i += 12;
    if (buf[i] === SP) {
      const reason = ++i;
      while (i < end && buf[i] !== CR && buf[i] !== LF) i++;
      statusMessage = i - reason <= MAX_RECENT_VALUE ? recentOrNew(recentValues, buf, reason, i) : latin1(buf, reason, i);
    }
    if (!endsLine(buf, start, i, end)) return -1;
  }
  i += 2;
  // Header lines, each `name: value` as /^([^: \t]+):[ \t]*((?:.*[^ \t])|)/, until the empty line.
  // Pushed onto the parser's own (empty) list, emptied again if the head turns out not ordinary.
  const headers = p.info.headers;
  let k = 1;
  for (; ; k++) {
    if (i >= end) return declined(headers);
    const lineStart = i;
    if (buf[i] === CR) {
      if (i + 1 >= end || buf[i + 1] !== LF) return declined(headers);
      break;
    }
    if (same === k) {
      const length = last.match(k, buf, i, end);
      if (length > 0) {
        headers.push(last.fields[2 * k - 2], last.fields[2 * k - 1]);
        i += length;
        same++;
        headLines.remembered++;
        continue;
      }
    }
    while (i < end && buf[i] > SP && buf[i] !== COLON && buf[i] !== DEL) i++;
    if (i === lineStart || i >= end || buf[i] !== COLON) return declined(headers);
    const nameEnd = i++;
    while (i < end && (buf[i] === SP || buf[i] === TAB)) i++;
    const valueStart = i;
    while (i < end && buf[i] !== CR && buf[i] !== LF) i++;
    if (!endsLine(buf, lineStart, i, end)) return declined(headers);
    let valueEnd = i;
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === TAB)) valueEnd--;
    headers.push(recentOrNew(recentNames, buf, lineStart, nameEnd),
      valueEnd - valueStart <= MAX_RECENT_VALUE ? recentOrNew(recentValues, buf, valueStart, valueEnd) : latin1(buf, valueStart, valueEnd));
    i += 2;
  }
  // The head's bytes, its empty line included, as SafeParser counts them.
  if (p.headBytes + (i + 2 - start) > MAX_HEAD) return declined(headers);
  if (same < k && i - start <= MAX_REMEMBERED_HEAD) {
    if (kept === undefined) p.lastHead = NOTHING_KEPT; // the first head: kept once a second one comes
    else {
      if (last === NOTHING_KEPT) last = p.lastHead = new LastHead();
      last.remember(buf, start, i, k, headers, method, url, major, minor, status, statusMessage);
      p.headIsLast = last.lines === k;
    }
  }
  return headRead(p, type, start, i, method, url, major, minor, status, statusMessage);
}

/** The head at [start, end) (its empty line at `end`) was read: the parser takes over in HEADER. */
function headRead(p: HeadInternals, type: string, start: number, end: number, method: number, url: string,
  major: number, minor: number, status: number, statusMessage: string): number {
  const info = p.info;
  info.versionMajor = major;
  info.versionMinor = minor;
  if (type === REQUEST) {
    info.method = method;
    info.url = url;
    p.body_bytes = 0;
  } else {
    info.statusCode = status;
    info.statusMessage = statusMessage;
    // Implied zero length, as http-parser-js's RESPONSE_LINE.
    if ((status / 100 | 0) === 1 || status === 204 || status === 304) p.body_bytes = 0;
  }
  p.headBytes += end - start;
  p.state = 'HEADER';
  return end;
}
