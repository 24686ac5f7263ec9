// `read`'s output: one JSON line per exchange, written in large chunks with backpressure.

import type { Exchange, HttpRequest } from '../model';
import { headerValue } from '../http';
import type { Output, Settle } from './index';

const plainJsonText = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** A JSON string literal; the common all-printable-ASCII case without JSON.stringify. */
function quote(s: string | null): string {
  if (s === null) return 'null';
  return plainJsonText.test(s) ? `"${s}"` : JSON.stringify(s);
}

/** The part of every line that only depends on the connection, built once per connection. */
const connectionPrefix = new WeakMap<object, string>();

/** One exchange as a JSON line (with its newline). Built by hand: it runs for every exchange. */
export function exchangeLine(ex: Exchange): string {
  const req = ex.request;
  const res = ex.response;
  const conn = req.conn;
  let prefix = connectionPrefix.get(conn);
  if (prefix === undefined) {
    prefix = `{"conn":${conn.id},"client":${quote(`${conn.client.address}:${conn.client.port}`)},` +
      `"server":${quote(`${conn.server.address}:${conn.server.port}`)},"index":`;
    connectionPrefix.set(conn, prefix);
  }
  return `${prefix}${req.index},"method":${quote(req.method)},"url":${quote(req.url)},` +
    `"host":${quote(headerValue(req.headers, 'host'))},"status":${res === null ? 'null' : res.statusCode},` +
    `"reqBodySize":${req.bodySize},"reqBodySha256":${quote(req.bodySha256)},` +
    `"resBodySize":${res === null ? 0 : res.bodySize},"resBodySha256":${quote(res === null ? null : res.bodySha256)},` +
    `"reqStartUs":${req.startUs},"reqEndUs":${req.endUs},` +
    `"resStartUs":${res === null ? 'null' : res.startUs},"resEndUs":${res === null ? 'null' : res.endUs},` +
    `"responseMissing":${quote(ex.responseMissing)}}\n`;
}

/** Lines written straight into a Buffer as UTF-8: no string concatenation to flatten. */
class LineBuffer {
  private buf = Buffer.allocUnsafe(4 << 20);
  private used = 0;

  add(line: string): void {
    if (this.buf.length - this.used < line.length * 3) this.grow(line.length * 3);
    this.used += this.buf.write(line, this.used, 'utf8');
  }

  /** Hands out what was written; the next add() starts a fresh buffer. */
  take(): Buffer | null {
    if (this.used === 0) return null;
    const out = this.buf.subarray(0, this.used);
    this.buf = Buffer.allocUnsafe(this.buf.length);
    this.used = 0;
    return out;
  }

  private grow(need: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + need));
    this.buf.copy(bigger, 0, 0, this.used);
    this.buf = bigger;
  }
}

/** Lists exchanges; requests are inspected, never replayed. */
export class PrintOutput implements Output {
  readonly hasRoom = true;
  private readonly lines = new LineBuffer();

  constructor(private readonly out: NodeJS.WritableStream) {}

  request(_captured: HttpRequest, _sent: HttpRequest, settle: Settle): void {
    settle('inspectOnly');
  }

  exchange(ex: Exchange): void {
    this.lines.add(exchangeLine(ex));
  }

  /** Writes what was buffered; false when the stream wants the writer to wait for 'drain'. */
  flush(): boolean {
    const chunk = this.lines.take();
    return chunk === null || this.out.write(chunk);
  }

  drain(): Promise<void> {
    this.flush();
    return Promise.resolve();
  }

  stats(): Record<string, unknown> {
    return {};
  }
}
