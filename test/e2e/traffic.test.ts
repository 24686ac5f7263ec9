// Traffic control and data safety, live on loopback: writes held back by default, sampling
// (random and by session), and seeded secrets that must appear in no output at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { RECORDING_FORMAT, type RecordedRequest } from '../../src/recording';
import { startProduction, startShadow, type RecordingServer } from '../support/servers';
import { captureSkipReason, runCli, startCli } from '../support/tools';

interface Call { method: string; path: string; headers?: Record<string, string>; body?: string }

/** Sends calls over `conns` keep-alive connections, each call after the previous answer. */
async function send(port: number, calls: Call[], conns = 8): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  let next = 0;
  const worker = async () => {
    while (next < calls.length) {
      const c = calls[next++];
      await new Promise<void>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method: c.method, path: c.path, agent, headers: c.headers }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        });
        req.on('error', reject);
        req.end(c.body);
      });
    }
  };
  try {
    await Promise.all(Array.from({ length: conns }, worker));
  } finally {
    agent.destroy();
  }
}

async function mirror(prodPort: number, shadowUrl: string, extra: string[], calls: Call[], waitForShadow: () => boolean) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-traffic-'));
  const summaryPath = path.join(dir, 'summary.json');
  const cli = startCli(['run', '--interface', 'lo', '--port', String(prodPort), '--shadow', shadowUrl,
    '--summary-json', summaryPath, ...extra]);
  try {
    assert.ok(await cli.waitForLine(/capture started/, 15_000), cli.stderr());
    await send(prodPort, calls);
    const until = Date.now() + 20_000;
    while (!waitForShadow() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500)); // let anything unexpected arrive too
    assert.equal(await cli.stop('SIGTERM'), 0, cli.stderr());
    return { summary: JSON.parse(fs.readFileSync(summaryPath, 'utf8')), dir, stdout: cli.stdout(), stderr: cli.stderr() };
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

const WRITES = ['POST', 'PUT', 'DELETE', 'PATCH'];

test('by default writes never reach the shadow and are counted; with --allow-writes they do', { timeout: 90_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const calls: Call[] = [];
  for (let i = 0; i < 200; i++) {
    const method = i % 2 === 0 ? 'GET' : WRITES[(i >> 1) % 4];
    calls.push({ method, path: `/w/${i}`, body: method === 'GET' || method === 'DELETE' ? undefined : `{"n":${i}}`,
      headers: method === 'GET' || method === 'DELETE' ? {} : { 'content-type': 'application/json' } });
  }
  for (const allowWrites of [false, true]) {
    const prod = await startProduction();
    const shadow = await startShadow();
    try {
      const expected = allowWrites ? 200 : 100;
      const { summary, dir } = await mirror(prod.port, `http://127.0.0.1:${shadow.port}`,
        ['--stats-interval', '0', ...(allowWrites ? ['--allow-writes'] : [])], calls, () => shadow.requests.length >= expected);
      fs.rmSync(dir, { recursive: true, force: true });
      const methods = shadow.requests.map((r) => r.method);
      assert.equal(summary.seen, 200);
      if (allowWrites) {
        assert.equal(shadow.requests.length, 200);
        assert.equal(summary.replayed, 200);
        for (const m of WRITES) assert.equal(methods.filter((x) => x === m).length, 25, m);
      } else {
        assert.deepEqual([...new Set(methods)], ['GET']);
        assert.equal(shadow.requests.length, 100);
        assert.deepEqual(summary.notReplayed, { unsafeMethod: 100 });
        assert.deepEqual(summary.traffic.unsafeMethod, { POST: 25, PUT: 25, DELETE: 25, PATCH: 25 });
      }
    } finally {
      await prod.close();
      await shadow.close();
    }
  }
});

