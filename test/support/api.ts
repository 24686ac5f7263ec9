// A deterministic JSON API for the compare tests: the same code serves "production" and
// "shadow", and the two agree byte-for-byte on content unless a difference is planted.
// Every body is a pure function of the request (seeded from the id / query), except the
// noise that real APIs carry and that must be learned, not reported:
//   - body fields: users.generatedAt (ISO time, ms), users.requestId (random UUID),
//     reports.ts (Date.now()), search.took_ms (random int);
//   - headers: X-Request-Id (random UUID), Date (node), Server ("<name>/<version>").
// Options that change the representation but not the content: gzip (Content-Encoding),
// reorderKeys (JSON object keys in reverse order).
//
// Endpoints (all GET; anything else → 404/405 JSON):
//   /users/{id}        id 1..50          ~0.25–0.3 KB JSON
//   /orders/{uuid}     ORDER_IDS (30)    ~0.2–1.3 KB JSON (1..30 items)
//   /reports/{id}      id 1..50          rows = 10·id: ~0.9 KB (id 1) … ~44 KB (id 50) JSON
//   /search?q=<word>   any q             ~0.05–0.1 KB JSON, 20 ms delay (40 ms if planted.slow)
//   /health            "ok"              text/plain (never gzipped)
//   /static/app.css    fixed ~2 KB       text/css
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as zlib from 'node:zlib';
import type { AddressInfo, Socket } from 'node:net';
import { rng } from './packets';
import { answerSafely, refuseMalformed } from './servers';

export interface Planted {
  changedValue?: boolean;   // GET /users/{id}: "age" is user age + 1 on this server
  removedField?: boolean;   // GET /users/{id}: "email" field absent
  typeChange?: boolean;     // GET /orders/{id}: "total" is a string ("12.50") instead of a number
  failing?: boolean;        // GET /reports/{id}: always 500 {"error":"boom"}
  slow?: boolean;           // GET /search: takes twice as long (see delays)
}

export interface ApiServer {
  port: number;
  url: string;
  /** Requests received so far (live; counted when the request head arrives). */
  readonly requests: number;
  close(): Promise<void>;
}

export interface ApiOptions {
  host?: string;
  planted?: Planted;
  /** gzip JSON and CSS bodies when the request's Accept-Encoding includes gzip. */
  gzip?: boolean;
  /** Emit JSON object keys in reverse order (same content). */
  reorderKeys?: boolean;
  /** Server header: `name` if it contains '/', else `${name}/1.0` (default "api/1.0"). */
  name?: string;
}

/** /search delay in ms (doubled when planted.slow). */
export const SEARCH_DELAY_MS = 20;

// ---------------------------------------------------------------------------
// deterministic data

/** The seeded PRNG of the packet builders (mulberry32), floats in [0, 1). */
export const mulberry32 = rng;

