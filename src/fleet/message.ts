// One exchange as a fleet message: the recording format's entry (request as captured with its
// body, production's answer with its body and timestamps, connection) with bodies, wrapped with
// the fleet-unique id `host/run/id` and who captured it. JSON, one message per exchange.

import type { Exchange } from '../model';
import { RECORDING_VERSION, recordEntry } from '../recording';
import type { RecordedRequest } from '../recording';

export const EXCHANGE_FORMAT = 'shadowtap-exchange';

export interface FleetExchange {
  format: typeof EXCHANGE_FORMAT;
  /** The recording format's major version the entry follows. */
  version: number;
  /** `host/run/id`: unique over the fleet; the broker's message id. */
  id: string;
  host: string;
  /** The capturing process's run id (random, one per start). */
  run: string;
  exchange: RecordedRequest;
}

/** A message that is not a fleet exchange this version can read. */
export class FleetMessageError extends Error {}

/** The message for `ex` (`sent`: the request as the traffic policy rewrote it), or null when its
 * request body was cut by --max-body-mb (it cannot be replayed whole). */
export function encodeExchange(ex: Exchange, sent: HttpRequestLike, host: string, run: string): { id: string; data: Buffer } | null {
  const entry = recordEntry(sent === ex.request ? ex : { ...ex, request: sent as Exchange['request'] }, null, true);
  if (entry === null) return null;
  const id = `${host}/${run}/${ex.request.id}`;
  const message: FleetExchange = { format: EXCHANGE_FORMAT, version: RECORDING_VERSION, id, host, run, exchange: entry };
  return { id, data: Buffer.from(JSON.stringify(message)) };
}

type HttpRequestLike = Exchange['request'];

const textDecoder = new TextDecoder('utf-8', { fatal: true });

export function decodeExchange(data: Uint8Array): FleetExchange {
  let m: FleetExchange;
  try {
    m = JSON.parse(textDecoder.decode(data)) as FleetExchange;
  } catch {
    throw new FleetMessageError(`not JSON (${data.length} bytes)`);
  }
  if (m === null || typeof m !== 'object' || m.format !== EXCHANGE_FORMAT) throw new FleetMessageError('not a shadowtap exchange');
  if (typeof m.version !== 'number' || m.version > RECORDING_VERSION) throw new FleetMessageError(`version ${String(m.version)}: newer than this shadowtap reads (${RECORDING_VERSION})`);
  if (typeof m.id !== 'string' || m.id === '') throw new FleetMessageError('no exchange id');
  const r = m.exchange;
  if (r === null || typeof r !== 'object' || typeof r.t !== 'number' || typeof r.method !== 'string' || typeof r.url !== 'string' || !Array.isArray(r.headers)
    || typeof r.client !== 'string' || typeof r.server !== 'string' || (r.body !== null && typeof r.body !== 'string')) {
    throw new FleetMessageError(`${m.id}: not a recorded exchange`);
  }
  return m;
}
