// `run --workers N` against real servers on loopback: the same mirror run on the capture thread
// (--workers 0) and on one or two worker threads gives the same requests at the shadow and the
// same comparison; a stalled shadow never stalls capture and every request is booked once; what
// is in flight at shutdown ends as shutdown; a SIGHUP reload reaches the workers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultCompareOptions } from '../../src/compare';
import type { EndpointJson, ResultsJson, ShadowEndpointJson } from '../../src/compare';
import { ApiServer, driveApiMix, startApi } from '../support/api';
import { RecordingServer, startShadow } from '../support/servers';
import { ThreadedOutput } from '../../src/outputs/threaded';
import { defaultSampleLimits } from '../../src/report/outdir';
import { defaultRedactOptions } from '../../src/traffic/redact';
import { fakeRequest, fakeResponse } from '../support/requests';
import { captureSkipReason, runCli, startCli, startTcpdump, until } from '../support/tools';

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Summary {
  seen: number; replayed: number; notReplayed: Record<string, number>; pending: number;
  http: { requests: number };
  shadows: Array<{ target: string; sent: number; responses: number; timeouts: number; queueFull: number }>;
  retiredShadows?: Array<Array<{ target: string; sent: number; responses: number }>>;
  workers?: { threads: number; refused: number; lostInWorker: number; unknownSettles: number; workerFailures: number };
  compare?: { exchanges: number; busy: number };
}

/** seen = replayed + Σ notReplayed, nothing pending. */
function assertBooksBalance(s: Summary): void {
  const settled = s.replayed + Object.values(s.notReplayed).reduce((a, b) => a + b, 0);
  assert.equal(settled, s.seen, `seen ${s.seen} = replayed ${s.replayed} + Σ notReplayed ${JSON.stringify(s.notReplayed)}`);
  assert.equal(s.pending, 0);
  if (s.workers !== undefined) assert.equal(s.workers.unknownSettles, 0, 'no request settled twice or out of nowhere');
}

/** A shadow that takes connections and requests and never answers. */
async function stalledShadow(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let heads = 0;
  const server = net.createServer((s) => {
    sockets.add(s);
    let tail = ''; // a head's end may straddle two reads
    s.on('data', (d) => {
      const text = tail + d.toString('latin1');
      heads += text.split('\r\n\r\n').length - 1;
      tail = text.slice(-3);
    });
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => heads,
    close: async () => { for (const s of sockets) s.destroy(); await new Promise((r) => server.close(r)); },
  };
}

/** What one shadow received: method, target, headers and body, in a canonical order. */
function received(requests: RecordingServer['requests']): string[] {
  return requests.map((r) => JSON.stringify([r.method, r.url, r.rawHeaders, r.bodySha256])).sort();
}

/** Paths the API servers fill with the time or at random (test/support/api.ts): whether one
 * differs depends on the millisecond an answer was made, whatever thread compared it. */
const RANDOM_PATHS = new Set(['$.generatedAt', '$.requestId', '$.ts', '$.took_ms', 'header.x-request-id', 'header.date']);

/** The comparison's counts per endpoint and shadow, without what depends on timing or on which
 * thread saw which repeat (latency, noise learned from repeats, samples, CPU) and without the
 * randomly filled paths (each mismatch signature recounted without them). */
function comparisonCounts(results: ResultsJson) {
  const fields = (f: ShadowEndpointJson['fields']) => Object.fromEntries(Object.entries(f).filter(([p]) => !RANDOM_PATHS.has(p)));
  const signatures = (sigs: Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const [sig, n] of Object.entries(sigs)) {
      const kept = sig.split('\n').filter((p) => !RANDOM_PATHS.has(p)).join('\n');
      if (kept !== '') out[kept] = (out[kept] ?? 0) + n;
    }
    return out;
  };
  const endpoint = (e: EndpointJson) => ({
    key: e.key,
    production: { attempts: e.production.attempts, status5xx: e.production.status5xx, missing: e.production.missing },
    shadows: e.shadows.map((s) => ({
      target: s.target, attempts: s.attempts, status5xx: s.status5xx, timeouts: s.timeouts, connectionErrors: s.connectionErrors,
      compared: s.compared, bodiesNotCompared: s.bodiesNotCompared, skipped: s.skipped,
      fields: fields(s.fields), overflow: s.overflow, signatures: signatures(s.signatures), signaturesOverflow: s.signaturesOverflow,
    })),
  });
  const { exchanges, busy, diffFailures, joinOverflow, endpointOverflow, diffsTruncated, decodeErrors } = results.counters;
  return {
    counters: { exchanges, busy, diffFailures, joinOverflow, endpointOverflow, diffsTruncated, decodeErrors },
    endpoints: results.endpoints.map(endpoint).sort((a, b) => a.key.localeCompare(b.key)),
  };
}