/** FNV-1a of a string, used to seed the PRNG from an id or query. */
function seedOf(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function pick<T>(r: () => number, a: readonly T[]): T {
  return a[Math.floor(r() * a.length)];
}

function int(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

const FIRST = ['ada', 'alan', 'grace', 'linus', 'ken', 'barbara', 'edsger', 'margaret', 'dennis', 'radia', 'donald', 'frances'];
const LAST = ['lovelace', 'turing', 'hopper', 'torvalds', 'thompson', 'liskov', 'dijkstra', 'hamilton', 'ritchie', 'perlman', 'knuth', 'allen'];
const CITIES = ['Lisbon', 'Oslo', 'Kyoto', 'Austin', 'Nairobi', 'Lima', 'Perth', 'Tallinn', 'Montreal', 'Seoul'];
const TAGS = ['admin', 'beta', 'vip', 'trial', 'staff', 'early', 'mobile', 'api', 'legacy', 'partner'];
const CURRENCIES = ['USD', 'EUR', 'GBP', 'JPY'];
const METRICS = ['views', 'clicks', 'signups', 'errors', 'latency_p95', 'revenue', 'sessions', 'bounces'];
const REGIONS = ['eu-west', 'us-east', 'us-west', 'ap-south', 'sa-east'];

/** The ~30 order ids (dashed 8-4-4-4-12 hex, valid v4 layout) /orders/{uuid} knows. */
export const ORDER_IDS: readonly string[] = (() => {
  const r = mulberry32(0x0dde7);
  const hex = (n: number) => {
    let s = '';
    for (let i = 0; i < n; i++) s += Math.floor(r() * 16).toString(16);
    return s;
  };
  const out: string[] = [];
  for (let i = 0; i < 30; i++) {
    out.push(`${hex(8)}-${hex(4)}-4${hex(3)}-${'89ab'[Math.floor(r() * 4)]}${hex(3)}-${hex(12)}`);
  }
  return out;
})();

export const USER_ID_MAX = 50;
export const REPORT_ID_MAX = 50;

export interface User {
  id: number; name: string; email: string; age: number; tags: string[];
  profile: { city: string; joined: string };
}

/** The user record for id (1..USER_ID_MAX), without noise or planted changes. */
export function userData(id: number): User {
  const r = mulberry32(seedOf(`user:${id}`));
  const first = pick(r, FIRST);
  const last = pick(r, LAST);
  const tags: string[] = [];
  const nTags = int(r, 1, 4);
  for (let i = 0; i < nTags; i++) {
    const t = pick(r, TAGS);
    if (!tags.includes(t)) tags.push(t);
  }
  const joined = new Date(Date.UTC(2015 + int(r, 0, 9), int(r, 0, 11), int(r, 1, 28))).toISOString().slice(0, 10);
  return {
    id,
    name: `${first[0].toUpperCase()}${first.slice(1)} ${last[0].toUpperCase()}${last.slice(1)}`,
    email: `${first}.${last}${id}@example.com`,
    age: int(r, 18, 80),
    tags,
    profile: { city: pick(r, CITIES), joined },
  };
}

export interface Order {
  id: string; items: Array<{ sku: string; qty: number; price: number }>; total: number; currency: string;
}

/** The order for one of ORDER_IDS (1..30 items; prices in whole cents so totals are exact). */
export function orderData(id: string): Order {
  const r = mulberry32(seedOf(`order:${id}`));
  const n = int(r, 1, 30);
  const items: Order['items'] = [];
  let cents = 0;
  for (let i = 0; i < n; i++) {
    const qty = int(r, 1, 5);
    const priceCents = int(r, 99, 19999);
    cents += qty * priceCents;
    items.push({ sku: `SKU-${int(r, 1000, 9999)}`, qty, price: priceCents / 100 });
  }
  return { id, items, total: cents / 100, currency: pick(r, CURRENCIES) };
}

export interface ReportRow { day: string; region: string; metric: string; value: number; count: number }

/** Report rows for id: 10·id rows (~85 bytes each as JSON). */
export function reportRows(id: number): ReportRow[] {
  const r = mulberry32(seedOf(`report:${id}`));
  const rows: ReportRow[] = [];
  const base = Date.UTC(2024, 0, 1);
  for (let i = 0; i < 10 * id; i++) {
    rows.push({
      day: new Date(base + i * 86_400_000).toISOString().slice(0, 10),
      region: pick(r, REGIONS),
      metric: pick(r, METRICS),
      value: Math.round(r() * 1_000_000) / 100,
      count: int(r, 0, 100_000),
    });
  }
  return rows;
}

/** Search results (user ids) for q: 0..12 ids, pure function of q. */
export function searchResults(q: string): number[] {
  const r = mulberry32(seedOf(`search:${q}`));
  const n = int(r, 0, 12);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(int(r, 1, USER_ID_MAX));
  return out;
}

/** The fixed stylesheet served at /static/app.css (~2 KB, identical everywhere). */
export const APP_CSS: string = (() => {
  const lines = [
    '/* app.css — shadowtap test fixture */',
    ':root { --fg: #222; --bg: #fafafa; --accent: #0a66c2; --muted: #777; }',
    'html, body { margin: 0; padding: 0; font-family: system-ui, sans-serif; color: var(--fg); background: var(--bg); }',
  ];
  const blocks = ['header', 'nav', 'main', 'footer', 'card', 'table', 'button', 'input', 'badge', 'alert', 'modal', 'toolbar', 'sidebar', 'tabs'];
  blocks.forEach((b, i) => {
    lines.push(`.${b} { display: block; margin: ${i % 4}px ${(i * 3) % 16}px; padding: ${4 + (i % 3) * 4}px; border-radius: ${i % 5}px; }`);
    lines.push(`.${b}:hover { color: var(--accent); border-color: #${(0x101010 * (i + 1)).toString(16).slice(-6)}; }`);
  });
  return lines.join('\n') + '\n';
})();

// ---------------------------------------------------------------------------
// server

/** Copy of v with every object's keys in reverse order (recursively). */
export function reverseKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reverseKeys);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as Record<string, unknown>).reverse()) out[k] = reverseKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

