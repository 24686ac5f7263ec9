// `read` over one of shadowtap's own recordings: the same JSON line per exchange as for a
// capture file (times the recording does not hold repeat the request's start).

import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { RequestLedger } from '../accounting';
import type { Exchange } from '../model';
import { exchangeLine } from '../outputs';
import { RecordingReader, connectionOf, toHttpRequest, toHttpResponse } from '../recording';
import type { ConnectionInfo } from '../tcp';

/** Prints every recorded exchange to `out`; resolves with the reader (its torn-line count). */
export async function printRecording(file: string, ledger: RequestLedger, out: NodeJS.WritableStream): Promise<RecordingReader> {
  const reader = RecordingReader.open(file);
  const conns = new Map<number, ConnectionInfo>();
  for await (const r of reader.requests()) {
    let conn = conns.get(r.conn);
    if (conn === undefined) conns.set(r.conn, conn = connectionOf(r));
    const request = toHttpRequest(r, conn);
    if (request.bodySize > 0) request.bodySha256 = createHash('sha256').update(request.body as Buffer).digest('hex');
    const ex: Exchange = { request, response: toHttpResponse(r), responseMissing: r.response === null ? (r.responseMissing ?? 'closed') as Exchange['responseMissing'] : null };
    ledger.seenAndNotReplayed('inspectOnly');
    if (!out.write(exchangeLine(ex))) await once(out, 'drain');
  }
  return reader;
}
