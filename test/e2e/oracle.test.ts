// End-to-end oracle test for `shadowtap read`: real HTTP/1.x traffic on loopback,
// captured by tcpdump, is decoded by shadowtap and checked against two independent
// oracles: what the client actually sent/received, and tshark's HTTP dissector.
// Needs root, tcpdump, tshark and editcap; skipped otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EMPTY_SHA256, headerValue, startProduction, type RecordingServer } from '../support/servers';
import { byConnection, describeMix, sendVariedMix, type SentRequest } from '../support/traffic';
import { captureSkipReason, cliPath, convertCapture, runCli, startTcpdump, tsharkRequests, type TsharkRequest } from '../support/tools';
import { connSequences, diffConnSequences, parseExchanges, type Exchange } from '../support/compare';

const COUNT = 2000;
const SEED = 20240611;
const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const methodUrl = (m: string, u: string) => `${m} ${u}`;

function sentFull(s: SentRequest): string {
  return JSON.stringify([s.method, s.target, headerValue(s.headers, 'host') ?? null, s.status, s.bodySize, s.bodySha256]);
}
function exFull(e: Exchange): string {
  return JSON.stringify([e.method, e.url, e.host, e.status, e.reqBodySize, e.reqBodySha256]);
}
function sentResponse(s: SentRequest): string {
  return JSON.stringify([s.method, s.target, s.status, s.responseBodySize, s.responseBodySha256]);
}
function exResponse(e: Exchange): string {
  // An empty response body may be reported with a null hash.
  const sha = e.resBodySha256 === null && e.resBodySize === 0 ? EMPTY_SHA256 : e.resBodySha256;
  return JSON.stringify([e.method, e.url, e.status, e.resBodySize, sha]);
}

