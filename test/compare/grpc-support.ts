// Real gRPC traffic for the comparison tests: @grpc/grpc-js servers (loaded with
// @grpc/proto-loader from grpc-users.proto) called over h2c on loopback with node:http2, so that
// the tests see the bytes exactly as on the wire (DATA frames, headers, trailers); and a plain
// HTTP/2 sink that records what a grpc-js client sends (its compressed messages).
import * as http2 from 'node:http2';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';
import type { HttpRequest, HttpResponse, ShadowResponse } from '../../src/model';
import { fakeRequest } from '../support/requests';

/** The .proto source (tests run from dist/test/compare). */
export const PROTO = path.resolve(__dirname, '../../../test/compare/grpc-users.proto');

export const root = protobuf.loadSync(PROTO);
export const type = (name: string): protobuf.Type => root.lookupType(`shop.v1.${name}`);

/** One gRPC answer as seen on the wire. */
export interface WireAnswer {
  status: number;
  headers: string[];
  trailers: string[];
  /** The DATA frames' bytes: length-prefixed messages. */
  body: Buffer;
}

/** Length-prefixed, uncompressed. */
export function frame(...messages: Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of messages) {
    const p = Buffer.alloc(5);
    p.writeUInt32BE(m.length, 1);
    parts.push(p, Buffer.from(m));
  }
  return Buffer.concat(parts);
}

export function encode(name: string, value: Record<string, unknown>): Uint8Array {
  const t = type(name);
  return t.encode(t.fromObject(value)).finish();
}

type Handlers = grpc.UntypedServiceImplementation;

/** A grpc-js server of shop.v1.Users on 127.0.0.1. */
export async function startUsers(handlers: Handlers): Promise<{ port: number; close(): void }> {
  const def = loader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: false });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { shop: { v1: { Users: grpc.ServiceClientConstructor } } };
  const server = new grpc.Server();
  server.addService(pkg.shop.v1.Users.service, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { port, close: () => server.forceShutdown() };
}

function flat(h: http2.IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith(':') || v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) out.push(k, String(x));
  }
  return out;
}

/** A call made by hand over h2c: the request body as given, the answer as it came. */
export function call(port: number, method: string, body: Buffer, headers: Record<string, string> = {}): Promise<WireAnswer> {
  return new Promise((resolve, reject) => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on('error', reject);
    const req = client.request({
      ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers', ...headers,
    });
    const chunks: Buffer[] = [];
    let status = 0, head: string[] = [], trailers: string[] = [];
    req.on('response', (h) => { status = Number(h[':status']); head = flat(h); });
    req.on('trailers', (t) => { trailers = flat(t); });
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('error', reject);
    req.on('end', () => {
      client.close();
      resolve({ status, headers: head, trailers, body: Buffer.concat(chunks) });
    });
    req.end(body);
  });
}

/** What a grpc-js client sends for a client-streaming call with the given compression
 * (grpc.default_compression_algorithm: 1 deflate, 2 gzip): headers and body, recorded by a
 * plain HTTP/2 server that answers OK with no message. */
export async function clientSends(algorithm: 0 | 1 | 2, users: Array<Record<string, unknown>>): Promise<{ headers: string[]; body: Buffer }> {
  const server = http2.createServer();
  let seen: { headers: string[]; body: Buffer } | null = null;
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', () => {
      seen = { headers: flat(headers), body: Buffer.concat(chunks) };
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame(encode('UploadSummary', { count: users.length })));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const def = loader.loadSync(PROTO, { keepCase: true, longs: String, enums: String });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { shop: { v1: { Users: grpc.ServiceClientConstructor } } };
  const client = new pkg.shop.v1.Users(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': algorithm });
  try {
    await new Promise<void>((resolve, reject) => {
      const stream = client.UploadUsers((err: Error | null) => (err ? reject(err) : resolve()));
      for (const u of users) stream.write(u);
      stream.end();
    });
  } finally {
    client.close();
    server.close();
  }
  if (seen === null) throw new Error('the sink saw no call');
  return seen;
}

/** A captured gRPC request as the http/h2 stage would give it. */
export function grpcRequest(method: string, body: Buffer, extra: string[] = []): HttpRequest {
  const req = fakeRequest(method, { method: 'POST', headers: ['host', 'users.internal', 'content-type', 'application/grpc', ...extra], body });
  req.versionMajor = 2;
  req.versionMinor = 0;
  req.h2 = { streamId: 1, scheme: 'http' };
  return req;
}

/** Production's captured answer. */
export function productionOf(a: WireAnswer): HttpResponse {
  return {
    statusCode: a.status, statusMessage: '', versionMajor: 2, versionMinor: 0, headers: a.headers, trailers: a.trailers,
    body: a.body, bodySize: a.body.length, bodyTruncated: false, bodySha256: null, chunked: false, startUs: 1000, endUs: 2000,
  };
}

/** A shadow's answer as an HTTP/2 replay reports it. */
export function shadowOf(target: string, a: WireAnswer): ShadowResponse {
  return {
    target, statusCode: a.status, headers: a.headers, trailers: a.trailers, body: a.body, bodySize: a.body.length,
    latencyUs: 1000, outcome: 'replayed', error: null,
  };
}
