// A captured request as it goes to a shadow: the header list to send, its head as bytes on the
// wire, and why a request cannot be sent at all.

import { isNamed, lowerName } from '../http';
import type { HttpRequest } from '../http';
import type { ReplayOptions } from './types';

/** Header names a proxy must not forward (RFC 9110 §7.6.1), plus Expect (the body is sent at
 * once, no 100 Continue awaited) and Content-Length (requestHead() writes it from the body,
 * which is kept de-chunked). */
const hopByHop = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'expect', 'content-length',
]);

/** The header list to send: the captured one less hop-by-hop fields (and those named by
 * Connection), with the marker added and Host replaced by
 * `host` unless it is null. Order and case of the rest are kept. */
export function shadowHeaders(headers: string[], host: string | null, marker: ReplayOptions['marker']): string[] {
  let named: Set<string> | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    if (isNamed(headers[i], 'connection')) {
      for (const token of headers[i + 1].split(',')) {
        const t = token.trim().toLowerCase();
        if (t !== '') (named ??= new Set()).add(t);
      }
    }
  }
  const out: string[] = [];
  if (host !== null) out.push('host', host);
  const markerName = marker === null ? null : lowerName(marker.name);
  for (let i = 0; i < headers.length; i += 2) {
    const lower = lowerName(headers[i]);
    if (hopByHop.has(lower) || (named !== null && named.has(lower))) continue;
    if (host !== null && lower === 'host') continue;
    if (lower === markerName) continue;
    out.push(headers[i], headers[i + 1]);
  }
  if (marker !== null) out.push(marker.name, marker.value);
  return out;
}

/** Why a request cannot be sent as captured, or null. */
export function unreplayableReason(req: HttpRequest): string | null {
  const url = req.url;
  if (url.length === 0 || /[^\u0021-\u00ff]/.test(url)) return 'target has characters a request line cannot carry';
  if (url[0] !== '/' && !/^https?:\/\//i.test(url)) return `target form not replayable: ${url.slice(0, 40)}`;
  if (req.method === 'CONNECT') return 'CONNECT';
  return null;
}

const headerToken = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Bytes a header value cannot carry (Node's http refuses them too). */
const badHeaderValue = /[^\t\x20-\x7e\x80-\xff]/;

/** Why a header list (as shadowHeaders() builds it) cannot be sent, or null. */
export function unsendableHeaders(headers: string[]): string | null {
  let hosts = 0;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (!headerToken.test(name)) return `header name not a token: ${JSON.stringify(name.slice(0, 40))}`;
    if (badHeaderValue.test(headers[i + 1])) return `header ${name} has bytes a header cannot carry`;
    if (name.length === 4 && name.toLowerCase() === 'host' && ++hosts > 1) return 'more than one Host header';
  }
  return null;
}

/** Methods whose requests carry content by definition: an empty body is sent as
 * Content-Length: 0 (for the others, no Content-Length when there is no body). */
const payloadMethods = new Set(['PUT', 'POST', 'PATCH', 'QUERY', 'PROPFIND', 'PROPPATCH']);

/** The head sent to a shadow, as a string of latin1 characters (one per byte): an HTTP/1.1
 * request line with the captured method and target, the header list (as shadowHeaders()
 * builds it) in its order and case, `host: defaultHost` when the list has no Host, and
 * Content-Length for the body as captured (de-chunked). */
export function requestHead(method: string, url: string, headers: string[], bodyLength: number, defaultHost: string): string {
  let head = `${method} ${url} HTTP/1.1\r\n`;
  let hasHost = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (name.length === 4 && name.toLowerCase() === 'host') hasHost = true;
    head += `${name}: ${headers[i + 1]}\r\n`;
  }
  if (!hasHost) head += `host: ${defaultHost}\r\n`;
  if (bodyLength > 0 || payloadMethods.has(method)) head += `content-length: ${bodyLength}\r\n`;
  return `${head}\r\n`;
}

/** A header object (name → value or values, as undici and older samples hold them) as the raw
 * list production's headers come in. */
export function headerList(headers: Record<string, string | string[]>): string[] {
  const out: string[] = [];
  for (const name in headers) {
    const v = headers[name];
    if (typeof v === 'string') out.push(name, v);
    else for (const x of v) out.push(name, x);
  }
  return out;
}
