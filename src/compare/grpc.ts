// gRPC answers compared as calls: the status (grpc-status and grpc-message, from the trailers or,
// in a trailers-only answer, the headers) first; then the messages of the body, split from their
// length-prefixed frames, decompressed, decoded from protobuf (by the --proto schema when it knows
// the method, else schema-less) and diffed one by one as the JSON array `$[i]…`, with the same
// options, noise model and paths as any JSON body.
import type { Type } from 'protobufjs';
import { decodeBody, looksLikeText, mediaType } from './body';
import { diffHeaders } from './diff/headers';
import { diffJson } from './diff/json';
import { push } from './diff/record';
import type { DiffOptions, DiffStats, FieldDiff } from './diff/types';
import { ProtoSchema, ProtoValue, WireStats, decodeTyped, decodeWire } from './protobuf';

export function isGrpcContentType(contentType: string | null): boolean {
  const t = mediaType(contentType);
  return t === 'application/grpc' || t === 'application/grpc+proto';
}

const STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

/** Codes that tell of a failing server rather than of the request (never noise). */
const OUTAGE_CODES = new Set(['2', '4', '8', '13', '14', '15']);

export interface GrpcStatus {
  /** grpc-status as sent ('0', '14' …), or null when neither trailers nor headers carry one. */
  code: string | null;
  /** False when there is no status in the headers and the trailers were not kept (null): the
   * status is then unknown, not absent. */
  known: boolean;
  /** grpc-message, percent-decoded ('' when absent). */
  message: string;
}

function lastValue(fields: readonly string[] | null | undefined, lowerName: string): string | null {
  if (fields == null) return null;
  let v: string | null = null;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.toLowerCase() === lowerName) v = fields[i + 1]!;
  return v;
}

function percentDecoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The call's status: from the trailers, or from the headers of a trailers-only answer. */
export function grpcStatus(headers: readonly string[], trailers: readonly string[] | null | undefined): GrpcStatus {
  const inTrailers = lastValue(trailers, 'grpc-status');
  const from = inTrailers !== null ? trailers : headers;
  const code = inTrailers ?? lastValue(headers, 'grpc-status');
  const message = lastValue(from, 'grpc-message');
  return { code: code?.trim() ?? null, known: code !== null || trailers != null, message: message === null ? '' : percentDecoded(message.trim()) };
}

/** A status as shown in a diff: 'UNAVAILABLE (14)', or null when there was none. */
export function statusText(code: string | null): string | null {
  if (code === null) return null;
  const name = /^\d+$/.test(code) ? STATUS_NAMES[Number(code)] : undefined;
  return name !== undefined ? `${name} (${code})` : code;
}

/** A server-side failure (UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, INTERNAL, UNAVAILABLE,
 * DATA_LOSS): like an HTTP 5xx, an outage and not noise. */
export function isGrpcOutage(headers: readonly string[], trailers: readonly string[] | null | undefined): boolean {
  // Only the code (no message decoded): this runs for every exchange that teaches noise.
  const code = lastValue(trailers, 'grpc-status') ?? lastValue(headers, 'grpc-status');
  return code !== null && OUTAGE_CODES.has(code.trim());
}

// ---------------------------------------------------------------------------------------------
// Framing

export interface GrpcFrames {
  /** The messages, decompressed, up to the first error. */
  messages: Buffer[];
  /** What was wrong with the framing or a message's compression, or null. */
  error: string | null;
}

/**
 * Splits a gRPC body into its length-prefixed messages (1-byte compressed flag, 4-byte big-endian
 * length, message) and undoes the compression of those flagged with it (grpc-encoding gzip,
 * deflate; identity never compresses). Stops at the first malformed frame, with the reason;
 * `maxBytes` caps the messages' total decoded size.
 */