test('run: --workers 0, 1 and 2 mirror the same requests and compare them alike', { timeout: 300_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const REQUESTS = 1200;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-threads-'));
  const servers: Array<ApiServer | RecordingServer> = [];
  t.after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const prod = await startApi({ name: 'api-prod/1.0' });
  const regressed = await startApi({ name: 'api-shadow/2.0', gzip: true, reorderKeys: true, planted: { changedValue: true, removedField: true, typeChange: true, failing: true } });
  const recorder = await startShadow();
  servers.push(prod, regressed, recorder);

  const mirror = async (workers: number) => {
    const out = path.join(dir, `w${workers}`);
    const summaryPath = path.join(dir, `w${workers}.json`);
    const cli = startCli(['run', '--interface', 'lo', '--port', String(prod.port), '--shadow', regressed.url, '--shadow', `http://127.0.0.1:${recorder.port}`,
      '--out', out, '--summary-json', summaryPath, '--stats-interval', '0', '--workers', String(workers)]);
    assert.ok(await cli.waitForLine(/capture started/, 15_000), cli.stderr());
    const before = recorder.requests.length;
    const mix = await driveApiMix(prod.port, { requests: REQUESTS, concurrency: 8, perSecond: 600, seed: 11 });
    assert.equal(mix.sent, REQUESTS);
    assert.ok(await recorder.waitFor(before + REQUESTS, 60_000), `the recording shadow got ${recorder.requests.length - before} of ${REQUESTS}`);
    await delay(300);
    assert.equal(await cli.stop('SIGTERM'), 0, cli.stderr());
    const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as Summary;
    const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as ResultsJson;
    const report = await runCli(['report', out, '--json']);
    assert.equal(report.code, 0, report.stderr);
    const flagged = (JSON.parse(report.stdout) as { targets: Array<{ endpoints: Array<{ key: string; fields: Array<{ path: string; flagged: boolean }> }> }> })
      .targets.map((tg) => tg.endpoints.map((e) => [e.key, e.fields.filter((f) => f.flagged).map((f) => f.path).sort()]).sort());
    return { summary, results, flagged, shadowGot: received(recorder.requests.slice(before)) };
  };

  const inProcess = await mirror(0);
  assert.equal(inProcess.summary.workers, undefined, '--workers 0: no worker threads');
  assertBooksBalance(inProcess.summary);
  assert.equal(inProcess.summary.replayed, REQUESTS);
  assert.equal(inProcess.results.counters.exchanges, REQUESTS);
  for (const workers of [1, 2]) {
    const threaded = await mirror(workers);
    assert.equal(threaded.summary.workers?.threads, workers);
    assert.equal((threaded.summary.workers as unknown as { unjoined: number }).unjoined, 0, 'every exchange joined its request');
    assertBooksBalance(threaded.summary);
    assert.equal(threaded.summary.replayed, REQUESTS, `--workers ${workers}: every request replayed`);
    assert.deepEqual(threaded.shadowGot, inProcess.shadowGot, `--workers ${workers}: the shadow got the same requests`);
    assert.deepEqual(threaded.summary.shadows.map((s) => [s.target, s.sent, s.responses]), inProcess.summary.shadows.map((s) => [s.target, s.sent, s.responses]));
    assert.equal(threaded.results.complete, true);
    assert.deepEqual(comparisonCounts(threaded.results), comparisonCounts(inProcess.results), `--workers ${workers}: the same comparison`);
    assert.deepEqual(threaded.flagged, inProcess.flagged, `--workers ${workers}: the report flags the same fields`);
    assert.deepEqual(threaded.summary.compare?.exchanges, REQUESTS);
    // The workers' counters summed: every one a number (a sum over a missing key is NaN, null in JSON).
    const counters = Object.entries(threaded.summary.compare as unknown as Record<string, unknown>);
    assert.deepEqual(counters.filter(([, v]) => typeof v !== 'number'), [], `--workers ${workers}: comparison counters`);
    assert.deepEqual(counters.map(([k]) => k).sort(), Object.keys(inProcess.summary.compare as object).sort());
  }
  assert.ok(inProcess.flagged[0].some(([, paths]) => (paths as string[]).includes('$.age')), 'the planted change is flagged (the comparison compared something)');
});

