// A real Prometheus server scrapes `shadowtap run --admin`: the counters it stores (read back
// through its HTTP API) equal the traffic sent, and the admin server answers /healthz,
// /readyz and 404 as documented.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { startProduction, startShadow } from '../support/servers';
import { captureSkipReason, freePort, startCli } from '../support/tools';

const PROMETHEUS = '/usr/bin/prometheus';
const REQUESTS = 300;

interface Answer { status: number; headers: http.IncomingHttpHeaders; body: string }

function get(port: number, pathname: string, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathname, method, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${pathname}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value other than undefined, or fails with `what`. */
async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(200);
  }
}

/** A sample value from shadowtap's own /metrics text. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

interface Prometheus {
  child: ChildProcess;
  port: number;
  stderr(): string;
  /** Instant query through the HTTP API: each series' labels and value. */
  query(q: string): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  /** The one value of a query that must return exactly one series. */
  scalar(q: string): Promise<number>;
}

async function startPrometheus(dir: string, scrapeTarget: string, t: { after(fn: () => Promise<void> | void): void }): Promise<Prometheus> {
  const port = await freePort();
  const config = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(config, [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    '  evaluation_interval: 1s',
    'scrape_configs:',
    '  - job_name: shadowtap',
    '    static_configs:',
    `      - targets: ['${scrapeTarget}']`,
    '',
  ].join('\n'));
  const child = spawn(PROMETHEUS, [
    `--config.file=${config}`,
    `--storage.tsdb.path=${path.join(dir, 'tsdb')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => { stderr = (stderr + d).slice(-20_000); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // Killed by pid, whatever happens to the test: SIGTERM, then SIGKILL if it lingers.
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => { timer = setTimeout(() => r(false), 5000); })]);
    clearTimeout(timer);
    if (!done) {
      try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
      await exited;
    }
  });
  const query = async (q: string) => {
    const r = await get(port, `/api/v1/query?query=${encodeURIComponent(q)}`);
    const json = JSON.parse(r.body) as { status: string; error?: string; data: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    if (json.status !== 'success') throw new Error(`query ${q}: ${json.error}`);
    assert.equal(json.data.resultType, 'vector');
    return json.data.result.map((x) => ({ metric: x.metric, value: Number(x.value[1]) }));
  };
  const prom: Prometheus = {
    child, port, stderr: () => stderr, query,
    async scalar(q: string) {
      const r = await query(q);
      assert.equal(r.length, 1, `${q}: ${JSON.stringify(r)}`);
      return r[0].value;
    },
  };
  await until('Prometheus to be ready', 30_000, async () => {
    if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}): ${stderr.slice(-2000)}`);
    return (await get(port, '/-/ready')).status === 200 ? true : undefined;
  });
  return prom;
}

