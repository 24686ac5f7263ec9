import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { ConfigError, adminFlag } from '../../src/config';
import type { TargetStats } from '../../src/replay';
import { Histogram, Registry } from 'prom-client';
import { AdminServer, LATENCY_BUCKETS, MetricsStats, REQUEST_OUTCOMES, ShadowtapMetrics, formatAddress, targetTotals } from '../../src/report/metrics';

const A = 'http://127.0.0.1:8081';
const B = 'http://[::1]:8082';

function target(t: string, over: Partial<TargetStats> = {}): TargetStats {
  return {
    target: t, sent: 0, responses: 0, errors: 0, timeouts: 0, queueFull: 0, rateLimited: 0,
    byStatusClass: {}, inFlight: 0, queued: 0, lanes: 0, ...over,
  };
}

function fakeStats(): MetricsStats {
  return {
    seen: 120, replayed: 100, notReplayed: { queueFull: 7, unsafeMethod: 3, someNewReason: 2 }, pending: 8,
    capture: { packets: 5000, bytes: 1_234_567, kernelReceived: 10_000, kernelDropped: 4, ifDropped: 1, queueDropped: 2 },
    tcp: {
      connectionsOpened: 40, connectionsMidstream: 2, connectionsActive: 5,
      closed: { fin: 30, rst: 3, expired: 1, evicted: 0, reused: 1, shutdown: 0 }, gaps: 6, gapBytes: 900, bufferedBytes: 77,
    },
    http: { requests: 118, responses: 110, parseErrors: 2 },
    shadows: [
      target(A, { sent: 105, responses: 100, errors: 2, timeouts: 3, queueFull: 7, rateLimited: 0, byStatusClass: { '2xx': 90, '5xx': 10 }, inFlight: 4, queued: 6 }),
      target(B, { sent: 9, responses: 9, byStatusClass: { '2xx': 9 } }),
    ],
    compare: { exchanges: 95, busy: 5, queued: 3 },
    ownReplaysIgnored: 11,
  };
}