export function startApi(opts: ApiOptions = {}): Promise<ApiServer> {
  const host = opts.host ?? '127.0.0.1';
  const planted = opts.planted ?? {};
  const name = opts.name ?? 'api';
  const serverHeader = name.includes('/') ? name : `${name}/1.0`;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let requests = 0;

  const send = (req: http.IncomingMessage, res: http.ServerResponse, status: number, type: string, body: string, compressible: boolean) => {
    if (res.destroyed || res.writableEnded) return;
    let buf = Buffer.from(body, 'utf8');
    res.statusCode = status;
    res.setHeader('Server', serverHeader);
    res.setHeader('X-Request-Id', crypto.randomUUID());
    res.setHeader('Content-Type', type);
    const ae = String(req.headers['accept-encoding'] ?? '');
    if (opts.gzip && compressible && /\bgzip\b/i.test(ae)) {
      buf = zlib.gzipSync(buf);
      res.setHeader('Content-Encoding', 'gzip');
    }
    res.setHeader('Content-Length', String(buf.length));
    res.end(req.method === 'HEAD' ? undefined : buf);
  };
  const json = (req: http.IncomingMessage, res: http.ServerResponse, status: number, value: unknown) =>
    send(req, res, status, 'application/json; charset=utf-8', JSON.stringify(opts.reorderKeys ? reverseKeys(value) : value), true);

  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const target = req.url ?? '/';
    const qpos = target.indexOf('?');
    const path = qpos >= 0 ? target.slice(0, qpos) : target;
    const query = new URLSearchParams(qpos >= 0 ? target.slice(qpos + 1) : '');
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(req, res, 405, { error: 'method not allowed' });
    let m: RegExpExecArray | null;

    if ((m = /^\/users\/(\d+)$/.exec(path))) {
      const id = Number(m[1]);
      if (id < 1 || id > USER_ID_MAX) return json(req, res, 404, { error: 'not found' });
      const u = userData(id);
      const body: Record<string, unknown> = {
        id: u.id, name: u.name, email: u.email, age: planted.changedValue ? u.age + 1 : u.age,
        tags: u.tags, profile: u.profile,
        generatedAt: new Date().toISOString(), requestId: crypto.randomUUID(),
      };
      if (planted.removedField) delete body.email;
      return json(req, res, 200, body);
    }
    if ((m = /^\/orders\/([^/]+)$/.exec(path))) {
      const id = decodeURIComponent(m[1]);
      if (!ORDER_IDS.includes(id)) return json(req, res, 404, { error: 'not found' });
      const o = orderData(id);
      return json(req, res, 200, { ...o, total: planted.typeChange ? o.total.toFixed(2) : o.total });
    }
    if ((m = /^\/reports\/(\d+)$/.exec(path))) {
      if (planted.failing) return json(req, res, 500, { error: 'boom' });
      const id = Number(m[1]);
      if (id < 1 || id > REPORT_ID_MAX) return json(req, res, 404, { error: 'not found' });
      return json(req, res, 200, { id, rows: reportRows(id), ts: Date.now() });
    }
    if (path === '/search') {
      const q = query.get('q') ?? '';
      const t = setTimeout(() => {
        timers.delete(t);
        json(req, res, 200, { q, results: searchResults(q), took_ms: 1 + Math.floor(Math.random() * 50) });
      }, planted.slow ? 2 * SEARCH_DELAY_MS : SEARCH_DELAY_MS);
      timers.add(t);
      return;
    }
    if (path === '/health') return send(req, res, 200, 'text/plain; charset=utf-8', 'ok', false);
    if (path === '/static/app.css') return send(req, res, 200, 'text/css; charset=utf-8', APP_CSS, true);
    return json(req, res, 404, { error: 'not found' });
  };

  const server = http.createServer({ keepAlive: true, keepAliveTimeout: 30_000, requestTimeout: 0, headersTimeout: 60_000 });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    requests++;
    req.on('error', () => { /* client vanished */ });
    req.resume();
    answerSafely(res, () => handle(req, res));
  });
  refuseMalformed(server);

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      const port = (server.address() as AddressInfo).port;
      const urlHost = host.includes(':') ? `[${host}]` : host;
      resolve({
        port,
        url: `http://${urlHost}:${port}`,
        get requests() { return requests; },
        close: () => new Promise<void>((r) => {
          for (const t of timers) clearTimeout(t);
          timers.clear();
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
      });
    });
  });
}

