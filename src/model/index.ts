// What flows between the stages, and nothing else: types only. Every stage speaks these;
// none owns them.

/** Headers as on the wire, for production and shadow alike: [name, value, name, value, …],
 * names in their captured case, repeated headers repeated. */
export type Headers = string[];

export interface Endpoint {
  address: string;
  port: number;
}

/** One captured TCP connection. */
export interface ConnectionInfo {
  id: number;
  client: Endpoint;
  server: Endpoint;
  ipVersion: number;
  /** The handshake was not seen: roles were guessed and streams start mid-flow. */
  midstream: boolean;
  openedUs: number;
}

export interface HttpMessage {
  versionMajor: number;
  versionMinor: number;
  headers: Headers;
  trailers: Headers;
  /** The de-chunked body, when the stage keeps bodies; null otherwise. */
  body: Buffer | null;
  bodySize: number;
  /** The body exceeded its cap (maxBodyBytes / maxResponseBodyBytes): `body` holds only its start. */
  bodyTruncated: boolean;
  /** Hex sha256 of the whole de-chunked body, when hashing is on. */
  bodySha256: string | null;
  chunked: boolean;
  /** Capture timestamps (µs) of the message's first and last bytes. */
  startUs: number;
  endUs: number;
}

/**
 * A request captured over HTTP/2 has versionMajor 2, versionMinor 0; `method` and `url` come
 * from `:method` and `:path`, and `headers` hold the regular fields in order, `:authority`
 * first as a `host` field (unless one is present); `:scheme` and the stream id are in `h2`.
 * A response's `:status` is its statusCode (statusMessage ''); trailers are trailers.
 */
export interface H2Stream {
  streamId: number;
  scheme: string;
}

export interface HttpRequest extends HttpMessage {
  /** The exchange's id, unique within a run (given by the http stage, kept by rewrites): the
   * key that joins production's answer with the shadows'. */
  id: number;
  conn: ConnectionInfo;
  /** Position of the request on its connection, from 0. */
  index: number;
  method: string;
  /** The request target exactly as on the wire. */
  url: string;
  /** Set when the request was captured over HTTP/2 (versionMajor 2). */
  h2?: H2Stream;
}

export interface HttpResponse extends HttpMessage {
  statusCode: number;
  statusMessage: string;
}

/** Why an exchange carries no production response ('memory': its head or body was shed to
 * stay within the memory budget; 'reset': its HTTP/2 stream was reset before it ended). */
export type ResponseMissing = 'gap' | 'parseError' | 'closed' | 'overflow' | 'memory' | 'reset';

/** A request with production's response. */
export interface Exchange {
  request: HttpRequest;
  response: HttpResponse | null;
  responseMissing: ResponseMissing | null;
}

/** Why a request that was seen could not be produced whole ('memoryShed': its head or body
 * was given up to stay within the memory budget; 'reset': its HTTP/2 stream was reset before
 * the request ended). */
export type RequestLoss = 'incomplete' | 'parseError' | 'evicted' | 'upgrade' | 'pipelineOverflow' | 'memoryShed' | 'reset';

/** How a replay to the shadows ended. */
export type ReplayOutcome =
  | 'replayed'
  | 'queueFull'
  | 'bodyTooLarge'
  | 'unreplayable'
  | 'shadowError'
  | 'shadowTimeout'
  | 'shutdown'
  /** Beyond --rate, in live capture (a file waits instead). */
  | 'rateLimited';

/** One shadow's answer to a replayed request. */
export interface ShadowResponse {
  target: string;
  statusCode: number | null;
  /** null when not replayed, or when no body is kept (no comparison reads them). */
  headers: Headers | null;
  /** The shadow's trailers (gRPC status), when it sent any and bodies are kept. */
  trailers?: Headers | null;
  body: Buffer | null;
  bodySize: number;
  /** Wall-clock time from writing the request on a connected socket to the last body byte, in µs. */
  latencyUs: number;
  /** Set when it was written behind unanswered requests on a pipelined connection: its latency
   * includes theirs, so no comparison judges it. */
  queued?: true;
  outcome: ReplayOutcome;
  error: string | null;
}

/** Why the traffic policy does not mirror a request ('tunnel': a CONNECT, whatever the
 * rules say: a shadow is no proxy, and the tunnel's bytes are not HTTP to replay). */
export type TrafficReason = 'unsafeMethod' | 'filtered' | 'sampledOut' | 'tunnel';

/** Why a request seen was not replayed (or recorded): one reason per request. */
export type NotReplayed =
  | Exclude<ReplayOutcome, 'replayed'>
  | RequestLoss
  | TrafficReason
  /** `read`: requests are listed, never replayed. */
  | 'inspectOnly'
  /** `record`: the recording could not be written. */
  | 'writeError'
  /** `run --publish`: the publish buffer was full (the broker slow or away). */
  | 'publishDropped'
  /** `run --publish`: the broker refused it, or had not stored it within --publish-timeout-ms. */
  | 'publishFailed'
  /** `worker`: a message that is not an exchange this version can read. */
  | 'badMessage';

/** Every request seen ends in exactly one outcome. */
export type Outcome = 'replayed' | NotReplayed;