test('run --workers 1: a stalled shadow never stalls capture; every request ends once (queueFull, shadowTimeout)', { timeout: 120_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-threads-stall-'));
  const prod = await startShadow(); // answers every request at once
  const stalled = await stalledShadow();
  t.after(async () => { await prod.close(); await stalled.close(); fs.rmSync(dir, { recursive: true, force: true }); });
  const summaryPath = path.join(dir, 'summary.json');
  const cli = startCli(['run', '--interface', 'lo', '--port', String(prod.port), '--shadow', stalled.url, '--no-compare', '--workers', '1',
    '--concurrency', '2', '--queue-size', '20', '--timeout-ms', '1500', '--drain-timeout-ms', '0', '--summary-json', summaryPath, '--stats-interval', '0']);
  assert.ok(await cli.waitForLine(/capture started/, 15_000), cli.stderr());
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const N = 600;
  let done = 0;
  await Promise.all(Array.from({ length: 8 }, async (_, c) => {
    for (let i = c; i < N; i += 8) {
      await new Promise<void>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: prod.port, path: `/s/${i}`, agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
      });
      done++;
    }
  }));
  agent.destroy();
  assert.equal(done, N);
  // The two connections' requests time out; the next ones are sent and time out in turn.
  assert.ok(await until(() => stalled.requests() >= 4, 20_000), `the stalled shadow got ${stalled.requests()} requests`);
  assert.equal(await cli.stop('SIGTERM'), 0, cli.stderr());
  const s = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as Summary;
  assert.equal(s.http.requests, N, 'capture and parsing kept up: every request seen');
  assert.equal(s.seen, N);
  assertBooksBalance(s);
  assert.equal(s.replayed, 0);
  assert.ok((s.notReplayed.queueFull ?? 0) >= N - 2 * 20 - 20, `most requests found the queue full: ${JSON.stringify(s.notReplayed)}`);
  assert.ok((s.notReplayed.shadowTimeout ?? 0) >= 2, `those sent timed out: ${JSON.stringify(s.notReplayed)}`);
  assert.deepEqual(Object.keys(s.notReplayed).filter((k) => !['queueFull', 'shadowTimeout', 'shutdown'].includes(k)), []);
  assert.equal(s.shadows[0].timeouts, s.notReplayed.shadowTimeout);
  assert.equal(s.shadows[0].queueFull + (s.workers?.refused ?? 0), s.notReplayed.queueFull, 'each queueFull counted where it was refused');
});

