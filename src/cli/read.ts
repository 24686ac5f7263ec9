// `shadowtap read`: one JSON line per HTTP exchange found in a capture file.

import type { ReadConfig } from '../config';
import type { Exchange, HttpSink } from '../http';
import { headerValue } from '../http';
import { RequestLedger, writeJsonFile } from '../report';
import { PacketPipeline } from './pipeline';
import { openSource } from './source';

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

export function read(cfg: ReadConfig, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const ledger = new RequestLedger();
  const lines = new LineBuffer();
  const sink: HttpSink = {
    request: () => ledger.seenAndNotReplayed('inspectOnly'),
    exchange: (ex) => lines.add(exchangeLine(ex)),
    lost: (reason) => ledger.seenAndNotReplayed(reason),
    notice: () => {},
  };
  const pipeline = new PacketPipeline(sink, { tcp: cfg.tcp, http: cfg.http });
  const source = openSource(cfg.source);
  const flush = (): boolean => {
    const chunk = lines.take();
    return chunk === null || out.write(chunk);
  };
  return new Promise((resolve, reject) => {
    source.start(
      (batch, count) => {
        pipeline.batch(source.linkType, batch, count);
        if (!flush()) {
          source.pause();
          out.once('drain', () => source.resume());
        }
      },
      (err) => {
        pipeline.finish();
        flush();
        const summary = {
          ...ledger.snapshot(),
          capture: source.stats(),
          ...pipeline.stats(),
          error: err?.message ?? null,
        };
        if (cfg.summaryJson !== undefined) writeJsonFile(cfg.summaryJson, summary);
        process.stderr.write(`shadowtap read: ${summary.seen} requests seen, ${pipeline.http.stats.requests} complete` +
          `${err ? `; stopped early: ${err.message}` : ''}\n`);
        if (err) reject(err);
        else resolve(0);
      },
    );
  });
}