// ---------------------------------------------------------------------------
// client mix

/** Endpoint templates (as src/compare/endpoints.ts pathTemplate() names them) and mix weights. */
export const API_ENDPOINTS = {
  users: 'GET /users/{id}',
  orders: 'GET /orders/{uuid}',
  reports: 'GET /reports/{id}',
  search: 'GET /search',
  health: 'GET /health',
  css: 'GET /static/app.css',
} as const;

/** Small pools, so identical requests repeat often (that is how noise is learned). */
export const MIX_POOLS = {
  userIds: [1, 2, 3, 7, 12, 25, 42],
  orderIds: ORDER_IDS.slice(0, 6),
  reportIds: [1, 4, 10, 25, 50],
  queries: ['alpha', 'beta', 'gamma', 'delta', 'omega'],
} as const;

const WEIGHTS: Array<[keyof typeof API_ENDPOINTS, number]> = [
  ['users', 25], ['orders', 20], ['reports', 15], ['search', 15], ['health', 12], ['css', 13],
];

/** The deterministic list of [template, target] the mix sends for (requests, seed). */
export function apiMixPlan(requests: number, seed = 1): Array<[string, string]> {
  const r = mulberry32(seed);
  const total = WEIGHTS.reduce((a, [, w]) => a + w, 0);
  const out: Array<[string, string]> = [];
  for (let i = 0; i < requests; i++) {
    let x = r() * total;
    let kind: keyof typeof API_ENDPOINTS = WEIGHTS[WEIGHTS.length - 1][0];
    for (const [k, w] of WEIGHTS) {
      if (x < w) { kind = k; break; }
      x -= w;
    }
    let target: string;
    switch (kind) {
      case 'users': target = `/users/${pick(r, MIX_POOLS.userIds)}`; break;
      case 'orders': target = `/orders/${pick(r, MIX_POOLS.orderIds)}`; break;
      case 'reports': target = `/reports/${pick(r, MIX_POOLS.reportIds)}`; break;
      case 'search': target = `/search?q=${pick(r, MIX_POOLS.queries)}`; break;
      case 'health': target = '/health'; break;
      case 'css': target = '/static/app.css'; break;
    }
    out.push([API_ENDPOINTS[kind], target]);
  }
  return out;
}

/**
 * Sends `requests` GETs (the apiMixPlan for seed, default 1) over `concurrency` (default 8)
 * keep-alive connections to host (default 127.0.0.1):port with `Accept-Encoding: gzip`, reading
 * every response completely. Resolves with the count sent per endpoint template; rejects on the
 * first transport error.
 */
export async function driveApiMix(
  port: number,
  opts: { requests: number; seed?: number; concurrency?: number; host?: string; perSecond?: number },
): Promise<{ sent: number; byEndpoint: Record<string, number> }> {
  const concurrency = Math.max(1, opts.concurrency ?? 8);
  const host = opts.host ?? '127.0.0.1';
  const plan = apiMixPlan(opts.requests, opts.seed ?? 1);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const byEndpoint: Record<string, number> = {};
  let next = 0;
  let sent = 0;

  const one = (target: string) => new Promise<void>((resolve, reject) => {
    const req = http.request({ host, port, method: 'GET', path: target, agent, headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
      res.on('error', reject);
      res.on('end', () => resolve());
      res.resume();
    });
    req.on('error', reject);
    req.end();
  });

  const t0 = Date.now();
  const worker = async () => {
    while (next < plan.length) {
      const i = next++;
      const [template, target] = plan[i];
      if (opts.perSecond !== undefined) {
        // Paced like steady production traffic: request i starts no earlier than i / perSecond.
        const due = t0 + (i * 1000) / opts.perSecond - Date.now();
        if (due > 0) await new Promise((r) => setTimeout(r, due));
      }
      await one(target);
      sent++;
      byEndpoint[template] = (byEndpoint[template] ?? 0) + 1;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, plan.length) }, worker));
  } finally {
    agent.destroy();
  }
  return { sent, byEndpoint };
}
