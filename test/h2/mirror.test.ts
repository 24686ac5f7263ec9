// `shadowtap run` live on lo with an HTTP/2 (h2c) production: every request a node:http2
// client sends is replayed once to an HTTP/1.1 shadow (--shadow-protocol http1: by default
// what came over HTTP/2 goes over HTTP/2) with the method, target, fields and body production
// received, and the ledger adds up (seen = replayed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import { headerValue, startShadow, type RecordingServer } from '../support/servers';
import { captureSkipReason, cliPath, startCli, type CliHandle } from '../support/tools';

const COUNT = 300;
const sha256 = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');
/** Fields a mirror writes itself: not compared. */
const REWRITTEN = new Set(['host', 'x-shadowtap', 'content-length', 'connection']);

interface AtProduction { method: string; path: string; fields: Array<[string, string]>; bodySha256: string }

test('run: an h2c production mirrored live to an HTTP/1.1 shadow, every request once and faithfully', { timeout: 180_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  assert.ok(fs.existsSync(cliPath()), `shadowtap CLI not built: ${cliPath()}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-h2mirror-'));
  const summaryPath = path.join(dir, 'summary.json');
  let shadow: RecordingServer | undefined;
  let cli: CliHandle | undefined;
  let stopped = false;
  const prod = http2.createServer();
  t.after(async () => {
    if (cli && !stopped) await cli.stop('SIGKILL', 5_000).catch(() => undefined);
    prod.close();
    await shadow?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const atProduction = new Map<string, AtProduction>();
  prod.on('stream', (stream: http2.ServerHttp2Stream, _headers: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const fields: Array<[string, string]> = [];
      for (let i = 0; i < raw.length; i += 2) {
        if (raw[i].startsWith(':')) continue;
        // Cookies split into several fields travel as one over HTTP/1 (RFC 9113 §8.2.3).
        const cookie = raw[i] === 'cookie' ? fields.find(([n]) => n === 'cookie') : undefined;
        if (cookie !== undefined) cookie[1] += `; ${raw[i + 1]}`;
        else fields.push([raw[i], raw[i + 1]]);
      }
      const get = (n: string): string => raw[raw.indexOf(n) + 1];
      atProduction.set(get('x-request-id'), { method: get(':method'), path: get(':path'), fields, bodySha256: sha256(Buffer.concat(chunks)) });
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
  });
  const port = await new Promise<number>((r) => prod.listen(0, '127.0.0.1', () => r((prod.address() as { port: number }).port)));
  shadow = await startShadow();
  const shadowHost = `127.0.0.1:${shadow.port}`;
  cli = startCli(['run', '--allow-writes', '--interface', 'lo', '--port', String(port), '--shadow', `http://${shadowHost}`,
    '--shadow-protocol', 'http1', '--summary-json', summaryPath]);
  const started = await Promise.race([cli.waitForLine(/capture started/i, 10_000), cli.exited.then(() => 'exited' as const)]);
  assert.notEqual(started, 'exited', `shadowtap run exited early\n${cli.stderr().slice(-2000)}`);
  await new Promise((r) => setTimeout(r, started === null ? 1000 : 200));

  const sessions = [http2.connect(`http://127.0.0.1:${port}`), http2.connect(`http://127.0.0.1:${port}`)];
  let next = 0;
  const one = (s: http2.ClientHttp2Session, i: number): Promise<void> => new Promise((resolve, reject) => {
    const post = i % 2 === 1;
    const req = s.request({
      ':method': post ? 'POST' : 'GET', ':path': `/m/${i}?p=${i % 7}`, 'x-request-id': String(i),
      'accept-language': 'en', cookie: [`a=${i}`, 'b=2'], ...(post ? { 'content-type': 'application/json' } : {}),
    }, { endStream: !post });
    req.on('error', reject);
    req.resume();
    req.on('end', () => resolve());
    if (post) req.end(JSON.stringify({ i, pad: 'x'.repeat(i * 13) }));
  });
  await Promise.all(sessions.flatMap((s) => Array.from({ length: 8 }, async () => {
    for (let i = next++; i < COUNT; i = next++) await one(s, i);
  })));
  await Promise.all(sessions.map((s) => new Promise<void>((r) => s.close(() => r()))));
  assert.equal(atProduction.size, COUNT);

  assert.ok(await shadow.waitFor(COUNT, 30_000), `only ${shadow.requests.length}/${COUNT} reached the shadow`);
  await new Promise((r) => setTimeout(r, 300));
  stopped = true;
  assert.equal(await cli.stop('SIGTERM', 30_000), 0, cli.stderr().slice(-2000));

  const seenIds = new Set<string>();
  for (const r of shadow.requests) {
    const id = headerValue(r.headers, 'x-request-id')!;
    assert.ok(!seenIds.has(id), `request ${id} reached the shadow twice`);
    seenIds.add(id);
    const p = atProduction.get(id)!;
    assert.equal(r.method, p.method, id);
    assert.equal(r.url, p.path, id);
    assert.equal(r.bodySha256, p.bodySha256, id);
    assert.equal(headerValue(r.headers, 'host'), shadowHost);
    const fields = r.headers.filter(([n]) => !REWRITTEN.has(n.toLowerCase()));
    assert.deepEqual(fields, p.fields, `${id}: the fields production received (cookies joined as HTTP/1 carries them)`);
  }
  assert.equal(seenIds.size, COUNT);
  const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
  assert.equal(summary.seen, COUNT);
  assert.equal(summary.replayed, COUNT, JSON.stringify(summary.notReplayed));
  assert.equal(summary.http.h2.connections, 2);
});
