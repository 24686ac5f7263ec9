// Production response vs shadow response: status, headers, and the decoded body compared by
// kind (JSON structurally, text by lines, anything else by size + sha256). Pure functions, no I/O.
//
// Every diff carries two locations: `path`, generalised so that occurrences of the same field
// group together (array indexes become [*], id-like map keys become {key}), and `at`, the
// concrete place of this occurrence. Options that name paths (ignorePaths, unorderedArrays,
// numericTolerance) match the generalised path; ignorePaths also matches a concrete one.
import { createHash } from 'node:crypto';
import { isNamed } from '../../http/parser';
import { bodyKind, bodyText, decodeBody } from '../body';
import { GrpcDiffInfo, diffGrpc, isGrpcContentType } from '../grpc';
import { diffHeaders } from './headers';
import { diffJson } from './json';
import { maskedMatch } from './masked';
import { push } from './record';
import { diffText } from './text';
import { DiffKind, DiffOptions, DiffStats, FieldDiff, newDiffStats } from './types';

export * from './types';
export { truncateString } from './record';
export { canonicalJson, diffJson, isIdKey } from './json';
export { diffText } from './text';
export type { TextDiffOptions } from './text';
export { diffHeaders, headerMap } from './headers';
export type { HeaderInput } from './headers';

export interface ComparableResponse {
  status: number;
  headers: readonly string[];
  /** Trailers (gRPC's status), when the side had any. */
  trailers?: readonly string[] | null;
  body: Buffer;
}

export interface ResponseDiff {
  diffs: FieldDiff[];
  /** Diffs found beyond maxDiffs, not recorded. */
  truncated: number;
  /** Their generalised paths and kinds (up to 64): they still count for their fields. */
  overflowPaths: Map<string, DiffKind>;
  /** How the bodies were compared: 'json' | 'text' | 'binary' ('json' falls back to 'text' when a side does not parse) | 'grpc'. */
  bodyKind: string;
  /** Content-Encoding failures, prefixed 'production: ' / 'shadow: '; such a body compares as received. */
  decodeErrors: string[];
  /** JSON subtrees compared only as a whole (depth limit). */
  depthLimited: number;
  /** Text bodies too different for a line diff (reported from the first differing line). */
  textFallbacks: number;
  /** Set when the answers were compared as a gRPC call (bodyKind 'grpc'). */
  grpc?: GrpcDiffInfo;
  /** With `values: false`, when some: recorded diffs whose left-out value was an object or an
   * array (DiffStats.containerValues). */
  containerValues?: number;
}

/** A side's Content-Type and Content-Encoding, each as joinedHeaderValue gives it (values
 * trimmed, repeats joined with ', '), read in one walk over the list. */
interface ContentHeaders { type: string | null; encoding: string | null }

function contentHeaders(headers: readonly string[]): ContentHeaders {
  let type: string | null = null, encoding: string | null = null;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i]!;
    if (isNamed(name, 'content-type')) type = type === null ? headers[i + 1]!.trim() : `${type}, ${headers[i + 1]!.trim()}`;
    else if (isNamed(name, 'content-encoding')) encoding = encoding === null ? headers[i + 1]!.trim() : `${encoding}, ${headers[i + 1]!.trim()}`;
  }
  return { type, encoding };
}

/** Buffer.equals, without its call into C++ for small bodies. */
function sameBytes(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false;
  if (a.length > 64) return a.equals(b);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * Everything: status, headers, then the decoded body by kind (JSON structural, text lines,
 * binary: size + sha256). A gRPC answer (either side's content-type) is compared as a call
 * (../grpc.ts); `path`, the request's target, names its method for the --proto schema.
 */
export function diffResponses(production: ComparableResponse, shadow: ComparableResponse, opts: DiffOptions, path: string | null = null): ResponseDiff {
  const out: FieldDiff[] = [];
  const stats = newDiffStats();
  const decodeErrors: string[] = [];
  const hP = contentHeaders(production.headers), hS = contentHeaders(shadow.headers);
  const ctP = hP.type, ctS = hS.type;
  if (isGrpcContentType(ctP) || isGrpcContentType(ctS)) {
    const grpc = diffGrpc(production, shadow, path, opts, out, stats, decodeErrors);
    const d = result(out, stats, 'grpc', decodeErrors);
    d.grpc = grpc;
    return d;
  }
  if (production.status !== shadow.status && !opts.ignorePaths.has('status')) {
    push(out, opts.maxDiffs, stats, { path: 'status', at: 'status', kind: 'status', expected: production.status, actual: shadow.status });
  }
  diffHeaders(production.headers, shadow.headers, opts, out, stats);

  const maxBytes = opts.maxBodyBytes ?? 16 * 1024 * 1024;
  const p = decodeBody(production.body, hP.encoding, maxBytes);
  const s = decodeBody(shadow.body, hS.encoding, maxBytes);
  if (p.error !== null) decodeErrors.push(`production: ${p.error}`);
  if (s.error !== null) decodeErrors.push(`shadow: ${s.error}`);

  const kP = bodyKind(ctP, p.body);
  let kind: string = kP;
  if (opts.ignorePaths.has('body') || sameBytes(p.body, s.body)) return result(out, stats, kind, decodeErrors);

  const kS = bodyKind(ctS, s.body);
  if (kP === 'binary' || kS === 'binary') kind = 'binary';
  else if (kP === 'json' && kS === 'json') {
    let ej: unknown, aj: unknown, ok = true;
    try {
      ej = JSON.parse(bodyText(p.body, ctP));
      aj = JSON.parse(bodyText(s.body, ctS));
    } catch {
      ok = false;
    }
    if (ok) {
      diffJson(ej, aj, opts, out, stats);
      return result(out, stats, kind, decodeErrors);
    }
    kind = 'text';
  } else kind = 'text';

  if (kind === 'text') {
    if (opts.maskedProduction === true && maskedMatch(bodyText(p.body, ctP), bodyText(s.body, ctS))) return result(out, stats, kind, decodeErrors);
    diffText(bodyText(p.body, ctP), bodyText(s.body, ctS), out, { maxDiffs: opts.maxDiffs }, stats);
  } else {
    push(out, opts.maxDiffs, stats, opts.values === false ? { path: 'body', at: 'body', kind: 'binary' } : {
      path: 'body', at: 'body', kind: 'binary',
      expected: { size: p.body.length, sha256: sha256(p.body) },
      actual: { size: s.body.length, sha256: sha256(s.body) },
    });
  }
  return result(out, stats, kind, decodeErrors);
}

function result(diffs: FieldDiff[], stats: DiffStats, bodyKind: string, decodeErrors: string[]): ResponseDiff {
  const d: ResponseDiff = {
    diffs, truncated: stats.truncated, overflowPaths: stats.overflowPaths, bodyKind, decodeErrors,
    depthLimited: stats.depthLimited, textFallbacks: stats.textFallbacks,
  };
  if (stats.containerValues !== undefined) d.containerValues = stats.containerValues;
  return d;
}