test('Prometheus scrapes shadowtap run --admin: its counters equal the traffic sent', { timeout: 120_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  if (!fs.existsSync(PROMETHEUS)) { t.skip(`${PROMETHEUS} missing (Debian package prometheus)`); return; }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-prometheus-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const prod = await startProduction();
  t.after(() => prod.close());
  const shadow = await startShadow();
  t.after(() => shadow.close());
  const shadowUrl = `http://127.0.0.1:${shadow.port}`;
  const adminPort = await freePort();
  const admin = `127.0.0.1:${adminPort}`;

  const prom = await startPrometheus(dir, admin, t);
  const cli = startCli(['run', '--interface', 'lo', '--port', String(prod.port), '--shadow', shadowUrl,
    '--admin', admin, '--stats-interval', '0', '--drain-timeout-ms', '3000']);
  t.after(async () => { if (cli.child.exitCode === null && cli.child.signalCode === null) await cli.stop('SIGKILL', 10_000).catch(() => undefined); });
  assert.ok(await cli.waitForLine(/capture started/, 15_000), cli.stderr() + cli.stdout());
  const adminLine = await cli.waitForLine(/admin server on/, 5000);
  assert.ok(adminLine, cli.stdout());
  assert.match(adminLine!, new RegExp(`http://127\\.0\\.0\\.1:${adminPort}`));

  // The admin server's own answers.
  const health = await get(adminPort, '/healthz');
  assert.equal(health.status, 200);
  assert.equal(JSON.parse(health.body).status, 'ok');
  assert.equal(typeof JSON.parse(health.body).eventLoopLagMs, 'number');
  const ready = await get(adminPort, '/readyz');
  const readyBody = JSON.parse(ready.body) as { status: string; capture: string; shadows: Array<{ state: string; failed: number }> };
  assert.deepEqual([ready.status, readyBody.status, readyBody.capture], [200, 'ready', 'running']);
  assert.ok(readyBody.shadows.length > 0 && readyBody.shadows.every((s) => s.state !== 'failing' && s.failed === 0), ready.body);
  assert.equal((await get(adminPort, '/nope')).status, 404);
  assert.equal((await get(adminPort, '/')).status, 404);
  const head = await get(adminPort, '/metrics', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');

  // Prometheus sees the target up before any traffic.
  await until('the first scrape', 20_000, async () => {
    const up = await prom.query('up{job="shadowtap"}');
    return up.length === 1 && up[0].value === 1 ? true : undefined;
  });

  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  await Promise.all(Array.from({ length: REQUESTS }, (_, i) => new Promise<void>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: prod.port, path: `/prom/${i}?q=${i % 7}`, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    }).on('error', reject);
  })));
  agent.destroy();
  assert.ok(await shadow.waitFor(REQUESTS, 20_000), `shadow received ${shadow.requests.length}`);

  // Settled as shadowtap itself counts it: every request seen and none pending.
  await until('shadowtap to settle every request', 20_000, async () => {
    const text = (await get(adminPort, '/metrics')).body;
    return sample(text, 'shadowtap_requests_seen_total') === REQUESTS && sample(text, 'shadowtap_requests_pending') === 0 ? true : undefined;
  });
  // Then a scrape that began after that moment (a scrape is not cut in halves: its samples
  // share one timestamp).
  const settledAt = Date.now() / 1000;
  await until('a scrape after the traffic', 20_000, async () => {
    const ts = await prom.query('timestamp(shadowtap_requests_seen_total)');
    return ts.length === 1 && ts[0].value > settledAt ? true : undefined;
  });

  // Read back through Prometheus.
  assert.equal(await prom.scalar('shadowtap_requests_total{outcome="replayed"}'), REQUESTS);
  assert.equal(await prom.scalar('shadowtap_requests_seen_total'), REQUESTS);
  assert.equal(await prom.scalar('sum(shadowtap_requests_total)'), await prom.scalar('shadowtap_requests_seen_total'),
    'every request seen is in exactly one outcome');
  const outcomes = await prom.query('shadowtap_requests_total');
  assert.ok(outcomes.length >= 10, 'every ledger bucket is a series from the start');
  for (const o of outcomes) if (o.metric.outcome !== 'replayed') assert.equal(o.value, 0, o.metric.outcome);
  assert.equal(await prom.scalar('shadowtap_requests_pending'), 0);
  assert.equal(await prom.scalar('shadowtap_http_requests_parsed_total'), REQUESTS);
  assert.equal(await prom.scalar(`shadowtap_shadow_sent_total{target="${shadowUrl}"}`), REQUESTS);
  assert.equal(await prom.scalar(`shadowtap_shadow_responses_total{target="${shadowUrl}",status_class="2xx"}`), REQUESTS);
  assert.equal(await prom.scalar(`sum(shadowtap_shadow_errors_total) + sum(shadowtap_shadow_timeouts_total)`), 0);
  assert.equal(await prom.scalar(`shadowtap_shadow_in_flight{target="${shadowUrl}"}`), 0);
  assert.equal(await prom.scalar(`shadowtap_shadow_latency_seconds_count{target="${shadowUrl}",outcome="replayed"}`), REQUESTS);
  const p99 = await prom.scalar(`histogram_quantile(0.99, shadowtap_shadow_latency_seconds_bucket{target="${shadowUrl}",outcome="replayed"})`);
  assert.ok(p99 > 0 && p99 < 5, `p99 ${p99} s`);
  assert.ok(await prom.scalar('shadowtap_capture_packets_total') >= REQUESTS * 2, 'requests and responses travel in packets');
  assert.ok(await prom.scalar('shadowtap_tcp_connections_opened_total') >= 1);
  assert.equal(await prom.scalar('shadowtap_ready'), 1);
  assert.ok(await prom.scalar('process_resident_memory_bytes{job="shadowtap"}') > 0, 'default process metrics');
  assert.equal(await prom.scalar('up{job="shadowtap"}'), 1);

  // A clean exit closes the admin server.
  assert.equal(await cli.stop('SIGTERM', 20_000), 0, cli.stderr());
  await assert.rejects(get(adminPort, '/healthz'), /ECONNREFUSED/);
});
