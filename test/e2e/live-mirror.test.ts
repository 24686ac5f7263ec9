// End-to-end test for `shadowtap run`: sniff loopback traffic to a production server
// and mirror every request to a recording shadow. Checks the shadow received each
// request byte-faithfully (apart from the headers a mirror must rewrite or drop) and
// that the summary accounts for every request. Needs root; skipped otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { headerValue, startProduction, startShadow, type RecordedRequest, type RecordingServer } from '../support/servers';
import { describeMix, sendVariedMix, type SentRequest } from '../support/traffic';
import { captureSkipReason, cliPath, startCli, type CliHandle } from '../support/tools';
import { connectionTokens, forwardableHeaders } from '../support/compare';

const COUNT = 2000;
const SEED = 7_654_321;
const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Why the shadow's copy of `s` is not faithful, or [] if it is. */
function mirrorProblems(s: SentRequest, r: RecordedRequest, shadowHost: string): string[] {
  const p: string[] = [];
  if (r.method !== s.method) p.push(`method ${JSON.stringify(r.method)} != ${JSON.stringify(s.method)}`);
  if (r.url !== s.target) p.push(`target ${JSON.stringify(r.url)} != ${JSON.stringify(s.target)}`);
  if (r.bodySize !== s.bodySize || r.bodySha256 !== s.bodySha256) p.push(`body ${r.bodySize}B/${r.bodySha256.slice(0, 12)} != ${s.bodySize}B/${s.bodySha256.slice(0, 12)}`);
  const host = headerValue(r.headers, 'host');
  if (host !== shadowHost) p.push(`Host ${JSON.stringify(host)} != ${JSON.stringify(shadowHost)}`);
  const markers = r.headers.filter(([n]) => n.toLowerCase() === 'x-shadowtap');
  if (markers.length !== 1 || markers[0][1] !== '1') p.push(`x-shadowtap marker: ${JSON.stringify(markers)}`);
  const cl = headerValue(r.headers, 'content-length');
  if (cl !== undefined && Number(cl) !== r.bodySize) p.push(`Content-Length ${cl} but body ${r.bodySize}`);
  const dropped = connectionTokens(s.headers);
  const want = forwardableHeaders(s.headers);
  const got = forwardableHeaders(r.headers, dropped);
  if (JSON.stringify(want) !== JSON.stringify(got)) p.push(`headers\n      sent:     ${JSON.stringify(want)}\n      shadowed: ${JSON.stringify(got)}`);
  return p;
}