export function splitGrpcMessages(body: Buffer, encoding: string | null, maxBytes: number): GrpcFrames {
  const messages: Buffer[] = [];
  const coding = encoding === null ? 'identity' : encoding.trim().toLowerCase();
  let pos = 0, total = 0;
  const fail = (error: string): GrpcFrames => ({ messages, error: `message ${messages.length}: ${error}` });
  while (pos < body.length) {
    if (body.length - pos < 5) return fail(`truncated prefix: ${body.length - pos} of 5 bytes`);
    const flag = body[pos]!;
    const length = body.readUInt32BE(pos + 1);
    pos += 5;
    if (flag > 1) return fail(`compressed flag ${flag} (0 or 1 expected)`);
    if (length > body.length - pos) return fail(`length ${length} beyond the body (${body.length - pos} bytes left)`);
    let message = body.subarray(pos, pos + length);
    pos += length;
    if (flag === 1) {
      if (coding === 'identity') return fail('compressed flag set but grpc-encoding is identity or absent');
      if (coding !== 'gzip' && coding !== 'deflate') return fail(`unsupported grpc-encoding '${coding}'`);
      const d = decodeBody(message, coding, maxBytes - total);
      if (d.error !== null) return fail(d.error);
      message = d.body;
    }
    total += message.length;
    if (total > maxBytes) return fail(`messages exceed ${maxBytes} bytes`);
    messages.push(message);
  }
  return { messages, error: null };
}

// ---------------------------------------------------------------------------------------------
// Comparison

/** What one gRPC comparison met, for the stage's counters. */
export interface GrpcDiffInfo {
  /** The --proto schema had no such method: decoded schema-less. */
  schemaMiss: boolean;
  /** Messages the schema could not decode (read schema-less instead). */
  schemaErrors: number;
  /** Messages that are not protobuf at all (compared as text or base64). */
  undecodable: number;
  /** Sides whose framing or message compression was malformed. */
  malformed: number;
  /** Length-delimited fields shown as bytes: too deep, or the decode's work budget spent. */
  limited: number;
}

export interface GrpcSide {
  status: number;
  headers: readonly string[];
  trailers?: readonly string[] | null;
  body: Buffer;
}

/** Headers compared in their own right (the status), or transport detail: the messages' coding
 * and the codings offered (sent with messages, left out of a trailers-only answer). */
const CALL_FIELDS = new Set(['grpc-status', 'grpc-message', 'grpc-encoding', 'grpc-accept-encoding']);

/** Headers and trailers as one list (a trailers-only answer sends in headers what others send as
 * trailers), without the call's own fields; application/grpc+proto is application/grpc. */
function metadata(side: GrpcSide): string[] {
  const out: string[] = [];
  const add = (fields: readonly string[]): void => {
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i]!.toLowerCase();
      if (CALL_FIELDS.has(name)) continue;
      const value = name === 'content-type' && isGrpcContentType(fields[i + 1]!) ? 'application/grpc' : fields[i + 1]!;
      out.push(fields[i]!, value);
    }
  };
  add(side.headers);
  if (side.trailers != null) add(side.trailers);
  return out;
}

function decodeMessage(buf: Buffer, type: Type | null, info: GrpcDiffInfo, stats: WireStats): ProtoValue {
  if (type !== null) {
    try {
      return decodeTyped(type, buf, stats);
    } catch {
      info.schemaErrors++;
    }
  }
  const fields = decodeWire(buf, stats);
  if (fields !== null) return fields;
  info.undecodable++;
  return buf.toString(looksLikeText(buf) ? 'utf8' : 'base64');
}

/** The type of one side of the method at `path`, or null (schema-less) — a miss is noted. */
function methodType(schema: ProtoSchema | null | undefined, path: string | null, side: 'request' | 'response', info: GrpcDiffInfo): Type | null {
  if (schema == null || path === null) return null;
  const method = schema.method(path);
  if (method === null) info.schemaMiss = true;
  return method === null ? null : method[side];
}

const noInfo = (): GrpcDiffInfo => ({ schemaMiss: false, schemaErrors: 0, undecodable: 0, malformed: 0, limited: 0 });