test('sampling: 10% of 10,000 requests within statistical bounds; by cookie, every session whole', { timeout: 120_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const prod = await startProduction();
  const shadow = await startShadow();
  try {
    const calls: Call[] = Array.from({ length: 10_000 }, (_, i) => ({ method: 'GET', path: `/s/${i}` }));
    const { summary, dir } = await mirror(prod.port, `http://127.0.0.1:${shadow.port}`, ['--stats-interval', '0', '--sample', '10'],
      calls, () => false);
    fs.rmSync(dir, { recursive: true, force: true });
    const got = shadow.requests.length;
    const sd = Math.sqrt(10_000 * 0.1 * 0.9); // binomial: 30
    assert.ok(Math.abs(got - 1000) < 4 * sd, `${got} of 10,000 mirrored at 10%`);
    assert.equal(summary.seen, 10_000);
    assert.equal(summary.replayed, got);
    assert.equal(summary.notReplayed.sampledOut, 10_000 - got);
  } finally {
    await prod.close();
    await shadow.close();
  }

  const prod2 = await startProduction();
  const shadow2 = await startShadow();
  try {
    const sessions = 400;
    const calls: Call[] = [];
    for (let i = 0; i < 10; i++) {
      for (let s = 0; s < sessions; s++) calls.push({ method: 'GET', path: `/page/${i}?s=${s}`, headers: { cookie: `theme=x; session=sess-${s}` } });
    }
    const { summary, dir } = await mirror(prod2.port, `http://127.0.0.1:${shadow2.port}`,
      ['--stats-interval', '0', '--sample', '25', '--sample-by', 'cookie:session'], calls, () => false);
    fs.rmSync(dir, { recursive: true, force: true });
    const perSession = new Map<string, number>();
    for (const r of shadow2.requests) {
      const s = /s=(\d+)/.exec(r.url)![1];
      perSession.set(s, (perSession.get(s) ?? 0) + 1);
    }
    assert.ok([...perSession.values()].every((n) => n === 10), 'every mirrored session complete');
    const sd = Math.sqrt(sessions * 0.25 * 0.75);
    assert.ok(Math.abs(perSession.size - 100) < 4 * sd, `${perSession.size} of ${sessions} sessions mirrored`);
    assert.equal(summary.replayed, perSession.size * 10);
  } finally {
    await prod2.close();
    await shadow2.close();
  }
});

/** Secrets seeded in requests and in both sides' responses. None may appear in any output. */
const SECRETS = {
  bearer: 'sk-live-SEED0123456789abcdef',
  cookie: 'SEEDCOOKIE42XYZ',
  apiKey: 'SEEDAPIKEY987654',
  card: '4111111111111111',
  queryToken: 'SEEDQUERYTOKEN55',
  setCookie: 'SEEDSETCOOKIE77',
  password: 'SEEDPASSWORD-hunter2',
  shadowPassword: 'SEEDSHADOWPASS-0042',
};

/**
 * A recording's request bodies, decoded: the file keeps them as base64, where a plain-text
 * search for a secret would never find it. null when `text` is not a recording.
 */
function recordedBodies(text: string): string[] | null {
  const lines = text.split('\n').filter((l) => l !== '');
  let header: { format?: unknown };
  try {
    header = JSON.parse(lines[0] ?? '');
  } catch {
    return null;
  }
  if (header.format !== RECORDING_FORMAT) return null;
  return lines.slice(1).map((l) => (JSON.parse(l) as RecordedRequest).body)
    .filter((b): b is string => b !== null).map((b) => Buffer.from(b, 'base64').toString('utf8'));
}

