// `shadowtap read`: one JSON line per HTTP exchange found in a capture file.

import type { ReadConfig } from '../config';
import type { Exchange, HttpSink } from '../http';
import { headerValue } from '../http';
import { RequestLedger, writeJsonFile } from '../report';
import { PacketPipeline } from './pipeline';
import { openSource } from './source';

export function exchangeLine(ex: Exchange): string {
  const req = ex.request;
  const res = ex.response;
  return JSON.stringify({
    conn: req.conn.id,
    index: req.index,
    client: `${req.conn.client.address}:${req.conn.client.port}`,
    server: `${req.conn.server.address}:${req.conn.server.port}`,
    method: req.method,
    url: req.url,
    host: headerValue(req.headers, 'host'),
    status: res === null ? null : res.statusCode,
    reqBodySize: req.bodySize,
    reqBodySha256: req.bodySha256,
    resBodySize: res === null ? 0 : res.bodySize,
    resBodySha256: res === null ? null : res.bodySha256,
    reqStartUs: req.startUs,
    reqEndUs: req.endUs,
    resStartUs: res === null ? null : res.startUs,
    resEndUs: res === null ? null : res.endUs,
    responseMissing: ex.responseMissing,
  });
}

export function read(cfg: ReadConfig, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const ledger = new RequestLedger();
  let text = '';
  const sink: HttpSink = {
    request: () => ledger.seenAndNotReplayed('inspectOnly'),
    exchange: (ex) => {
      text += exchangeLine(ex);
      text += '\n';
    },
    lost: (reason) => ledger.seenAndNotReplayed(reason),
    notice: () => {},
  };
  const pipeline = new PacketPipeline(sink, { tcp: cfg.tcp, http: cfg.http });
  const source = openSource(cfg.source);
  const flush = (): boolean => {
    if (text.length === 0) return true;
    const chunk = text;
    text = '';
    return out.write(chunk);
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
