// Record now, replay later: `record` live on lo while paced traffic flows, then `replay` the
// recording to a shadow at twice the speed (and twice over with --loop 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { RecordingReader } from '../../src/recording';
import { headerValue, sha256, startProduction, startShadow, type RecordedRequest, type RecordingServer } from '../support/servers';
import { captureSkipReason, runCli, startCli, type CliHandle } from '../support/tools';

const CONNS = 4;
const PER_CONN = 50;
const SPAN_MS = 3000;

interface Sent { conn: number; seq: number; method: string; url: string; bodySha256: string }

/** One keep-alive connection per agent; request j of connection k is sent at ~j·SPAN/PER_CONN ms. */
async function sendPaced(port: number): Promise<Sent[]> {
  const sent: Sent[] = [];
  const start = Date.now();
  const one = (agent: http.Agent, k: number, j: number): Promise<void> => new Promise((resolve, reject) => {
    const post = j % 3 === 1;
    const body = post ? JSON.stringify({ conn: k, seq: j, text: `payload ${k}/${j}` }) : '';
    const url = post ? `/echo?c=${k}&s=${j}` : `/items/${k}/${j}?page=${j % 7}`;
    const req = http.request({
      host: '127.0.0.1', port, method: post ? 'POST' : 'GET', path: url, agent,
      headers: { 'x-conn': String(k), 'x-seq': String(j), ...(post ? { 'content-type': 'application/json' } : {}) },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', reject);
    sent.push({ conn: k, seq: j, method: post ? 'POST' : 'GET', url, bodySha256: sha256(body) });
    req.end(body);
  });
  await Promise.all(Array.from({ length: CONNS }, async (_, k) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let j = 0; j < PER_CONN; j++) {
      // Connections are offset from each other so their requests interleave.
      const due = start + (j * SPAN_MS) / PER_CONN + (k * SPAN_MS) / PER_CONN / CONNS;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await one(agent, k, j);
    }
    agent.destroy();
  }));
  return sent;
}

function byConnection(reqs: RecordedRequest[]): Map<string, RecordedRequest[]> {
  const m = new Map<string, RecordedRequest[]>();
  for (const r of [...reqs].sort((a, b) => a.seq - b.seq)) {
    const k = headerValue(r.headers, 'x-conn') ?? '?';
    if (!m.has(k)) m.set(k, []);
    m.get(k)!.push(r);
  }
  return m;
}