test('run --workers 1: a request in flight at shutdown ends as shutdown', { timeout: 60_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-threads-stop-'));
  const prod = await startShadow();
  const stalled = await stalledShadow();
  t.after(async () => { await prod.close(); await stalled.close(); fs.rmSync(dir, { recursive: true, force: true }); });
  const summaryPath = path.join(dir, 'summary.json');
  const cli = startCli(['run', '--interface', 'lo', '--port', String(prod.port), '--shadow', stalled.url, '--no-compare', '--workers', '1',
    '--timeout-ms', '60000', '--drain-timeout-ms', '300', '--summary-json', summaryPath, '--stats-interval', '0']);
  assert.ok(await cli.waitForLine(/capture started/, 15_000), cli.stderr());
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: prod.port, path: `/inflight/${i}`, agent: false }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
    });
  }
  assert.ok(await until(() => stalled.requests() === 5, 20_000), `the stalled shadow got ${stalled.requests()} of 5`);
  assert.equal(await cli.stop('SIGTERM'), 0, cli.stderr());
  const s = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as Summary;
  assert.equal(s.seen, 5);
  assert.deepEqual(s.notReplayed, { shutdown: 5 });
  assertBooksBalance(s);
  assert.equal(s.workers?.lostInWorker, 0, 'the worker settled them itself');
});

