// What a diff is, the options that steer it and the counts of what it had to leave out.
import type { ProtoSchema } from '../protobuf';

export type DiffKind = 'status' | 'header' | 'value' | 'type' | 'missing' | 'extra' | 'text' | 'binary';

export interface FieldDiff {
  /** Generalised path used for grouping/noise: '$.user.age', '$.items[*].price', '$.users.{key}.name', 'header.content-type', 'status', 'body' */
  path: string;
  /** Concrete location of this occurrence: '$.items[3].price', '$.users.u-81f2.name' */
  at: string;
  kind: DiffKind;
  /** Production's value (strings over 200 chars truncated; large objects as truncated JSON text). */
  expected?: unknown;
  /** The shadow's value. */
  actual?: unknown;
}

export interface DiffOptions {
  /** Generalised paths whose arrays compare as multisets (order-insensitive). Default: none (order-sensitive). */
  unorderedArrays: ReadonlySet<string>;
  /** Numbers equal within this absolute tolerance, per generalised path; '*' applies everywhere. Default: exact. */
  numericTolerance: ReadonlyMap<string, number>;
  /** Header names (lower case) never compared. Default: `defaultIgnoredHeaders`. */
  ignoreHeaders: ReadonlySet<string>;
  /** Fields ignored explicitly: generalised ('$.meta.generatedAt', '$.items[*].ts') or concrete JSON paths, 'header.<name>', 'status', 'body'. */
  ignorePaths: ReadonlySet<string>;
  /** Stop recording after this many diffs (the rest are counted in `truncated`). */
  maxDiffs: number;
  /** JSON nesting deeper than this compares the subtree as a whole (one diff at most). Default 64. */
  maxDepth?: number;
  /** Decoded-size cap per body for diffResponses (decompression bombs). Default 16 MiB. */
  maxBodyBytes?: number;
  /** Applied to a JSON value before it is shortened for the record (e.g. redaction): called
   * with the concrete path. */
  showValue?: (at: string, value: unknown) => unknown;
  /** False: JSON diffs carry no expected/actual and a binary body no digests (the values that
   * cost: redaction, shortening, hashing), for a caller that only counts paths and kinds and
   * diffs again, with values, the few exchanges it shows. Default true. */
  values?: boolean;
  /** Production's side was redacted (a recording): its masked values match anything (./masked.ts). */
  maskedProduction?: boolean;
  /** gRPC: the message types of the --proto files (else messages are decoded schema-less). */
  protoSchema?: ProtoSchema | null;
  /** Object keys of digits only are protobuf field numbers: kept as they are in generalised
   * paths ('$[*].2.1'), never taken for ids. */
  fieldNumberKeys?: boolean;
}

/** What a diff run had to leave out; pass the same object through several calls to accumulate. */
export interface DiffStats {
  /** Diffs found but not recorded because `maxDiffs` was reached. */
  truncated: number;
  /** JSON subtrees beyond `maxDepth`, compared only as a whole. */
  depthLimited: number;
  /** Text diffs too large for a line diff, reported from the first differing line on. */
  textFallbacks: number;
  /** Generalised paths (with the kind) of diffs beyond `maxDiffs`, up to 64: a difference past
   * the cap still counts for its field. */
  overflowPaths: Map<string, DiffKind>;
  /** With `values: false`: recorded diffs whose left-out value was an object or an array (the
   * values whose showing can fail: redacting a subtree nested beyond the stack throws). */
  containerValues?: number;
}

export function newDiffStats(): DiffStats {
  return { truncated: 0, depthLimited: 0, textFallbacks: 0, overflowPaths: new Map() };
}

/**
 * Headers that differ between any two responses for reasons other than the application's
 * behaviour. Not listed on purpose: set-cookie (compared by cookie name only, values and
 * Expires/Max-Age change per response), vary (compared as a token set, minus accept-encoding
 * which only follows whether a hop compressed), content-type, cache-control, location, …
 */
export const defaultIgnoredHeaders: ReadonlySet<string> = new Set([
  'date',               // the clock at response time
  'server',             // product/version of the front server, differs between builds and hosts
  'age',                // seconds a cache has held the response
  'expires',            // absolute time computed from "now" + a lifetime
  'etag',               // often derived from inode/mtime/build id; content changes show in the body diff
  'last-modified',      // file mtimes / deploy times differ between the two deployments
  'content-length',     // covered by the body comparison, and differs whenever one side compresses
  'content-encoding',   // bodies are compared decoded, so gzip on one side only is not a difference
  'transfer-encoding',  // chunked vs length-delimited framing is a transport detail
  'connection',         // hop-by-hop (RFC 9110 §7.6.1)
  'keep-alive',         // hop-by-hop, per connection
  'proxy-connection',   // hop-by-hop, legacy
  'trailer',            // framing of a chunked body
  'upgrade',            // hop-by-hop
  'x-request-id',       // per-request identifiers
  'request-id',
  'x-correlation-id',
  'x-trace-id',
  'x-amzn-trace-id',    // AWS load balancer trace id
  'x-amz-cf-id',        // CloudFront request id
  'cf-ray',             // Cloudflare request id
  'traceparent',        // W3C trace context: ids per request
  'tracestate',
  'b3',                 // Zipkin B3 trace propagation: ids per request
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'x-runtime',          // measured durations: latency is compared separately
  'x-response-time',
  'server-timing',
  'via',                // the proxies on the way, differs between the two paths
  'x-cache',            // cache hit/miss of an intermediary
  'x-served-by',        // which edge/host served it
]);

export function defaultDiffOptions(): DiffOptions {
  return {
    unorderedArrays: new Set(),
    numericTolerance: new Map(),
    ignoreHeaders: defaultIgnoredHeaders,
    ignorePaths: new Set(),
    maxDiffs: 100,
    maxDepth: 64,
    maxBodyBytes: 16 * 1024 * 1024,
  };
}
