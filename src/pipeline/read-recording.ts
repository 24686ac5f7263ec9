// `read` over one of shadowtap's own recordings: the same JSON line per exchange as for a
// capture file (times the recording does not hold repeat the request's start).

import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { RequestLedger } from '../accounting';
import { exchangeLine } from '../outputs';
import type { RecordingReader } from '../recording';
import { recordingFeed } from './feed';

/** Prints every recorded exchange to `out`; resolves with the reader (its torn-line count). */
export async function printRecording(file: string, ledger: RequestLedger, out: NodeJS.WritableStream): Promise<RecordingReader> {
  const feed = recordingFeed(file, true);
  for await (const { production } of feed.items()) {
    const ex = production!;
    const request = ex.request;
    if (request.bodySize > 0) request.bodySha256 = createHash('sha256').update(request.body as Buffer).digest('hex');
    ledger.seenAndNotReplayed('inspectOnly');
    if (!out.write(exchangeLine(ex))) await once(out, 'drain');
  }
  return feed.reader;
}