async function readCapture(file: string, port: number, summaryPath?: string): Promise<{ stdout: string; exchanges: Exchange[] }> {
  const args = ['read', '--file', file, '--port', String(port)];
  if (summaryPath) args.push('--summary-json', summaryPath);
  const r = await runCli(args, { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `shadowtap read ${path.basename(file)} exited ${r.code} (${r.signal ?? ''})\nstderr:\n${r.stderr.slice(-3000)}`);
  return { stdout: r.stdout, exchanges: parseExchanges(r.stdout) };
}

test('read: shadowtap agrees with the client and with tshark on a varied loopback capture', { timeout: 180_000 }, async (t) => {
  const why = captureSkipReason(['tcpdump', 'tshark', 'editcap']);
  if (why) { t.skip(why); return; }
  assert.ok(fs.existsSync(cliPath()), `shadowtap CLI not built: ${cliPath()} (run the build first)`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-oracle-'));
  let prod: RecordingServer | undefined;
  t.after(async () => {
    await prod?.close();
    if (process.env.SHADOWTAP_KEEP_CAPTURES) t.diagnostic(`captures kept in ${dir}`);
    else fs.rmSync(dir, { recursive: true, force: true });
  });

  // --- generate and capture ---------------------------------------------------------
  prod = await startProduction();
  const port = prod.port;
  const loFile = path.join(dir, 'lo.pcap');
  const anyFile = path.join(dir, 'any.pcap');
  const ngFile = path.join(dir, 'lo.pcapng');
  const loCap = await startTcpdump({ iface: 'lo', filter: `tcp port ${port}`, file: loFile });
  const anyCap = await startTcpdump({ iface: 'any', filter: `tcp port ${port}`, file: anyFile });
  const sent = await sendVariedMix(port, { count: COUNT, seed: SEED });
  await delay(300);
  const loStats = await loCap.stop();
  const anyStats = await anyCap.stop();
  t.diagnostic(`mix: ${JSON.stringify(describeMix(sent))}`);
  t.diagnostic(`tcpdump lo: ${loStats.captured} captured, ${loStats.droppedByKernel} dropped; any: ${anyStats.captured} captured, ${anyStats.droppedByKernel} dropped`);
  assert.equal(sent.length, COUNT);
  assert.equal(loStats.droppedByKernel, 0, 'tcpdump -i lo dropped packets: the capture is not a valid oracle');
  assert.equal(anyStats.droppedByKernel, 0, 'tcpdump -i any dropped packets: the capture is not a valid oracle');
  // The harness itself: production received exactly what the client sent.
  assert.equal(prod.requests.length, sent.length, 'production did not receive every request');

  const sentMU = connSequences(sent, (s) => s.conn, (s) => methodUrl(s.method, s.target));
  const sentByPort = new Map([...byConnection(sent).values()].map((l) => [l[0].localPort, l[0].conn]));

  let tshark: TsharkRequest[] = [];
  await t.test('tshark (independent oracle) sees exactly what the client sent', async () => {
    tshark = await tsharkRequests(loFile, port);
    const d = diffConnSequences('client', sentMU, 'tshark', connSequences(tshark, (r) => r.stream, (r) => methodUrl(r.method, r.uri)));
    if (d !== null) assert.fail(d);
    // tshark's streams map onto the client's connections by client port.
    for (const r of tshark) assert.ok(sentByPort.has(r.srcPort), `tshark stream ${r.stream} from unknown port ${r.srcPort}`);
  });

  let loOut = '';
  let loEx: Exchange[] = [];
  await t.test('read: (method, url) per connection equals tshark and the client', async () => {
    const summaryPath = path.join(dir, 'summary-lo.json');
    ({ stdout: loOut, exchanges: loEx } = await readCapture(loFile, port, summaryPath));
    assert.equal(loEx.length, sent.length, `read printed ${loEx.length} exchanges, client sent ${sent.length}`);
    const got = connSequences(loEx, (e) => e.conn, (e) => methodUrl(e.method, e.url));
    const d1 = diffConnSequences('client', sentMU, 'shadowtap', got);
    if (d1 !== null) assert.fail(d1);
    if (tshark.length) {
      const d2 = diffConnSequences('tshark', connSequences(tshark, (r) => r.stream, (r) => methodUrl(r.method, r.uri)), 'shadowtap', got);
      if (d2 !== null) assert.fail(d2);
    }
    const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
    const notReplayed = Object.values(summary.notReplayed ?? {}).reduce((a: number, b) => a + Number(b), 0);
    assert.equal(summary.seen, sent.length, `summary.seen ${summary.seen} != ${sent.length} sent`);
    assert.equal(summary.seen, summary.replayed + notReplayed, `summary does not balance: ${JSON.stringify(summary)}`);
  });

  await t.test('read: every exchange has the sent body, Host, and the status production answered', () => {
    assert.ok(loEx.length > 0, 'no exchanges (previous step failed)');
    const d = diffConnSequences('client', connSequences(sent, (s) => s.conn, sentFull), 'shadowtap', connSequences(loEx, (e) => e.conn, exFull));
    if (d !== null) assert.fail(`[method, url, host, status, reqBodySize, reqBodySha256]\n${d}`);
  });

  await t.test('read: every response body (size, sha256) equals what the client received', () => {
    assert.ok(loEx.length > 0, 'no exchanges (previous step failed)');
    const d = diffConnSequences('client', connSequences(sent, (s) => s.conn, sentResponse), 'shadowtap', connSequences(loEx, (e) => e.conn, exResponse));
    if (d !== null) assert.fail(`[method, url, status, resBodySize, resBodySha256]\n${d}`);
  });

  await t.test('read: capture timestamps are present and ordered', () => {
    assert.ok(loEx.length > 0, 'no exchanges (previous step failed)');
    const problems: string[] = [];
    for (const e of loEx) {
      const ts = [e.reqStartUs, e.reqEndUs, e.resStartUs, e.resEndUs];
      if (ts.some((x) => typeof x !== 'number')) { problems.push(`missing timestamp: ${JSON.stringify(e)}`); continue; }
      const [a, b, c, d] = ts as number[];
      if (!(a <= b && c <= d && a <= c)) problems.push(`bad order: ${JSON.stringify(e)}`);
    }
    for (const seq of byConnection(loEx).values()) {
      for (let i = 1; i < seq.length; i++) {
        if ((seq[i].reqStartUs ?? 0) < (seq[i - 1].reqStartUs ?? 0)) problems.push(`conn ${seq[i].conn}: reqStartUs goes back at #${i}`);
      }
    }
    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} timestamp problem(s)`);
  });

  await t.test('read: the same capture as pcapng gives identical output', async () => {
    assert.ok(loOut, 'no pcap output (previous step failed)');
    await convertCapture(loFile, ngFile, 'pcapng');
    const { stdout } = await readCapture(ngFile, port);
    const a = loOut.split('\n').filter((l) => l.trim().startsWith('{'));
    const b = stdout.split('\n').filter((l) => l.trim().startsWith('{'));
    const first = a.findIndex((l, i) => l !== b[i]);
    assert.ok(a.length === b.length && first === -1,
      `pcap: ${a.length} lines, pcapng: ${b.length} lines; first difference at line ${first}:\n  pcap:   ${a[first]}\n  pcapng: ${b[first]}`);
  });

  await t.test('read: the `-i any` (Linux cooked) capture gives the same (method, url) lists', async () => {
    const { exchanges } = await readCapture(anyFile, port);
    assert.equal(exchanges.length, sent.length, `read printed ${exchanges.length} exchanges from the any-capture, client sent ${sent.length}`);
    const d = diffConnSequences('lo capture', connSequences(loEx.length ? loEx : sent.map((s) => ({ conn: s.conn, method: s.method, url: s.target })), (e) => e.conn, (e) => methodUrl(e.method, e.url)),
      'any capture', connSequences(exchanges, (e) => e.conn, (e) => methodUrl(e.method, e.url)));
    if (d !== null) assert.fail(d);
  });
});
