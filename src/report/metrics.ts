// Prometheus metrics and the admin HTTP server (`run --admin HOST:PORT`): GET /metrics,
// /healthz and /readyz.
//
// The hot path pays (almost) nothing: every counter is read at scrape time from the stats
// objects the run keeps anyway (one summary() per scrape, through collect() callbacks). The
// one exception is the shadow latency histogram, observed once per shadow answer: plain counts
// per series (prom-client's Histogram hashes its labels on every observation).
// The registry is this module's own, never prom-client's global one.

import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metric } from 'prom-client';
import type { ShadowResponse, TargetStats } from '../replay';
import type { ShadowHealth } from './shadows';
import type { Outcome } from '../model';

/** What the metrics read at scrape time: a subset of `run`'s summary() (structurally typed,
 * so the summary object itself fits). */
export interface MetricsStats {
  seen: number;
  replayed: number;
  notReplayed: Record<string, number>;
  pending: number;
  capture: {
    packets: number; bytes: number; kernelReceived: number; kernelDropped: number; ifDropped: number; queueDropped: number;
  };
  tcp: {
    connectionsOpened: number; connectionsMidstream: number; connectionsActive: number; closed: Record<string, number>;
    gaps: number; gapBytes: number; bufferedBytes: number;
  };
  http: { requests: number; responses: number; parseErrors: number };
  shadows: TargetStats[];
  /** Replayers replaced by a SIGHUP reload (still draining): their counts stay in the totals. */
  retiredShadows?: TargetStats[][];
  compare?: { exchanges: number; busy: number; queued: number };
  ownReplaysIgnored?: number;
}

export interface MetricsSource {
  stats(): MetricsStats;
  /** Per judged shadow target: exchanges diffed and those differing anywhere (when comparing). */
  comparison?(): Array<{ target: string; compared: number; mismatched: number }>;
}

/** Every ledger bucket a request of `run` can end in, so that each series exists (at 0) from the
 * start; a Record so that a new outcome cannot be left out. */
// Fleet mode's outcomes (run --publish, worker) appear when they occur; fleet metrics count them too.
const RUN_OUTCOMES: Record<Exclude<Outcome, 'inspectOnly' | 'writeError' | 'publishDropped' | 'publishFailed' | 'badMessage'>, true> = {
  replayed: true, queueFull: true, bodyTooLarge: true, unreplayable: true, shadowError: true, shadowTimeout: true, shutdown: true, rateLimited: true,
  unsafeMethod: true, filtered: true, sampledOut: true, tunnel: true,
  incomplete: true, parseError: true, evicted: true, upgrade: true, pipelineOverflow: true, reset: true, memoryShed: true,
};
export const REQUEST_OUTCOMES = Object.keys(RUN_OUTCOMES) as ReadonlyArray<keyof typeof RUN_OUTCOMES>;

/** Shadow latency buckets, in seconds (0.5 ms to 30 s). */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Outcomes of a request that was actually sent to a target (the others never reached it). */
const sentOutcomes = new Set<string>(['replayed', 'shadowError', 'shadowTimeout']);

/** Per target, the current replayer's stats plus those of replayers a reload retired, so that
 * the counters never go back. */
export function targetTotals(s: MetricsStats): TargetStats[] {
  if (s.retiredShadows === undefined || s.retiredShadows.length === 0) return s.shadows;
  const byTarget = new Map<string, TargetStats>();
  for (const list of [s.shadows, ...s.retiredShadows]) {
    for (const t of list) {
      const sum = byTarget.get(t.target);
      if (sum === undefined) {
        byTarget.set(t.target, { ...t, byStatusClass: { ...t.byStatusClass }, ...(t.h2 !== undefined ? { h2: { ...t.h2 } } : {}) });
        continue;
      }
      sum.sent += t.sent; sum.responses += t.responses; sum.errors += t.errors; sum.timeouts += t.timeouts;
      sum.queueFull += t.queueFull; sum.rateLimited += t.rateLimited;
      sum.inFlight += t.inFlight; sum.queued += t.queued; sum.lanes += t.lanes;
      for (const c in t.byStatusClass) sum.byStatusClass[c] = (sum.byStatusClass[c] ?? 0) + t.byStatusClass[c];
      if (t.h2 !== undefined) {
        const h2 = (sum.h2 ??= { sessionsOpened: 0, streams: 0, resets: 0, goaways: 0 });
        h2.sessionsOpened += t.h2.sessionsOpened; h2.streams += t.h2.streams; h2.resets += t.h2.resets; h2.goaways += t.h2.goaways;
      }
    }
  }
  return [...byTarget.values()];
}

