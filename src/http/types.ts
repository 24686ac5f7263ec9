// What the http stage gives: messages, exchanges, losses, the sink that receives them, its
// options and counters.

import { defaultOf } from '../config/options';
import { httpOptions } from './options';
import type { ConnectionInfo, Exchange, HttpRequest, RequestLoss, ResponseMissing } from '../model';
import { H2Stats, newH2Stats } from '../h2/stats';

export type { Exchange, HttpMessage, HttpRequest, HttpResponse, RequestLoss, ResponseMissing } from '../model';

export interface HttpSink {
  /** A complete request, as soon as its last byte is seen. */
  request(req: HttpRequest): void;
  /** The same request with production's response; per connection in request order (HTTP/2:
   * as its streams finish). */
  exchange(ex: Exchange): void;
  /** A request that was seen but cannot be produced whole. */
  lost(reason: RequestLoss, conn: ConnectionInfo, detail: string): void;
  /** Something worth a log line; called at most once per kind per connection. */
  notice(kind: NoticeKind, conn: ConnectionInfo, detail: string): void;
}

export type NoticeKind = 'parseError' | 'nonHttp' | 'upgrade' | 'gap';

export interface HttpOptions {
  keepRequestBodies: boolean;
  keepResponseBodies: boolean;
  hashBodies: boolean;
  /** Bytes of one request body kept in memory; a longer body is marked truncated. */
  maxBodyBytes: number;
  /** The same for response bodies (kept only with keepResponseBodies). */
  maxResponseBodyBytes: number;
  /** Requests on one connection awaiting their responses. */
  maxPending: number;
  /** Heads and bodies still arriving, over all connections (the memory budget's share);
   * beyond, the largest give way. */
  maxMessageBytes: number;
  /** Ordinary message heads read straight from the Buffer, and header names matched without
   * lower-casing (false: every head through http-parser-js's own code, as before; the
   * exchanges are the same, the tests compare the two). */
  fastHeads?: boolean;
}

export const defaultHttpOptions: HttpOptions = {
  keepRequestBodies: true,
  keepResponseBodies: false,
  hashBodies: false,
  maxBodyBytes: defaultOf(httpOptions.maxBodyMb) * 2 ** 20,
  maxResponseBodyBytes: 1 << 20,
  maxPending: 1024,
  maxMessageBytes: Infinity,
  fastHeads: true,
};

export interface HttpStats {
  connections: number;
  nonHttpConnections: number;
  upgradedConnections: number;
  /** CONNECTs production accepted (2xx): from there the connection is a tunnel, not parsed. */
  tunnels: number;
  /** Tunnel bytes seen each way (client bytes sent before the answer included). */
  tunnelBytesToServer: number;
  tunnelBytesToClient: number;
  parseErrors: number;
  requests: number;
  lost: Record<RequestLoss, number>;
  responses: number;
  informationalResponses: number;
  /** Responses with no request to pair with (the request was never seen). */
  orphanResponses: number;
  /** Responses to requests that were lost. */
  responsesToLostRequests: number;
  responsesMissing: Record<ResponseMissing, number>;
  resyncs: number;
  /** Bytes skipped while looking for a message boundary. */
  bytesSkipped: number;
  /** The HTTP/2 analyzer's own counters (its requests and responses are counted above too). */
  h2: H2Stats;
}

export function newHttpStats(): HttpStats {
  return {
    connections: 0,
    nonHttpConnections: 0,
    upgradedConnections: 0,
    tunnels: 0,
    tunnelBytesToServer: 0,
    tunnelBytesToClient: 0,
    parseErrors: 0,
    requests: 0,
    lost: { incomplete: 0, parseError: 0, evicted: 0, upgrade: 0, pipelineOverflow: 0, memoryShed: 0, reset: 0 },
    responses: 0,
    informationalResponses: 0,
    orphanResponses: 0,
    responsesToLostRequests: 0,
    responsesMissing: { gap: 0, parseError: 0, closed: 0, overflow: 0, memory: 0, reset: 0 },
    resyncs: 0,
    bytesSkipped: 0,
    h2: newH2Stats(),
  };
}