test('run --workers 2: SIGHUP moves replay to a new shadow in every worker; counts add up across the reload', { timeout: 90_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const prod = await startShadow();
  const first = await startShadow();
  const second = await startShadow();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-threads-reload-'));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 6 });
  t.after(async () => {
    agent.destroy();
    await Promise.all([prod.close(), first.close(), second.close()]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const configFile = path.join(dir, 'shadowtap.yaml');
  const summaryPath = path.join(dir, 'summary.json');
  const config = (shadow: RecordingServer) => ['interface: lo', `port: ${prod.port}`, `shadow: [http://127.0.0.1:${shadow.port}]`, 'stats-interval: 0',
    `summary-json: ${summaryPath}`, 'compare: false', 'workers: 2', 'wire-timing: "off"'].join('\n');
  fs.writeFileSync(configFile, config(first));
  const cli = startCli(['run', '--config', configFile]);
  assert.ok(await cli.waitForLine(/capture started/, 30_000), cli.stderr());
  let n = 0;
  const phase = async (): Promise<void> => {
    await Promise.all(Array.from({ length: 120 }, () => {
      const i = n++;
      return new Promise<void>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: prod.port, path: `/r/${i}`, agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
      });
    }));
  };
  await phase();
  assert.ok(await first.waitFor(120, 20_000), `the first shadow got ${first.requests.length} of 120`);
  fs.writeFileSync(configFile, config(second));
  cli.child.kill('SIGHUP');
  assert.ok(await cli.waitForLine(/configuration reloaded/, 30_000), cli.stdout());
  await phase();
  assert.ok(await second.waitFor(120, 20_000), `the second shadow got ${second.requests.length} of 120`);
  await delay(200);
  assert.equal(first.requests.length, 120, 'nothing after the reload went to the old shadow');
  assert.equal(await cli.stop('SIGTERM'), 0, cli.stderr());
  const s = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as Summary;
  assert.equal(s.seen, 240);
  assert.equal(s.replayed, 240);
  assertBooksBalance(s);
  assert.equal(s.workers?.threads, 2);
  assert.deepEqual(s.shadows.map((x) => [x.target, x.sent, x.responses]), [[`http://127.0.0.1:${second.port}`, 120, 120]]);
  assert.deepEqual(s.retiredShadows?.map((list) => list.map((x) => [x.target, x.sent, x.responses])), [[[`http://127.0.0.1:${first.port}`, 120, 120]]]);
});

test('threaded output: beyond the bytes a worker may have in flight the main thread refuses (live) or asks to pause (file); drain ends the rest as shutdown', { timeout: 60_000 }, async (t) => {
  const stalled = await stalledShadow();
  t.after(() => stalled.close());
  const body = Buffer.alloc(300_000, 0x61);
  for (const whenFull of ['drop', 'wait'] as const) {
    const outcomes: string[] = [];
    const output = new ThreadedOutput({
      workers: 1, replayShareBytes: 1 << 20, workerShareBytes: 64 << 20, observe: () => {}, log: { error: () => {}, warn: () => {} },
      setup: {
        replay: { targets: [stalled.url], timeoutMs: 60_000 }, whenFull, compare: null, baseline: null, outDir: null,
        sampleLimits: defaultSampleLimits, redact: defaultRedactOptions(), wireTargets: null, maxKept: 0, statsEveryMs: 200, resultsEveryMs: 1000,
      },
    });
    const rooms: boolean[] = [];
    for (let i = 0; i < 10; i++) {
      const req = fakeRequest(`/big/${i}`, { method: 'POST', body });
      output.request(req, req, (o) => outcomes.push(o));
      rooms.push(output.hasRoom);
    }
    // 1 MiB in flight at most: the fourth 300 kB request fills it.
    assert.deepEqual(rooms, [true, true, true, false, false, false, false, false, false, false]);
    if (whenFull === 'drop') {
      assert.deepEqual(outcomes, Array(6).fill('queueFull'), 'refused at once on the main thread');
      assert.equal(output.stats().workers.refused, 6);
    } else {
      assert.deepEqual(outcomes, [], 'a file waits: nothing refused');
    }
    assert.ok(await until(() => stalled.requests() >= (whenFull === 'drop' ? 4 : 14), 20_000), `the stalled shadow got ${stalled.requests()}`);
    await output.drain(200);
    const sent = whenFull === 'drop' ? 4 : 10;
    assert.deepEqual(outcomes.filter((o) => o === 'shutdown').length, sent, 'in flight at drain: shutdown');
    assert.equal(outcomes.length, 10, 'each request settled exactly once');
    assert.equal(output.stats().workers.lostInWorker, 0);
    assert.equal(output.stats().workers.unknownSettles, 0);
  }
});

test('threaded output: a worker that dies settles what it had as shutdown, and its connections\' next requests too', { timeout: 60_000 }, async (t) => {
  const stalled = await stalledShadow();
  t.after(() => stalled.close());
  const outcomes: string[] = [];
  const errors: string[] = [];
  const output = new ThreadedOutput({
    workers: 1, replayShareBytes: 16 << 20, workerShareBytes: 64 << 20, observe: () => {},
    log: { error: (_f, msg) => errors.push(msg), warn: () => {} },
    setup: {
      replay: { targets: [stalled.url], timeoutMs: 60_000 }, whenFull: 'drop', compare: null, baseline: null, outDir: null,
      sampleLimits: defaultSampleLimits, redact: defaultRedactOptions(), wireTargets: null, maxKept: 0, statsEveryMs: 200, resultsEveryMs: 1000,
    },
  });
  for (let i = 0; i < 3; i++) {
    const req = fakeRequest(`/doomed/${i}`);
    output.request(req, req, (o) => outcomes.push(o));
  }
  assert.ok(await until(() => stalled.requests() === 3, 20_000), `the stalled shadow got ${stalled.requests()} of 3`);
  assert.equal(outcomes.length, 0, 'in flight, not settled');
  // The thread goes away as if it had crashed (out of memory, say).
  await (output as unknown as { links: Array<{ worker: { terminate(): Promise<number> } }> }).links[0].worker.terminate();
  assert.ok(await until(() => outcomes.length === 3, 5_000), `settled: ${JSON.stringify(outcomes)}`);
  assert.deepEqual([...outcomes], ['shutdown', 'shutdown', 'shutdown']);
  assert.match(errors.join('\n'), /replay worker failed/);
  const late = fakeRequest('/late');
  output.request(late, late, (o) => outcomes.push(o));
  assert.equal(outcomes.at(-1), 'shutdown', 'no worker: settled at once');
  const w = output.stats().workers;
  assert.deepEqual([w.workerFailures, w.lostInWorker, w.unknownSettles], [1, 3, 0]);
  await output.drain(100);
  assert.equal(outcomes.length, 4, 'each request settled exactly once');
});

test('run --file --workers 2: a capture file waits for the workers (no queueFull) and every request reaches the shadow once', { timeout: 120_000 }, async (t) => {
  const why = captureSkipReason(['tcpdump']);
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-threads-file-'));
  const prod = await startShadow();
  const shadow = await startShadow();
  t.after(async () => { await prod.close(); await shadow.close(); fs.rmSync(dir, { recursive: true, force: true }); });
  const file = path.join(dir, 'traffic.pcap');
  const tcpdump = await startTcpdump({ iface: 'lo', filter: `tcp port ${prod.port}`, file });
  const N = 1500;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 12 });
  await Promise.all(Array.from({ length: 12 }, async (_, c) => {
    for (let i = c; i < N; i += 12) {
      await new Promise<void>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: prod.port, path: `/f/${i}`, agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject);
      });
    }
  }));
  agent.destroy();
  await delay(300);
  await tcpdump.stop();
  const summaryPath = path.join(dir, 'summary.json');
  // Queues far smaller than the file: it must pause while the workers are full, not drop.
  const r = await runCli(['run', '--file', file, '--port', String(prod.port), '--shadow', `http://127.0.0.1:${shadow.port}`, '--no-compare',
    '--workers', '2', '--queue-size', '16', '--concurrency', '4', '--summary-json', summaryPath, '--stats-interval', '0']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as Summary;
  assert.equal(s.seen, N);
  assertBooksBalance(s);
  assert.deepEqual([s.replayed, s.notReplayed], [N, {}]);
  assert.equal(s.workers?.refused, 0);
  assert.deepEqual(shadow.requests.map((x) => x.url).sort(), Array.from({ length: N }, (_, i) => `/f/${i}`).sort());
});

