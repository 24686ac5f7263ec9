// `curl --http2 http://prod/…` asks an HTTP/1.1 server to switch to h2c; a server that answers
// plainly (no 101) keeps the connection HTTP/1.1, so the request is an ordinary one: mirrored
// to the shadow and compared, not counted as an upgrade.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startShadow } from '../support/servers';
import { captureSkipReason, haveTool, runTool, startCli } from '../support/tools';

test('an Upgrade: h2c request answered plainly (curl --http2) is mirrored and compared', { timeout: 60_000 }, async (t) => {
  const why = captureSkipReason([]) ?? (haveTool('curl') ? null : 'curl missing');
  if (why) { t.skip(why); return; }
  // Production speaks HTTP/1.1 only: an Upgrade request gets a plain answer, the connection stays HTTP/1.1.
  const production = http.createServer((req, res) => res.end(`plain ${req.url}`));
  production.on('upgrade', (req: http.IncomingMessage, socket) => {
    const body = `plain ${req.url}`;
    socket.end(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
  });
  await new Promise<void>((r) => production.listen(0, '127.0.0.1', () => r()));
  const port = (production.address() as AddressInfo).port;
  const shadow = await startShadow();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-h2c-'));
  const summaryPath = path.join(dir, 's.json');
  const cli = startCli(['run', '--interface', 'lo', '--port', String(port), '--shadow', `http://127.0.0.1:${shadow.port}`,
    '--summary-json', summaryPath, '--stats-interval', '0', '--admin', 'off']);
  t.after(async () => {
    await cli.stop('SIGKILL').catch(() => undefined);
    production.closeAllConnections();
    await new Promise<void>((r) => production.close(() => r()));
    await shadow.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  assert.ok(await cli.waitForLine(/capture started/, 20_000), cli.stderr());
  const curl = await runTool('curl', ['-sS', '--http2', '-D', '-', `http://127.0.0.1:${port}/h2c-refused`], { timeoutMs: 20_000 });
  assert.equal(curl.code, 0, curl.stderr);
  assert.match(curl.stdout, /^HTTP\/1\.1 200 OK/);
  assert.match(curl.stdout, /plain \/h2c-refused$/);

  assert.ok(await shadow.waitFor(1, 20_000), 'the shadow got the request');
  assert.equal(shadow.requests[0].url, '/h2c-refused');
  assert.equal(await cli.stop('SIGTERM', 30_000), 0, cli.stderr());
  const s = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as { seen: number; replayed: number; notReplayed: Record<string, number>; compare: { exchanges: number } };
  assert.deepEqual([s.seen, s.replayed, s.notReplayed], [1, 1, {}]);
  assert.equal(s.compare.exchanges, 1, 'compared with production\'s answer');
});