test('run: live mirror replays every request to the shadow faithfully and accounts for all', { timeout: 180_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  assert.ok(fs.existsSync(cliPath()), `shadowtap CLI not built: ${cliPath()} (run the build first)`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-live-'));
  const summaryPath = path.join(dir, 'summary.json');
  let prod: RecordingServer | undefined;
  let shadow: RecordingServer | undefined;
  let cli: CliHandle | undefined;
  let exitCode: number | null | undefined;
  t.after(async () => {
    if (cli && exitCode === undefined) await cli.stop('SIGKILL', 5_000).catch(() => undefined);
    await prod?.close();
    await shadow?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  prod = await startProduction();
  shadow = await startShadow();
  const shadowHost = `127.0.0.1:${shadow.port}`;
  cli = startCli(['run', '--allow-writes', '--interface', 'lo', '--port', String(prod.port), '--shadow', `http://${shadowHost}`, '--summary-json', summaryPath]);

  // Wait for the capture to be live: a log line saying so, or ~1 s if no such line comes.
  const started = await Promise.race([cli.waitForLine(/capture started/i, 10_000), cli.exited.then(() => 'exited' as const)]);
  if (started === 'exited') {
    assert.fail(`shadowtap run exited before capturing\nstdout:\n${cli.stdout().slice(-2000)}\nstderr:\n${cli.stderr().slice(-2000)}`);
  }
  if (started === null) {
    t.diagnostic('no "capture started" log line within 10 s; continuing');
    await delay(1000);
  } else {
    await delay(200);
  }

  const sent = await sendVariedMix(prod.port, { count: COUNT, seed: SEED });
  t.diagnostic(`mix: ${JSON.stringify(describeMix(sent))}`);
  assert.equal(sent.length, COUNT);
  assert.equal(prod.requests.length, sent.length, 'production did not receive every request (harness problem)');

  const allArrived = await shadow.waitFor(sent.length, 30_000);
  if (!allArrived) t.diagnostic(`only ${shadow.requests.length}/${sent.length} requests reached the shadow within 30 s; stopping anyway`);
  await delay(300); // let any duplicate or stray replay show up before we judge
  exitCode = await cli.stop('SIGTERM', 30_000);
  assert.equal(exitCode, 0, `shadowtap run exited ${exitCode} on SIGTERM\nstderr:\n${cli.stderr().slice(-3000)}`);

  await t.test('the shadow received every request exactly once, byte-faithfully', () => {
    const byId = new Map<string, RecordedRequest[]>();
    const noId: RecordedRequest[] = [];
    for (const r of shadow!.requests) {
      const id = headerValue(r.headers, 'x-request-id');
      if (id === undefined) { noId.push(r); continue; }
      byId.set(id, [...(byId.get(id) ?? []), r]);
    }
    const problems: string[] = [];
    for (const r of noId.slice(0, 3)) problems.push(`shadow got a request without X-Request-Id: ${r.method} ${r.url}`);
    let missing = 0;
    let dup = 0;
    let unfaithful = 0;
    for (const s of sent) {
      const rs = byId.get(s.id) ?? [];
      byId.delete(s.id);
      if (rs.length === 0) { if (missing++ < 5) problems.push(`${s.id} ${s.method} ${s.target}: never reached the shadow`); continue; }
      if (rs.length > 1) { if (dup++ < 5) problems.push(`${s.id}: reached the shadow ${rs.length} times`); }
      if (!rs[0].complete) { problems.push(`${s.id}: body incomplete at the shadow`); continue; }
      const p = mirrorProblems(s, rs[0], shadowHost);
      const what = [s.framing, s.expectContinue ? 'expect' : '', s.pipelined ? 'pipelined' : '', s.httpVersion === '1.0' ? 'HTTP/1.0' : ''].filter(Boolean).join(',');
      if (p.length && unfaithful++ < 8) problems.push(`${s.id} ${s.method} ${s.target} (${what}):\n    ${p.join('\n    ')}`);
    }
    for (const [id] of [...byId].slice(0, 3)) problems.push(`shadow got an unknown request id ${id}`);
    const head = `${shadow!.requests.length} shadow requests for ${sent.length} sent; missing ${missing}, duplicated ${dup}, unfaithful ${unfaithful}, unknown ${byId.size}, without id ${noId.length}`;
    assert.ok(problems.length === 0 && shadow!.requests.length === sent.length, `${head}\n${problems.join('\n')}`);
  });

  await t.test('the summary accounts for every request: seen = replayed + Σ notReplayed', () => {
    assert.ok(fs.existsSync(summaryPath), `no summary written to ${summaryPath}\nstderr:\n${cli!.stderr().slice(-2000)}`);
    const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
    const notReplayed = Object.values(summary.notReplayed ?? {}).reduce((a: number, b) => a + Number(b), 0);
    const line = JSON.stringify({ seen: summary.seen, replayed: summary.replayed, notReplayed: summary.notReplayed, capture: summary.capture, gaps: summary.tcp?.gaps, memory: summary.memory });
    assert.equal(summary.seen, summary.replayed + notReplayed, `does not balance: ${line}`);
    assert.equal(summary.seen, sent.length, `seen != ${sent.length} sent: ${line}`);
    assert.equal(summary.replayed, summary.seen, `not everything replayed: ${line}`);
    assert.equal(notReplayed, 0, `notReplayed not empty: ${line}`);
  });
});
