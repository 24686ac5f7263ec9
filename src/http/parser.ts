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
  execute(chunk: Buffer, start: number, length: number): number | Error;
  finish(): void | Error;
  reinitialize(type: string): void;
  [HTTPParser.kOnHeadersComplete]: (info: HeaderInfo) => number | boolean | void;
  [HTTPParser.kOnBody]: (chunk: Buffer, offset: number, length: number) => void;
  [HTTPParser.kOnHeaders]: (trailers: string[], url: string) => void;
  [HTTPParser.kOnMessageComplete]: () => void;
}

export const REQUEST = HTTPParser.REQUEST;
export const RESPONSE = HTTPParser.RESPONSE;
export const methods: readonly string[] = (HTTPParser as unknown as { methods: string[] }).methods;
export const kOnHeadersComplete = HTTPParser.kOnHeadersComplete;
export const kOnBody = HTTPParser.kOnBody;
export const kOnHeaders = HTTPParser.kOnHeaders;
export const kOnMessageComplete = HTTPParser.kOnMessageComplete;

/** Longest line (request line, header, chunk size, trailer) we accept. */
export const MAX_LINE = 64 * 1024;

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
}

function SafeParser(this: unknown, type: string): void {
  (HTTPParser as unknown as (this: unknown, type: string) => void).call(this, type);
}
SafeParser.prototype = Object.create(HTTPParser.prototype);
SafeParser.prototype.BODY_CHUNKHEAD = function (this: ParserInternals): void {
  const line = this.consumeLine();
  if (line === undefined) return;
  const match = chunkSizeLine.exec(line);
  if (match === null) throw new HttpParseError('HPE_INVALID_CHUNK_SIZE', 'invalid chunk size line');
  this.body_bytes = parseInt(match[1], 16);
  this.state = this.body_bytes === 0 ? 'BODY_CHUNKTRAILERS' : 'BODY_CHUNK';
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

export function createParser(type: string): Parser {
  return new (SafeParser as unknown as new (type: string) => Parser)(type);
}

const contentLengthValue = /^[0-9]{1,15}$/;

/** Throws unless every Content-Length header of `headers` is a plain decimal number. */
export function checkContentLength(headers: string[]): void {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (name.length === 14 && name.toLowerCase() === 'content-length' && !contentLengthValue.test(headers[i + 1])) {
      throw new HttpParseError('HPE_INVALID_CONTENT_LENGTH', `invalid Content-Length ${JSON.stringify(headers[i + 1].slice(0, 40))}`);
    }
  }
}

/** True when the parser sits between messages (nothing of the next one consumed yet). */
export function isIdle(parser: Parser, type: string): boolean {
  return parser.state === (type === REQUEST ? 'REQUEST_LINE' : 'RESPONSE_LINE') && parser.line.trim() === '';
}

/** Case-insensitive lookup in a raw header list; the first value, or null. */
export function headerValue(headers: string[], lowerName: string): string | null {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return headers[i + 1];
  }
  return null;
}