test('threaded output: the requests a worker keeps for their exchange are bounded by the comparison\'s join bytes; the rest are counted unjoined', { timeout: 60_000 }, async (t) => {
  const shadow = await startShadow();
  t.after(() => shadow.close());
  const outcomes: string[] = [];
  const output = new ThreadedOutput({
    workers: 1, replayShareBytes: 64 << 20, workerShareBytes: 64 << 20, observe: () => {}, log: { error: () => {}, warn: () => {} },
    setup: {
      replay: { targets: [`http://127.0.0.1:${shadow.port}`] }, whenFull: 'drop', baseline: null, outDir: null,
      compare: { ...defaultCompareOptions(), maxPendingJoinBytes: 1 << 20 },
      sampleLimits: defaultSampleLimits, redact: defaultRedactOptions(), wireTargets: null, maxKept: 100_000, statsEveryMs: 50, resultsEveryMs: 1000,
    },
  });
  const body = Buffer.alloc(300_000, 0x62);
  const requests = Array.from({ length: 10 }, (_, i) => fakeRequest(`/kept/${i}`, { method: 'POST', body }));
  for (const req of requests) output.request(req, req, (o) => outcomes.push(o));
  assert.ok(await until(() => outcomes.length === 10, 20_000), `settled ${outcomes.length} of 10`);
  // Production's side comes late (a slow production): only the latest requests, within 1 MiB of bodies, are still kept.
  for (const req of requests) output.exchange({ request: req, response: fakeResponse('{"ok":true}'), responseMissing: null });
  await output.drain(1000);
  const unjoined = output.stats().workers.unjoined;
  const compared = output.comparison()!.summary().exchanges;
  assert.deepEqual([...new Set(outcomes)], ['replayed']);
  assert.ok(unjoined >= 6 && unjoined <= 7, `unjoined ${unjoined}: 3 or 4 bodies of 300 kB fit in 1 MiB`);
  assert.equal(compared + unjoined, 10, 'each exchange compared or counted unjoined');
});