test('record live on lo, then replay --speed 2 keeps pacing and per-connection order; --loop 2 sends twice', { timeout: 180_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-recrep-'));
  const servers: RecordingServer[] = [];
  let cli: CliHandle | null = null;
  t.after(async () => {
    if (cli) await cli.stop('SIGKILL', 5_000).catch(() => undefined);
    for (const s of servers) await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const prod = await startProduction();
  servers.push(prod);
  const recording = path.join(dir, 'traffic.rec');
  const recSummary = path.join(dir, 'record.json');
  cli = startCli(['record', '--interface', 'lo', '--port', String(prod.port), '--output', recording,
    '--summary-json', recSummary, '--stats-interval', '1']);
  const started = await Promise.race([cli.waitForLine(/recording started/, 30_000), cli.exited.then(() => null)]);
  assert.ok(started, `record did not start: ${cli.stderr()}${cli.stdout()}`);

  const sent = await sendPaced(prod.port);
  // Stop once the recorder says (in its stats line, every second) it has recorded every exchange.
  const rec = cli;
  const recordedSoFar = (): number => Math.max(0, ...rec.stdout().split('\n').filter((l) => l.includes('"msg":"stats"'))
    .map((l) => Number(JSON.parse(l).stats.recorded)));
  for (const deadline = Date.now() + 30_000; recordedSoFar() < sent.length && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(await cli.stop('SIGINT', 30_000), 0, cli.stderr());
  cli = null;
  assert.equal(fs.statSync(recording).mode & 0o777, 0o600);
  const summary = JSON.parse(fs.readFileSync(recSummary, 'utf8'));
  assert.deepEqual({ seen: summary.seen, recorded: summary.recorded, notRecorded: summary.notRecorded },
    { seen: sent.length, recorded: sent.length, notRecorded: {} });

  const recorded = [];
  for await (const r of RecordingReader.open(recording).requests()) recorded.push(r);
  assert.equal(recorded.length, CONNS * PER_CONN);
  assert.ok(recorded.every((r) => r.response?.status === 200 && r.response.sha256 !== null));
  const ts = recorded.map((r) => r.t);
  const spanMs = (Math.max(...ts) - Math.min(...ts)) / 1000;
  assert.ok(spanMs > SPAN_MS * 0.9, `recorded span ${spanMs} ms`);

  // --speed 2: the shadow sees the same requests, per connection in order, over half the span.
  const shadow = await startShadow();
  servers.push(shadow);
  const replaySummary = path.join(dir, 'replay.json');
  const r1 = await runCli(['replay', '--allow-writes', '--file', recording, '--shadow', `http://127.0.0.1:${shadow.port}`, '--speed', '2',
    '--summary-json', replaySummary, '--stats-interval', '0']);
  assert.equal(r1.code, 0, r1.stderr);
  assert.equal(r1.stderr, '', 'no progress output when stderr is not a terminal');
  const rs = JSON.parse(fs.readFileSync(replaySummary, 'utf8'));
  assert.deepEqual({ seen: rs.seen, replayed: rs.replayed, notReplayed: rs.notReplayed, pending: rs.pending },
    { seen: sent.length, replayed: sent.length, notReplayed: {}, pending: 0 });
  assert.equal(shadow.requests.length, sent.length);
  const arrivals = shadow.requests.map((r) => r.arrivalMs);
  const wallMs = Math.max(...arrivals) - Math.min(...arrivals);
  const target = spanMs / 2;
  const sendSpanMs = rs.pacing.passes[0].sendSpanMs;
  t.diagnostic(`recorded span ${spanMs.toFixed(0)} ms, replayed at speed 2: sent over ${sendSpanMs} ms, received over ${wallMs} ms ` +
    `(target ${target.toFixed(0)}); late ${rs.pacing.late}, max ${rs.pacing.maxLateMs} ms`);
  // Paced at speed 2: never ahead of the recorded times (the replayer's own send span is at
  // least half the recorded one), and as the shadow saw it about half the recorded span.
  // Scheduling on a busy machine can only make requests late (and arrivals a little uneven),
  // so the upper bound is generous; speed 1 (2×) or no pacing at all (~0) still fail.
  assert.ok(sendSpanMs >= target * 0.95, `sent over ${sendSpanMs} ms, ahead of the ${target} ms schedule`);
  assert.ok(wallMs >= target * 0.85 && wallMs <= target * 1.3, `wall ${wallMs} ms vs ${target} ms`);

  const expected = new Map<string, Sent[]>();
  for (const s of sent) {
    if (!expected.has(String(s.conn))) expected.set(String(s.conn), []);
    expected.get(String(s.conn))!.push(s);
  }
  const got = byConnection(shadow.requests);
  assert.equal(got.size, CONNS);
  for (const [k, list] of expected) {
    const want = list.sort((a, b) => a.seq - b.seq).map((s) => `${s.seq} ${s.method} ${s.url} ${s.bodySha256}`);
    const have = (got.get(k) ?? []).map((r) => `${headerValue(r.headers, 'x-seq')} ${r.method} ${r.url} ${r.bodySha256}`);
    assert.deepEqual(have, want, `connection ${k}`);
  }
  assert.ok(shadow.requests.every((r) => headerValue(r.headers, 'x-shadowtap') === '1'));
  // Each recorded connection has a shadow connection of its own (the replayer's lanes).
  const perShadowConn = new Map<number, Set<string>>();
  for (const r of shadow.requests) {
    if (!perShadowConn.has(r.connId)) perShadowConn.set(r.connId, new Set());
    perShadowConn.get(r.connId)!.add(headerValue(r.headers, 'x-conn') ?? '?');
  }
  assert.ok([...perShadowConn.values()].every((s) => s.size === 1), 'a shadow connection mixed recorded connections');

  // --loop 2 (as fast as possible): everything twice, each pass in order per connection.
  const shadow2 = await startShadow();
  servers.push(shadow2);
  const r2 = await runCli(['replay', '--allow-writes', '--file', recording, '--shadow', `http://127.0.0.1:${shadow2.port}`, '--speed', '0',
    '--loop', '2', '--stats-interval', '0']);
  assert.equal(r2.code, 0, r2.stderr);
  assert.equal(shadow2.requests.length, 2 * sent.length);
  for (const [k, list] of byConnection(shadow2.requests)) {
    const seqs = list.map((r) => Number(headerValue(r.headers, 'x-seq')));
    const once = Array.from({ length: PER_CONN }, (_, j) => j);
    assert.deepEqual(seqs, [...once, ...once], `connection ${k}`);
  }
});
