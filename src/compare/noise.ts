// Production's answers to identical requests, remembered so that what varies between them
// can be learned as noise without any baseline. Bounded by entries and bytes (LRU).

import type { HttpRequest, HttpResponse } from '../model';
import { hash } from 'node:crypto';

export interface RememberedResponse {
  status: number;
  headers: string[];
  /** gRPC's status travels in them. */
  trailers: string[];
  body: Buffer;
}

/** Headers besides Host that make the same target a different request: who asks, and for
 * what representation. */
const identityHeaders = new Set(['authorization', 'cookie', 'accept', 'accept-language']);

/** Identity of a request: method, Host, target, who asks (Authorization, Cookie), what it
 * accepts, and the body. Two requests with the same key should get the same answer from a
 * deterministic service. */
export function requestKey(req: HttpRequest): string {
  let host = '';
  let identity = '';
  let credentials = false;
  for (let i = 0; i < req.headers.length; i += 2) {
    const name = req.headers[i].toLowerCase();
    if (name === 'host') host = req.headers[i + 1];
    else if (identityHeaders.has(name)) {
      identity += `${name}:${req.headers[i + 1]}\n`;
      if (name === 'authorization' || name === 'cookie') credentials = true;
    }
  }
  const who = identity === '' ? '' : ' ' + (credentials ? hash('sha1', identity, 'base64') : identityDigest(identity));
  const body = req.body !== null && req.body.length > 0 ? ' ' + hash('sha1', req.body, 'base64') : '';
  return `${req.method} ${host} ${req.url}${who}${body}`;
}

/** Digests of recent identities without credentials (most requests carry one of a few Accept
 * values; credentials are not kept for longer than their request). */
const identityDigests = new Map<string, string>();
const MAX_IDENTITIES = 1024;
const MAX_IDENTITY_LENGTH = 256;

function identityDigest(identity: string): string {
  let d = identityDigests.get(identity);
  if (d === undefined) {
    d = hash('sha1', identity, 'base64');
    if (identity.length <= MAX_IDENTITY_LENGTH) {
      if (identityDigests.size >= MAX_IDENTITIES) identityDigests.clear();
      identityDigests.set(identity, d);
    }
  }
  return d;
}

const ENTRY_OVERHEAD = 256;

export class RepeatCache {
  private readonly entries = new Map<string, RememberedResponse>();
  private bytes = 0;
  evictions = 0;

  constructor(private readonly maxEntries: number, private readonly maxBytes: number, private readonly maxBodyBytes: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** Remembers `response` as the latest answer to `key`; returns the previous one, if any. */
  swap(key: string, response: HttpResponse): RememberedResponse | null {
    const previous = this.entries.get(key) ?? null;
    if (previous !== null) this.bytes -= cost(key, previous);
    const body = response.body;
    if (body === null || response.bodyTruncated || body.length > this.maxBodyBytes) {
      if (previous !== null) this.entries.delete(key);
      if (body !== null && body.length > this.maxBodyBytes) this.evictions++;
      return previous;
    }
    // A key already held keeps its place (the oldest key goes first when full): replacing the
    // value in place leaves the Map's table as it is, where a delete and set per request made it
    // churn, and a discarded table held its responses alive through scavenges (see IdTable).
    const entry: RememberedResponse = { status: response.statusCode, headers: response.headers, trailers: response.trailers, body };
    this.entries.set(key, entry);
    this.bytes += cost(key, entry);
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const [oldKey, old] = this.entries.entries().next().value as [string, RememberedResponse];
      this.entries.delete(oldKey);
      this.bytes -= cost(oldKey, old);
      this.evictions++;
    }
    return previous;
  }
}

function cost(key: string, r: RememberedResponse): number {
  return ENTRY_OVERHEAD + key.length * 2 + r.body.length;
}
