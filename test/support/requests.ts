// Captured requests made by hand, for the units that take HttpRequest objects.
import type { HttpRequest } from '../../src/http';
import type { ConnectionInfo } from '../../src/tcp';

export function fakeConnection(id = 1, clientAddress = '127.0.0.1'): ConnectionInfo {
  return { id, client: { address: clientAddress, port: 5000 + id }, server: { address: '127.0.0.1', port: 80 }, ipVersion: 4, midstream: false, openedUs: 0 } as ConnectionInfo;
}

const defaultConn = fakeConnection();

/** A complete captured request: GET with a Host header unless told otherwise. */
export function fakeRequest(url: string, opts: {
  method?: string; headers?: string[]; body?: Buffer | null; conn?: ConnectionInfo; index?: number; startUs?: number;
} = {}): HttpRequest {
  const body = opts.body ?? null;
  return {
    conn: opts.conn ?? defaultConn, index: opts.index ?? 0, method: opts.method ?? 'GET', url, versionMajor: 1, versionMinor: 1,
    headers: opts.headers ?? ['Host', 'x'], trailers: [], body, bodySize: body?.length ?? 0, bodyTruncated: false,
    bodySha256: null, chunked: false, startUs: opts.startUs ?? 0, endUs: opts.startUs ?? 0,
  };
}