/**
 * One gRPC call, production's answer against the shadow's: grpc-status (then grpc-message, when
 * the statuses agree and are not OK), HTTP status, headers and trailers as one metadata list,
 * and — when the statuses agree — the messages. Appends to `out`; framing faults to `decodeErrors`.
 */
export function diffGrpc(
  production: GrpcSide, shadow: GrpcSide, path: string | null, opts: DiffOptions,
  out: FieldDiff[], stats: DiffStats, decodeErrors: string[],
): GrpcDiffInfo {
  const info = noInfo();
  const sp = grpcStatus(production.headers, production.trailers), ss = grpcStatus(shadow.headers, shadow.trailers);
  // A side whose trailers were not kept (its body was not either) has no status to compare.
  const compared = sp.known && ss.known;
  const sameStatus = !compared || sp.code === ss.code;
  if (!sameStatus && !opts.ignorePaths.has('grpc-status')) {
    push(out, opts.maxDiffs, stats, { path: 'grpc-status', at: 'grpc-status', kind: 'status', expected: statusText(sp.code), actual: statusText(ss.code) });
  }
  // An OK call's message is a courtesy ('OK', or none).
  if (compared && sameStatus && sp.code !== '0' && sp.message !== ss.message && !opts.ignorePaths.has('grpc-message')) {
    push(out, opts.maxDiffs, stats, { path: 'grpc-message', at: 'grpc-message', kind: 'value', expected: sp.message, actual: ss.message });
  }
  if (production.status !== shadow.status && !opts.ignorePaths.has('status')) {
    push(out, opts.maxDiffs, stats, { path: 'status', at: 'status', kind: 'status', expected: production.status, actual: shadow.status });
  }
  diffHeaders(metadata(production), metadata(shadow), opts, out, stats);
  // A failed call's messages (usually none) say nothing more than its status.
  if (!sameStatus || opts.ignorePaths.has('body')) return info;

  const maxBytes = opts.maxBodyBytes ?? 16 * 1024 * 1024;
  const fp = splitGrpcMessages(production.body, lastValue(production.headers, 'grpc-encoding'), maxBytes);
  const fs = splitGrpcMessages(shadow.body, lastValue(shadow.headers, 'grpc-encoding'), maxBytes);
  if (fp.error !== null) { info.malformed++; decodeErrors.push(`production: grpc: ${fp.error}`); }
  if (fs.error !== null) { info.malformed++; decodeErrors.push(`shadow: grpc: ${fs.error}`); }
  if (fp.error !== fs.error && !opts.ignorePaths.has('grpc-framing')) {
    push(out, opts.maxDiffs, stats, { path: 'grpc-framing', at: 'grpc-framing', kind: 'value', expected: fp.error, actual: fs.error });
  }
  if (sameMessages(fp.messages, fs.messages)) return info;

  const type = methodType(opts.protoSchema, path, 'response', info);
  const wire: WireStats = { limited: 0 };
  const ep = fp.messages.map((m) => decodeMessage(m, type, info, wire));
  const es = fs.messages.map((m) => decodeMessage(m, type, info, wire));
  info.limited = wire.limited;
  diffJson(ep, es, { ...opts, fieldNumberKeys: true }, out, stats);
  return info;
}

function sameMessages(a: Buffer[], b: Buffer[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!a[i]!.equals(b[i]!)) return false;
  return true;
}

/** A body's messages decoded as the comparison decodes them (for samples and tests). */
export function decodeGrpcMessages(
  body: Buffer, headers: readonly string[], path: string | null, side: 'request' | 'response',
  schema: ProtoSchema | null, maxBytes = 16 * 1024 * 1024,
): { values: ProtoValue[]; error: string | null; info: GrpcDiffInfo } {
  const info = noInfo();
  const frames = splitGrpcMessages(body, lastValue(headers, 'grpc-encoding'), maxBytes);
  if (frames.error !== null) info.malformed++;
  const type = methodType(schema, path, side, info);
  const wire: WireStats = { limited: 0 };
  const values = frames.messages.map((m) => decodeMessage(m, type, info, wire));
  info.limited = wire.limited;
  return { values, error: frames.error, info };
}