export class ShadowtapMetrics {
  readonly registry = new Registry();
  private current: MetricsStats | null = null;
  private currentTargets: TargetStats[] | null = null;
  private currentComparison: ReturnType<NonNullable<MetricsSource['comparison']>> | null = null;
  private readonly latency: LatencyMetric;
  private readyValue = 0;

  constructor(private readonly source: MetricsSource, options: { defaultMetrics?: boolean; targets?: string[] } = {}) {
    const reg = this.registry;
    const snap = (): MetricsStats => (this.current ??= this.source.stats());
    const targets = (): TargetStats[] => (this.currentTargets ??= targetTotals(snap()));
    const comparison = () => (this.currentComparison ??= this.source.comparison?.() ?? []);

    // A counter read from the stats: one value, or one per label set.
    const counter = (name: string, help: string, read: (s: MetricsStats) => number): void => {
      new Counter({ name, help, registers: [reg], collect(this: Counter) { const v = read(snap()); this.reset(); this.inc(v); } });
    };
    const gauge = (name: string, help: string, read: (s: MetricsStats) => number): void => {
      new Gauge({ name, help, registers: [reg], collect(this: Gauge) { this.set(read(snap())); } });
    };
    const perTarget = (name: string, help: string, read: (t: TargetStats) => number, kind: 'counter' | 'gauge' = 'counter'): void => {
      if (kind === 'counter') {
        new Counter({
          name, help, labelNames: ['target'], registers: [reg],
          collect(this: Counter<'target'>) { this.reset(); for (const t of targets()) this.inc({ target: t.target }, read(t)); },
        });
      } else {
        new Gauge({
          name, help, labelNames: ['target'], registers: [reg],
          collect(this: Gauge<'target'>) { this.reset(); for (const t of targets()) this.set({ target: t.target }, read(t)); },
        });
      }
    };

    // capture
    counter('shadowtap_capture_packets_total', 'Packets captured and handed to shadowtap (live) or read from the file.', (s) => s.capture.packets);
    counter('shadowtap_capture_bytes_total', 'Wire bytes of the packets captured.', (s) => s.capture.bytes);
    counter('shadowtap_capture_kernel_received_total', 'Packets the kernel passed the capture filter (pcap_stats ps_recv; about twice the packets on lo).', (s) => s.capture.kernelReceived);
    counter('shadowtap_capture_kernel_dropped_total', 'Packets dropped by the kernel: the capture ring was full (pcap_stats ps_drop).', (s) => s.capture.kernelDropped);
    counter('shadowtap_capture_interface_dropped_total', 'Packets dropped by the interface or its driver (pcap_stats ps_ifdrop).', (s) => s.capture.ifDropped);
    counter('shadowtap_capture_queue_dropped_total', 'Packets taken from the kernel but dropped because the JavaScript thread fell behind.', (s) => s.capture.queueDropped);

    // tcp
    counter('shadowtap_tcp_connections_opened_total', 'TCP connections tracked (handshake seen or picked up midstream).', (s) => s.tcp.connectionsOpened);
    counter('shadowtap_tcp_connections_midstream_total', 'TCP connections picked up without their handshake.', (s) => s.tcp.connectionsMidstream);
    gauge('shadowtap_tcp_connections_active', 'TCP connections tracked now.', (s) => s.tcp.connectionsActive);
    new Counter({
      name: 'shadowtap_tcp_connections_closed_total', help: 'TCP connections no longer tracked, by reason (fin, rst, expired, evicted, reused, shutdown).',
      labelNames: ['reason'], registers: [reg],
      collect(this: Counter<'reason'>) {
        this.reset();
        const closed = snap().tcp.closed;
        for (const reason in closed) this.inc({ reason }, closed[reason]);
      },
    });
    counter('shadowtap_tcp_gaps_total', 'Holes in a reassembled stream (bytes the capture never saw or had to give up).', (s) => s.tcp.gaps);
    counter('shadowtap_tcp_gap_bytes_total', 'Bytes missing in those holes.', (s) => s.tcp.gapBytes);
    gauge('shadowtap_tcp_buffered_bytes', 'Out-of-order bytes held for reassembly now.', (s) => s.tcp.bufferedBytes);

    // http
    counter('shadowtap_http_requests_parsed_total', 'HTTP requests parsed from the capture.', (s) => s.http.requests);
    counter('shadowtap_http_responses_parsed_total', 'HTTP responses (production\'s) parsed from the capture.', (s) => s.http.responses);
    counter('shadowtap_http_parse_errors_total', 'HTTP parse errors (the connection is resynchronised or given up).', (s) => s.http.parseErrors);

    // the ledger: every request seen ends in exactly one outcome
    counter('shadowtap_requests_seen_total', 'Requests seen (each ends in exactly one outcome of shadowtap_requests_total, or is pending).', (s) => s.seen);
    new Counter({
      name: 'shadowtap_requests_total', help: 'Requests settled, by outcome: replayed, or the reason it was not (queueFull, rateLimited, unsafeMethod, shadowError, ...).',
      labelNames: ['outcome'], registers: [reg],
      collect(this: Counter<'outcome'>) {
        this.reset();
        const s = snap();
        for (const outcome of REQUEST_OUTCOMES) this.inc({ outcome }, 0);
        this.inc({ outcome: 'replayed' }, s.replayed);
        for (const outcome in s.notReplayed) this.inc({ outcome }, s.notReplayed[outcome]);
      },
    });
    gauge('shadowtap_requests_pending', 'Requests seen and not settled yet (queued or in flight towards the shadows).', (s) => s.pending);
    counter('shadowtap_own_replays_ignored_total', 'shadowtap\'s own replays seen in the capture (marker header) and ignored.', (s) => s.ownReplaysIgnored ?? 0);

    // per shadow target
    perTarget('shadowtap_shadow_sent_total', 'Requests sent to the shadow target.', (t) => t.sent);
    new Counter({
      name: 'shadowtap_shadow_responses_total', help: 'Responses from the shadow target, by status class.',
      labelNames: ['target', 'status_class'], registers: [reg],
      collect(this: Counter<'target' | 'status_class'>) {
        this.reset();
        for (const t of targets()) {
          for (const c of ['2xx', '3xx', '4xx', '5xx']) this.inc({ target: t.target, status_class: c }, 0);
          for (const c in t.byStatusClass) this.inc({ target: t.target, status_class: c }, t.byStatusClass[c]);
        }
      },
    });
    perTarget('shadowtap_shadow_errors_total', 'Requests to the shadow target that failed (connection refused, reset, protocol error).', (t) => t.errors);
    perTarget('shadowtap_shadow_timeouts_total', 'Requests to the shadow target that timed out (--timeout-ms).', (t) => t.timeouts);
    perTarget('shadowtap_shadow_queue_full_total', 'Requests refused because the target\'s queue was full (--queue-size, --queue-mb).', (t) => t.queueFull);
    perTarget('shadowtap_shadow_rate_limited_total', 'Requests refused beyond --rate.', (t) => t.rateLimited);
    perTarget('shadowtap_shadow_queue_depth', 'Requests waiting for the target now.', (t) => t.queued, 'gauge');
    perTarget('shadowtap_shadow_in_flight', 'Requests in flight to the target now.', (t) => t.inFlight, 'gauge');
    perTarget('shadowtap_shadow_lanes', 'Dedicated connections open to the target now (--preserve-connections).', (t) => t.lanes, 'gauge');
    perTarget('shadowtap_shadow_sessions_opened_total', 'HTTP/2 sessions opened to the target.', (t) => t.h2?.sessionsOpened ?? 0);
    perTarget('shadowtap_shadow_streams_total', 'HTTP/2 streams opened to the target (requests sent over HTTP/2, a refused one sent again counts twice).', (t) => t.h2?.streams ?? 0);
    perTarget('shadowtap_shadow_stream_resets_total', 'HTTP/2 streams the target reset (RST_STREAM, REFUSED_STREAM included).', (t) => t.h2?.resets ?? 0);
    perTarget('shadowtap_shadow_goaways_total', 'HTTP/2 GOAWAY frames the target sent.', (t) => t.h2?.goaways ?? 0);
    this.latency = new LatencyMetric('shadowtap_shadow_latency_seconds',
      'Shadow target latency, from writing the request on a connected socket to the last response byte, by outcome (replayed, shadowError, shadowTimeout).',
      LATENCY_BUCKETS);
    reg.registerMetric(this.latency as unknown as Metric);
    for (const target of options.targets ?? []) this.latency.series(target, 'replayed');

    // comparison
    counter('shadowtap_compare_exchanges_total', 'Exchanges handed to the comparison (production\'s response and every target\'s answer in).', (s) => s.compare?.exchanges ?? 0);
    counter('shadowtap_compare_busy_total', 'Shadow answers left undiffed because the comparison (--compare-cpu) or the capture was behind.', (s) => s.compare?.busy ?? 0);
    gauge('shadowtap_compare_queued', 'Exchanges waiting to be diffed now.', (s) => s.compare?.queued ?? 0);
    new Counter({
      name: 'shadowtap_compare_compared_total', help: 'Exchanges diffed, per judged shadow target.',
      labelNames: ['target'], registers: [reg],
      collect(this: Counter<'target'>) { this.reset(); for (const c of comparison()) this.inc({ target: c.target }, c.compared); },
    });
    new Counter({
      name: 'shadowtap_compare_mismatched_total',
      help: 'Diffed exchanges that differed anywhere, noise included (the flagged mismatch rate is `shadowtap report`\'s).',
      labelNames: ['target'], registers: [reg],
      collect(this: Counter<'target'>) { this.reset(); for (const c of comparison()) this.inc({ target: c.target }, c.mismatched); },
    });

    const self = this;
    new Gauge({
      name: 'shadowtap_ready', help: '1 while capture runs and the run is not stopping (as /readyz), else 0.', registers: [reg],
      collect(this: Gauge) { this.set(self.readyValue); },
    });

    // The event loop lag histogram samples every 100 ms, not prom-client's 10: its timer would
    // wake an idle daemon a hundred times a second.
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: reg, eventLoopMonitoringPrecision: 100 });
  }

  set ready(ready: boolean) {
    this.readyValue = ready ? 1 : 0;
  }

  /** Latency of each answer that was sent (the hook run's settle callback calls). */
  onShadowResponse(target: string, latencyUs: number, outcome: string): void {
    if (!sentOutcomes.has(outcome)) return;
    this.latency.series(target, outcome).observe(latencyUs / 1e6);
  }

  observeResponses(responses: ShadowResponse[]): void {
    for (let i = 0; i < responses.length; i++) {
      const r = responses[i];
      if (r !== undefined) this.onShadowResponse(r.target, r.latencyUs, r.outcome);
    }
  }

  /** The exposition text; the stats are read once per call. */
  async render(): Promise<string> {
    this.current = null;
    this.currentTargets = null;
    this.currentComparison = null;
    try {
      return await this.registry.metrics();
    } finally {
      this.current = null;
      this.currentTargets = null;
      this.currentComparison = null;
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** A line of the exposition as prom-client's registry formats it. */
interface LatencyValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** One target and outcome's observations: counts per bucket (not cumulative), their sum. */
class LatencySeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(readonly target: string, readonly outcome: string, private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    const bounds = this.bounds;
    let b = 0;
    while (b < bounds.length && seconds > bounds[b]) b++;
    if (b < bounds.length) this.counts[b]++;
    this.sum += seconds;
    this.count++;
  }
}

/** A histogram by target and outcome that prom-client's registry exposes as it would its own
 * Histogram (the registry reads name, help, type and get()). */
class LatencyMetric {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly byTarget = new Map<string, Map<string, LatencySeries>>();
  private readonly all: LatencySeries[] = [];
  constructor(readonly name: string, readonly help: string, private readonly bounds: readonly number[]) {}

  series(target: string, outcome: string): LatencySeries {
    let byOutcome = this.byTarget.get(target);
    if (byOutcome === undefined) this.byTarget.set(target, byOutcome = new Map());
    let series = byOutcome.get(outcome);
    if (series === undefined) {
      byOutcome.set(outcome, series = new LatencySeries(target, outcome, this.bounds));
      this.all.push(series);
    }
    return series;
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: LatencyValue[] }> {
    const values: LatencyValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.all) {
      let cumulative = 0;
      for (let b = 0; b < this.bounds.length; b++) {
        cumulative += s.counts[b];
        values.push({ metricName: bucket, labels: { le: this.bounds[b], target: s.target, outcome: s.outcome }, value: cumulative });
      }
      values.push({ metricName: bucket, labels: { le: '+Inf', target: s.target, outcome: s.outcome }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: { target: s.target, outcome: s.outcome }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { target: s.target, outcome: s.outcome }, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {}
}

export interface AdminAddress {
  host: string;
  port: number;
}

/** `host:port`, with IPv6 hosts in brackets. */
export function formatAddress(a: AdminAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Event loop lag, sampled by a timer every `intervalMs` (unref'd: it never keeps the process up). */
class LagProbe {
  lastMs = 0;
  private expected = 0;
  private timer: NodeJS.Timeout | null = null;
  constructor(private readonly intervalMs = 500) {}
  start(): void {
    const tick = (): void => {
      const now = performance.now();
      this.lastMs = Math.max(0, now - this.expected);
      this.expected = now + this.intervalMs;
      this.timer = setTimeout(tick, this.intervalMs).unref();
    };
    this.expected = performance.now() + this.intervalMs;
    this.timer = setTimeout(tick, this.intervalMs).unref();
  }
  /** The lag now: the last sample, or how overdue the pending tick already is. */
  get lagMs(): number {
    return Math.max(this.lastMs, performance.now() - this.expected);
  }
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

export interface AdminOptions {
  /** /healthz answers 503 when the event loop lags more than this (default 5000 ms). */
  maxLagMs?: number;
  /** The shadows' health: /readyz shows it, and answers 503 while every shadow is failing. */
  shadows?: ShadowHealth;
  /** /report: the comparison so far as the HTML report (absent: 404, no comparison). */
  report?: () => string;
}

/**
 * The admin server: GET (or HEAD) /metrics, /healthz, /readyz, and /report while comparing; 405 for other methods on
 * those, 404 for anything else. No other routes, no files.
 */
export class AdminServer {
  private readonly server: http.Server;
  private readonly lag = new LagProbe();
  private state: 'starting' | 'ready' | 'stopping' = 'starting';
  private readonly maxLagMs: number;
  private readonly shadows: ShadowHealth | null;
  private readonly report: (() => string) | null;

  constructor(readonly metrics: ShadowtapMetrics, options: AdminOptions = {}) {
    this.maxLagMs = options.maxLagMs ?? 5000;
    this.shadows = options.shadows ?? null;
    this.report = options.report ?? null;
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.requestTimeout = 10_000;
    this.server.headersTimeout = 5_000;
    this.server.maxConnections = 64;
  }

  /** Resolves with the address bound (the port chosen when 0 was asked). */
  listen(addr: AdminAddress): Promise<AdminAddress> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(addr.port, addr.host, () => {
        this.server.off('error', onError);
        this.server.unref(); // never what keeps the process up
        this.lag.start();
        const a = this.server.address() as AddressInfo;
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  /** Capture is running: /readyz answers 200 (unless every shadow is failing). */
  markReady(): void {
    if (this.state === 'starting') this.state = 'ready';
    this.metrics.ready = this.ready;
  }

  /** Capturing, and at least one shadow not failing. */
  get ready(): boolean {
    return this.state === 'ready' && !(this.shadows?.allFailing ?? false);
  }

  /** The run is stopping: /readyz answers 503 from now on. */
  markStopping(): void {
    this.state = 'stopping';
    this.metrics.ready = false;
  }

  close(): Promise<void> {
    this.markStopping();
    this.lag.stop();
    return new Promise((resolve) => {
      if (!this.server.listening) { resolve(); return; }
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q >= 0 ? url.slice(0, q) : url;
    if (path !== '/metrics' && path !== '/healthz' && path !== '/readyz' && (path !== '/report' || this.report === null)) {
      this.send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      this.send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      const lagMs = this.lag.lagMs;
      const ok = lagMs <= this.maxLagMs;
      this.send(res, ok ? 200 : 503, 'application/json',
        `${JSON.stringify({ status: ok ? 'ok' : 'lagging', eventLoopLagMs: Math.round(lagMs * 10) / 10, uptimeS: Math.round(process.uptime()) })}\n`);
      return;
    }
    if (path === '/report') {
      // The report's own CSP (no scripts, inline styles only) travels in its <meta>.
      let page: string;
      try {
        page = this.report!();
      } catch (err) {
        this.send(res, 500, 'text/plain; charset=utf-8', `report failed: ${(err as Error).message}\n`);
        return;
      }
      this.send(res, 200, 'text/html; charset=utf-8', page);
      return;
    }
    this.metrics.ready = this.ready;
    if (path === '/readyz') {
      const status = this.state === 'ready' && !this.ready ? 'shadowsFailing' : this.state;
      const body = { status, capture: this.state === 'ready' ? 'running' : this.state, ...(this.shadows !== null ? { shadows: this.shadows.states() } : {}) };
      this.send(res, this.ready ? 200 : 503, 'application/json', `${JSON.stringify(body)}\n`);
      return;
    }
    this.metrics.render().then(
      (text) => this.send(res, 200, this.metrics.contentType, text),
      (err: Error) => this.send(res, 500, 'text/plain; charset=utf-8', `metrics failed: ${err.message}\n`),
    );
  }

  private send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
    res.writeHead(status, {
      'Content-Type': contentType,
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(body); // node sends no body for HEAD
  }
}

/** The admin server on `at`, serving `metrics`; a failed bind is logged, not fatal. */
export function startAdmin(at: AdminAddress, metrics: ShadowtapMetrics, log: { info: (o: object, m: string) => void; error: (o: object, m: string) => void }, options: AdminOptions = {}): AdminServer {
  const admin = new AdminServer(metrics, options);
  admin.listen(at).then(
    (a) => log.info({ address: formatAddress(a) }, `admin server on http://${formatAddress(a)}: /metrics /healthz /readyz${options.report !== undefined ? ' /report' : ''}`),
    (err: Error) => log.error({ err: err.message, address: formatAddress(at) }, 'admin server failed to listen: no /metrics, /healthz, /readyz'));
  return admin;
}