/** The value of one sample line `name{labels} value` (labels as written, sorted by prom-client as given). */
function value(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

test('metrics: names, help, types, labels and values read from the stats at scrape time', async () => {
  let reads = 0;
  const stats = fakeStats();
  const m = new ShadowtapMetrics({
    stats: () => { reads++; return stats; },
    comparison: () => [{ target: A, compared: 80, mismatched: 4 }],
  }, { defaultMetrics: false, targets: [A, B] });
  const text = await m.render();
  assert.equal(reads, 1, 'one summary per scrape, however many metrics read it');

  assert.match(text, /# HELP shadowtap_requests_total Requests settled, by outcome/);
  assert.match(text, /# TYPE shadowtap_requests_total counter/);
  assert.match(text, /# TYPE shadowtap_tcp_connections_active gauge/);
  assert.match(text, /# TYPE shadowtap_shadow_latency_seconds histogram/);

  assert.equal(value(text, 'shadowtap_capture_packets_total'), 5000);
  assert.equal(value(text, 'shadowtap_capture_bytes_total'), 1_234_567);
  assert.equal(value(text, 'shadowtap_capture_kernel_dropped_total'), 4);
  assert.equal(value(text, 'shadowtap_capture_interface_dropped_total'), 1);
  assert.equal(value(text, 'shadowtap_capture_queue_dropped_total'), 2);
  assert.equal(value(text, 'shadowtap_tcp_connections_opened_total'), 40);
  assert.equal(value(text, 'shadowtap_tcp_connections_active'), 5);
  assert.equal(value(text, 'shadowtap_tcp_connections_closed_total{reason="fin"}'), 30);
  assert.equal(value(text, 'shadowtap_tcp_connections_closed_total{reason="rst"}'), 3);
  assert.equal(value(text, 'shadowtap_tcp_gaps_total'), 6);
  assert.equal(value(text, 'shadowtap_http_requests_parsed_total'), 118);
  assert.equal(value(text, 'shadowtap_http_parse_errors_total'), 2);

  assert.equal(value(text, 'shadowtap_requests_seen_total'), 120);
  assert.equal(value(text, 'shadowtap_requests_total{outcome="replayed"}'), 100);
  assert.equal(value(text, 'shadowtap_requests_total{outcome="queueFull"}'), 7);
  assert.equal(value(text, 'shadowtap_requests_total{outcome="unsafeMethod"}'), 3);
  assert.equal(value(text, 'shadowtap_requests_total{outcome="someNewReason"}'), 2, 'a bucket the list does not know still shows');
  for (const o of REQUEST_OUTCOMES) assert.notEqual(value(text, `shadowtap_requests_total{outcome="${o}"}`), undefined, o);
  assert.equal(value(text, 'shadowtap_requests_total{outcome="shadowTimeout"}'), 0);
  assert.equal(value(text, 'shadowtap_requests_pending'), 8);
  assert.equal(value(text, 'shadowtap_own_replays_ignored_total'), 11);

  assert.equal(value(text, `shadowtap_shadow_sent_total{target="${A}"}`), 105);
  assert.equal(value(text, `shadowtap_shadow_sent_total{target="${B}"}`), 9);
  assert.equal(value(text, `shadowtap_shadow_responses_total{target="${A}",status_class="2xx"}`), 90);
  assert.equal(value(text, `shadowtap_shadow_responses_total{target="${A}",status_class="5xx"}`), 10);
  assert.equal(value(text, `shadowtap_shadow_responses_total{target="${A}",status_class="4xx"}`), 0);
  assert.equal(value(text, `shadowtap_shadow_errors_total{target="${A}"}`), 2);
  assert.equal(value(text, `shadowtap_shadow_timeouts_total{target="${A}"}`), 3);
  assert.equal(value(text, `shadowtap_shadow_queue_full_total{target="${A}"}`), 7);
  assert.equal(value(text, `shadowtap_shadow_rate_limited_total{target="${A}"}`), 0);
  assert.equal(value(text, `shadowtap_shadow_queue_depth{target="${A}"}`), 6);
  assert.equal(value(text, `shadowtap_shadow_in_flight{target="${A}"}`), 4);

  assert.equal(value(text, 'shadowtap_compare_exchanges_total'), 95);
  assert.equal(value(text, 'shadowtap_compare_busy_total'), 5);
  assert.equal(value(text, `shadowtap_compare_compared_total{target="${A}"}`), 80);
  assert.equal(value(text, `shadowtap_compare_mismatched_total{target="${A}"}`), 4);
  assert.equal(value(text, 'shadowtap_ready'), 0);

  // Every shadowtap_ name follows Prometheus naming: counters end in _total, no process metrics here.
  const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => [x[1], x[2]]);
  assert.ok(types.length >= 35, `${types.length} metrics`);
  for (const [name, type] of types) {
    assert.match(name, /^shadowtap_[a-z_]+$/);
    if (type === 'counter') assert.match(name, /_total$/, name);
    else assert.doesNotMatch(name, /_total$/, name);
  }

  // The stats are read again at the next scrape: values follow them.
  stats.replayed = 101;
  stats.capture.packets = 5100;
  const again = await m.render();
  assert.equal(reads, 2);
  assert.equal(value(again, 'shadowtap_requests_total{outcome="replayed"}'), 101);
  assert.equal(value(again, 'shadowtap_capture_packets_total'), 5100);
});

test('metrics: latency histogram per target and outcome; refusals are not observed', async () => {
  const m = new ShadowtapMetrics({ stats: fakeStats }, { defaultMetrics: false, targets: [A] });
  const zero = await m.render();
  assert.equal(value(zero, `shadowtap_shadow_latency_seconds_count{target="${A}",outcome="replayed"}`), 0, 'series exist from the start');
  m.onShadowResponse(A, 700, 'replayed'); // 0.7 ms
  m.onShadowResponse(A, 30_000, 'replayed'); // 30 ms
  m.onShadowResponse(A, 300_000, 'shadowTimeout');
  m.onShadowResponse(A, 0, 'queueFull'); // never sent: no latency
  m.observeResponses([{ target: B, statusCode: 200, headers: null, body: null, bodySize: 0, latencyUs: 2000, outcome: 'replayed', error: null }]);
  const text = await m.render();
  assert.equal(value(text, `shadowtap_shadow_latency_seconds_count{target="${A}",outcome="replayed"}`), 2);
  assert.equal(value(text, `shadowtap_shadow_latency_seconds_bucket{le="0.001",target="${A}",outcome="replayed"}`), 1);
  assert.equal(value(text, `shadowtap_shadow_latency_seconds_bucket{le="0.05",target="${A}",outcome="replayed"}`), 2);
  assert.ok(Math.abs(value(text, `shadowtap_shadow_latency_seconds_sum{target="${A}",outcome="replayed"}`)! - 0.0307) < 1e-9);
  assert.equal(value(text, `shadowtap_shadow_latency_seconds_count{target="${A}",outcome="shadowTimeout"}`), 1);
  assert.equal(value(text, `shadowtap_shadow_latency_seconds_count{target="${A}",outcome="queueFull"}`), undefined);
  assert.equal(value(text, `shadowtap_shadow_latency_seconds_count{target="${B}",outcome="replayed"}`), 1);
});

test('metrics: the latency histogram exposes what prom-client\'s own Histogram would, line for line', async () => {
  // The oracle: prom-client's Histogram fed the same observations (values on bucket bounds too).
  const reg = new Registry();
  const oracle = new Histogram({
    name: 'shadowtap_shadow_latency_seconds', help: 'x', labelNames: ['target', 'outcome'], buckets: LATENCY_BUCKETS, registers: [reg],
  });
  oracle.zero({ target: A, outcome: 'replayed' });
  const m = new ShadowtapMetrics({ stats: fakeStats }, { defaultMetrics: false, targets: [A] });
  let seed = 7;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const outcomes = ['replayed', 'shadowError', 'shadowTimeout'];
  for (let i = 0; i < 5000; i++) {
    const target = random() < 0.7 ? A : B;
    const outcome = outcomes[Math.floor(random() * 3)];
    const us = random() < 0.2 ? LATENCY_BUCKETS[Math.floor(random() * LATENCY_BUCKETS.length)] * 1e6 : Math.floor(random() ** 3 * 40e6);
    m.onShadowResponse(target, us, outcome);
    oracle.observe({ target, outcome }, us / 1e6);
  }
  const lines = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('shadowtap_shadow_latency_seconds'));
  const ours = lines(await m.render());
  assert.equal(ours.length, 6 * (LATENCY_BUCKETS.length + 3)); // two targets, three outcomes
  assert.deepEqual(ours, lines(await reg.metrics()));
});

test('metrics: a replayer retired by a reload keeps counting in its target\'s totals', () => {
  const s = fakeStats();
  s.retiredShadows = [[target(A, { sent: 50, responses: 45, byStatusClass: { '2xx': 40, '4xx': 5 }, inFlight: 1 })]];
  const totals = targetTotals(s);
  const a = totals.find((t) => t.target === A)!;
  assert.equal(a.sent, 155);
  assert.equal(a.responses, 145);
  assert.deepEqual(a.byStatusClass, { '2xx': 130, '5xx': 10, '4xx': 5 });
  assert.equal(a.inFlight, 5);
  assert.equal(s.shadows[0].sent, 105, 'the summary itself is left alone');
});

test('metrics: default process metrics on the own registry, not the global one', async () => {
  const m = new ShadowtapMetrics({ stats: fakeStats });
  const text = await m.render();
  assert.match(text, /^process_cpu_user_seconds_total /m);
  assert.match(text, /^process_resident_memory_bytes /m);
  assert.match(text, /^nodejs_eventloop_lag_seconds /m);
  const { register } = await import('prom-client');
  assert.equal((await register.metrics()).includes('shadowtap_'), false);
});

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: string }

function request(port: number, path: string, method = 'GET', host = '127.0.0.1'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('admin server: /metrics, /healthz, /readyz (starting, ready, stopping), HEAD, 404 and 405', async (t) => {
  const m = new ShadowtapMetrics({ stats: fakeStats }, { defaultMetrics: false });
  const admin = new AdminServer(m);
  t.after(() => admin.close());
  const addr = await admin.listen({ host: '127.0.0.1', port: 0 });
  assert.equal(addr.host, '127.0.0.1');
  assert.ok(addr.port > 0);

  const metrics = await request(addr.port, '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(String(metrics.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  assert.match(metrics.body, /^shadowtap_requests_total\{outcome="replayed"\} 100$/m);

  const health = await request(addr.port, '/healthz');
  assert.equal(health.status, 200);
  const h = JSON.parse(health.body);
  assert.equal(h.status, 'ok');
  assert.equal(typeof h.eventLoopLagMs, 'number');

  let ready = await request(addr.port, '/readyz');
  assert.deepEqual([ready.status, JSON.parse(ready.body)], [503, { status: 'starting', capture: 'starting' }]);
  admin.markReady();
  ready = await request(addr.port, '/readyz');
  assert.deepEqual([ready.status, JSON.parse(ready.body)], [200, { status: 'ready', capture: 'running' }]);
  assert.match((await request(addr.port, '/metrics')).body, /^shadowtap_ready 1$/m);
  assert.equal((await request(addr.port, '/readyz?verbose=1')).status, 200, 'a query string is ignored');

  const head = await request(addr.port, '/metrics', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.ok(Number(head.headers['content-length']) > 1000);

  for (const path of ['/', '/metrics/', '/favicon.ico', '/../etc/passwd', '/debug/pprof', '/healthz/x']) {
    const r = await request(addr.port, path);
    assert.equal(r.status, 404, path);
    assert.equal(r.body, 'not found\n');
  }
  const post = await request(addr.port, '/metrics', 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');

  admin.markStopping();
  admin.markReady(); // stopping is final
  ready = await request(addr.port, '/readyz');
  assert.deepEqual([ready.status, JSON.parse(ready.body)], [503, { status: 'stopping', capture: 'stopping' }]);
  assert.equal((await request(addr.port, '/healthz')).status, 200, 'alive while stopping');
});

test('admin server: IPv6 loopback, and a busy port is an error for the caller', async (t) => {
  const m = new ShadowtapMetrics({ stats: fakeStats }, { defaultMetrics: false });
  const first = new AdminServer(m);
  t.after(() => first.close());
  let addr;
  try {
    addr = await first.listen({ host: '::1', port: 0 });
  } catch (err) {
    t.skip(`no IPv6 loopback here: ${(err as Error).message}`);
    return;
  }
  assert.equal(formatAddress(addr), `[::1]:${addr.port}`);
  assert.equal((await request(addr.port, '/healthz', 'GET', '::1')).status, 200);
  const second = new AdminServer(m);
  await assert.rejects(second.listen({ host: '::1', port: addr.port }), /EADDRINUSE/);
  await second.close();
});

test('--admin: HOST:PORT, [IPv6]:PORT, off; anything else is a ConfigError naming --admin', () => {
  assert.deepEqual(adminFlag(undefined), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(adminFlag('0.0.0.0:9100'), { host: '0.0.0.0', port: 9100 });
  assert.deepEqual(adminFlag('[::1]:9464'), { host: '::1', port: 9464 });
  assert.deepEqual(adminFlag('[::]:0'), { host: '::', port: 0 });
  assert.deepEqual(adminFlag('metrics.internal:9464'), { host: 'metrics.internal', port: 9464 });
  assert.equal(adminFlag('off'), null);
  for (const bad of ['9464', ':9464', '::1:9464', '[::1]', '[nope]:1', '127.0.0.1:65536', '127.0.0.1:', 'host:port', 'a b:1', '[::1]:9464x', 'http://127.0.0.1:9464']) {
    assert.throws(() => adminFlag(bad), (e: unknown) => e instanceof ConfigError && e.key === '--admin' && e.message.includes(JSON.stringify(bad)), bad);
  }
});
