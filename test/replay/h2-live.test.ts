// `shadowtap run` live on lo with an HTTP/2 (h2c) production and an h2c shadow, protocol auto:
// what was captured over HTTP/2 is replayed over HTTP/2, every request once, with the method,
// path, fields and body production received; the ledger adds up.
import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { captureSkipReason, cliPath, startCli, type CliHandle } from '../support/tools';
import { startH2Shadow, type H2Shadow } from './h2-support';

const COUNT = 300;
const sha256 = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

interface AtProduction { method: string; path: string; fields: string[]; bodySha256: string }

test('run, protocol auto: an h2c production mirrored live to an h2c shadow over HTTP/2, every request once and faithfully', { timeout: 180_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why !== null) return t.skip(why);
  assert.ok(fs.existsSync(cliPath()), `shadowtap CLI not built: ${cliPath()}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-h2live-'));
  const summaryPath = path.join(dir, 'summary.json');
  let shadow: H2Shadow | undefined;
  let cli: CliHandle | undefined;
  let stopped = false;
  const prod = http2.createServer();
  t.after(async () => {
    if (cli !== undefined && !stopped) await cli.stop('SIGKILL', 5_000).catch(() => undefined);
    prod.close();
    await shadow?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const atProduction = new Map<string, AtProduction>();
  prod.on('stream', (stream: http2.ServerHttp2Stream, _headers: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      // The regular fields in order; cookies split into several fields are one once captured.
      const fields: string[] = [];
      for (let i = 0; i < raw.length; i += 2) {
        if (raw[i].startsWith(':')) continue;
        const cookie = raw[i] === 'cookie' ? fields.indexOf('cookie') : -1;
        if (cookie >= 0) fields[cookie + 1] += `; ${raw[i + 1]}`;
        else fields.push(raw[i], raw[i + 1]);
      }
      const get = (n: string): string => raw[raw.indexOf(n) + 1];
      atProduction.set(get('x-request-id'), { method: get(':method'), path: get(':path'), fields, bodySha256: sha256(Buffer.concat(chunks)) });
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
  });
  const port = await new Promise<number>((r) => prod.listen(0, '127.0.0.1', () => r((prod.address() as { port: number }).port)));
  shadow = await startH2Shadow();
  cli = startCli(['run', '--allow-writes', '--interface', 'lo', '--port', String(port), '--shadow', shadow.origin, '--summary-json', summaryPath]);
  const started = await Promise.race([cli.waitForLine(/capture started/i, 10_000), cli.exited.then(() => 'exited' as const)]);
  assert.notEqual(started, 'exited', `shadowtap run exited early\n${cli.stderr().slice(-2000)}`);
  await new Promise((r) => setTimeout(r, started === null ? 1000 : 200));

  const sessions = [http2.connect(`http://127.0.0.1:${port}`), http2.connect(`http://127.0.0.1:${port}`)];
  let next = 0;
  const one = (s: http2.ClientHttp2Session, i: number): Promise<void> => new Promise((resolve, reject) => {
    const post = i % 2 === 1;
    const req = s.request({
      ':method': post ? 'POST' : 'GET', ':path': `/m/${i}?p=${i % 7}`, 'x-request-id': String(i), 'accept-language': 'en',
      cookie: [`a=${i}`, 'b=2'], te: 'trailers', ...(post ? { 'content-type': 'application/json' } : {}),
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

  const deadline = performance.now() + 30_000;
  while (shadow.seen.filter((s) => s.complete).length < COUNT && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 300));
  stopped = true;
  assert.equal(await cli.stop('SIGTERM', 30_000), 0, cli.stderr().slice(-2000));

  const seenIds = new Set<string>();
  for (const s of shadow.seen) {
    const id = s.fields[s.fields.indexOf('x-request-id') + 1];
    assert.ok(!seenIds.has(id), `request ${id} reached the shadow twice`);
    seenIds.add(id);
    const p = atProduction.get(id)!;
    assert.deepEqual([s.version, s.method, s.path, s.scheme, s.authority], ['2.0', p.method, p.path, 'http', `127.0.0.1:${shadow.port}`], id);
    assert.equal(sha256(s.body), p.bodySha256, id);
    assert.deepEqual(s.fields, [...p.fields, 'x-shadowtap', '1'], `${id}: the fields production received, te: trailers kept, the marker last`);
  }
  assert.equal(seenIds.size, COUNT);
  const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
  assert.deepEqual([summary.seen, summary.replayed], [COUNT, COUNT], JSON.stringify(summary.notReplayed));
  assert.deepEqual(summary.shadows[0].h2, { sessionsOpened: 1, streams: COUNT, resets: 0, goaways: 0 });
});
