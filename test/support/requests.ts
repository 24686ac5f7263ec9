// Captured requests and responses made by hand, for the units that take them.
import type { HttpRequest, HttpResponse } from '../../src/http';
import type { ShadowResponse } from '../../src/replay';
import type { ConnectionInfo } from '../../src/tcp';

export function fakeConnection(id = 1, clientAddress = '127.0.0.1'): ConnectionInfo {
  return { id, client: { address: clientAddress, port: 5000 + id }, server: { address: '127.0.0.1', port: 80 }, ipVersion: 4, midstream: false, openedUs: 0 } as ConnectionInfo;
}

const defaultConn = fakeConnection();
let nextId = 1;

/** A complete captured request: GET with a Host header unless told otherwise. */
export function fakeRequest(url: string, opts: {
  method?: string; headers?: string[]; body?: Buffer | null; conn?: ConnectionInfo; index?: number; startUs?: number;
} = {}): HttpRequest {
  const body = opts.body ?? null;
  return {
    id: nextId++, conn: opts.conn ?? defaultConn, index: opts.index ?? 0, method: opts.method ?? 'GET', url, versionMajor: 1, versionMinor: 1,
    headers: opts.headers ?? ['Host', 'x'], trailers: [], body, bodySize: body?.length ?? 0, bodyTruncated: false,
    bodySha256: null, chunked: false, startUs: opts.startUs ?? 0, endUs: opts.startUs ?? 0,
  };
}

/** Production's captured response: a JSON body by default. */
export function fakeResponse(body: string, opts: { status?: number; headers?: string[]; endUs?: number } = {}): HttpResponse {
  const buf = Buffer.from(body);
  const endUs = opts.endUs ?? 1000;
  return {
    statusCode: opts.status ?? 200, statusMessage: 'OK', versionMajor: 1, versionMinor: 1,
    headers: opts.headers ?? ['Content-Type', 'application/json'], trailers: [],
    body: buf, bodySize: buf.length, bodyTruncated: false, bodySha256: null, chunked: false, startUs: endUs, endUs,
  };
}

/** A shadow's answer as the replayer reports it: a JSON body by default. */
export function fakeAnswer(target: string, body: string | Buffer, opts: {
  status?: number; headers?: Record<string, string>; latencyUs?: number;
} = {}): ShadowResponse {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  return {
    target, statusCode: opts.status ?? 200, headers: Object.entries(opts.headers ?? { 'content-type': 'application/json' }).flat(),
    body: buf, bodySize: buf.length, latencyUs: opts.latencyUs ?? 1000, outcome: 'replayed', error: null,
  };
}