function secretServer(shadow: boolean): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('Content-Type', 'application/json');
      res.setHeader('Set-Cookie', `sid=${SECRETS.setCookie}; Path=/; HttpOnly`);
      res.end(JSON.stringify({
        user: 'ann', plan: shadow ? 'gold' : 'silver', password: shadow ? SECRETS.shadowPassword : SECRETS.password,
        payment: { cardNumber: SECRETS.card, note: `card ${SECRETS.card} on file` }, echo: req.url,
      }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

test('seeded secrets appear in no log line, sample, report, summary, results file or recording', { timeout: 90_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const prod = await secretServer(false);
  const shadow = await secretServer(true);
  let shadowGot = 0;
  shadow.on('request', () => shadowGot++);
  const prodPort = (prod.address() as AddressInfo).port;
  const shadowPort = (shadow.address() as AddressInfo).port;
  const calls: Call[] = [];
  for (let i = 0; i < 60; i++) {
    calls.push({
      method: i % 3 === 0 ? 'POST' : 'GET', path: `/account/${i % 4}?access_token=${SECRETS.queryToken}&page=${i}`,
      headers: { authorization: `Bearer ${SECRETS.bearer}`, cookie: `session=${SECRETS.cookie}`, 'x-api-key': SECRETS.apiKey, 'content-type': 'application/json' },
      body: i % 3 === 0 ? JSON.stringify({ card: { number: SECRETS.card, cvv: '123' }, password: SECRETS.password }) : undefined,
    });
  }
  let dir = '';
  const recDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-secrets-rec-'));
  try {
    const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-secrets-out-'));
    // A recorder captures the same traffic, beside the mirror.
    const recording = path.join(recDir, 'traffic.rec');
    const recorder = startCli(['record', '--interface', 'lo', '--port', String(prodPort), '--output', recording,
      '--summary-json', path.join(recDir, 'record.json'), '--log-level', 'debug', '--stats-interval', '1']);
    assert.ok(await recorder.waitForLine(/recording started/, 15_000), recorder.stderr());
    const run = await mirror(prodPort, `http://127.0.0.1:${shadowPort}`,
      ['--allow-writes', '--out', outDir, '--log-level', 'debug', '--stats-interval', '1'], calls, () => shadowGot >= 60);
    dir = run.dir;
    assert.equal(await recorder.stop('SIGTERM'), 0, recorder.stderr());
    // Replaying the (redacted) recording writes logs and a summary of its own.
    const replay = await runCli(['replay', '--file', recording, '--shadow', `http://127.0.0.1:${shadowPort}`, '--allow-writes',
      '--speed', '0', '--log-level', 'debug', '--summary-json', path.join(recDir, 'replay.json')]);
    assert.equal(replay.code, 0, replay.stderr);
    assert.equal(JSON.parse(fs.readFileSync(path.join(recDir, 'replay.json'), 'utf8')).replayed, 60);
    const html = path.join(outDir, 'report.html');
    const report = await runCli(['report', outDir, '--html', html, '--min-diffs', '1']);
    const json = await runCli(['report', outDir, '--json', '--min-diffs', '1']);
    const verdict = await runCli(['verdict', outDir, '--min-diffs', '1', '--min-requests', '1']);
    assert.equal(report.code, 0, report.stderr);
    // The outputs are not empty: the planted differences (plan, password) were sampled.
    const samples = fs.readFileSync(path.join(outDir, 'samples.jsonl'), 'utf8');
    assert.match(samples, /"\$\.plan"/);
    assert.match(samples, /"\$\.password"/);
    assert.match(json.stdout, /\$\.plan/);
    const outputs: Array<[string, string]> = [
      ['run stdout (logs)', run.stdout], ['run stderr', run.stderr], ['report', report.stdout + report.stderr],
      ['report --json', json.stdout], ['verdict', verdict.stdout + verdict.stderr],
      ['record logs', recorder.stdout() + recorder.stderr()], ['replay logs', replay.stdout + replay.stderr],
    ];
    const recorded = fs.readFileSync(recording, 'utf8');
    assert.equal(recorded.trim().split('\n').length, 61, 'a header line and 60 requests recorded');
    assert.equal(fs.statSync(recording).mode & 0o777, 0o600);
    let bodies: string[] = [];
    for (const dirOf of [outDir, dir, recDir]) for (const f of fs.readdirSync(dirOf)) {
      const file = path.join(dirOf, f);
      const text = fs.readFileSync(file, 'utf8');
      outputs.push([file, text]);
      // Request bodies are base64 in a recording: search them decoded too.
      const decoded = recordedBodies(text);
      if (decoded !== null) {
        bodies = bodies.concat(decoded);
        outputs.push([`${file} (request bodies, decoded)`, decoded.join('\n')]);
      }
    }
    assert.ok(outputs.length >= 13);
    // The body search is not vacuous: the 20 POST bodies were recorded, decoded, and kept their
    // shape (fields present, values masked).
    assert.equal(bodies.length, 20, 'the POST bodies are in the recording');
    for (const b of bodies) assert.match(b, /"password"/, `a decoded body: ${b}`);
    for (const [where, text] of outputs) {
      for (const [name, secret] of Object.entries(SECRETS)) {
        assert.ok(!text.includes(secret), `${name} leaked into ${where}`);
      }
    }
    assert.match(samples, /\[redacted\]/);
    fs.rmSync(outDir, { recursive: true, force: true });
  } finally {
    prod.close();
    shadow.close();
    prod.closeAllConnections();
    shadow.closeAllConnections();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(recDir, { recursive: true, force: true });
  }
});
