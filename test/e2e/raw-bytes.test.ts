// Bytes outside ASCII in the request line and header values (raw UTF-8 from sloppy clients,
// latin1 from old ones) must reach the shadow unchanged: one byte in, the same byte out.
// Production and shadow are raw TCP servers, so nothing between the wire and the assertion
// interprets the bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { captureSkipReason, startCli, type CliHandle } from '../support/tools';

/** Answers every request head with a fixed 200 and closes; keeps what it received. */
function rawServer(): Promise<{ port: number; received: Buffer[]; close(): Promise<void> }> {
  const received: Buffer[] = [];
  const server = net.createServer((socket) => {
    let data = Buffer.alloc(0);
    socket.on('data', (d) => {
      data = Buffer.concat([data, d]);
      if (data.includes('\r\n\r\n')) {
        received.push(data);
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
      }
    });
    socket.on('error', () => undefined);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: (server.address() as AddressInfo).port,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  })));
}

test('non-ASCII bytes in the target and header values are replayed byte for byte', { timeout: 60_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const prod = await rawServer();
  const shadow = await rawServer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-bytes-'));
  let cli: CliHandle | undefined;
  t.after(async () => {
    await cli?.stop('SIGKILL', 5_000).catch(() => undefined);
    await prod.close();
    await shadow.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  cli = startCli(['run', '--allow-writes', '--interface', 'lo', '--port', String(prod.port), '--shadow', `http://127.0.0.1:${shadow.port}`,
    '--summary-json', path.join(dir, 's.json'), '--stats-interval', '0']);
  assert.ok(await cli.waitForLine(/capture started/, 15_000), cli.stderr());

  const target = Buffer.from('/caf\u00e9/\u00fcber?q=\u2713', 'utf8'); // raw UTF-8, not percent-encoded
  const latin1Value = Buffer.from('Jos\u00e9', 'latin1');
  const utf8Value = Buffer.from('\u00e9t\u00e9 \u2713', 'utf8');
  const request = Buffer.concat([
    Buffer.from('GET '), target, Buffer.from(' HTTP/1.1\r\nHost: x\r\nX-Name: '), latin1Value,
    Buffer.from('\r\nX-Utf8: '), utf8Value, Buffer.from('\r\nConnection: close\r\n\r\n'),
  ]);
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect(prod.port, '127.0.0.1', () => socket.write(request));
    socket.on('data', () => undefined);
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
  for (let i = 0; i < 100 && shadow.received.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(await cli.stop('SIGTERM'), 0, cli.stderr());
  assert.equal(shadow.received.length, 1, 'the shadow got the request');

  const got = shadow.received[0];
  const lineEnd = got.indexOf('\r\n');
  assert.deepEqual(got.subarray(0, lineEnd), Buffer.concat([Buffer.from('GET '), target, Buffer.from(' HTTP/1.1')]));
  assert.ok(got.includes(Buffer.concat([Buffer.from('X-Name: '), latin1Value, Buffer.from('\r\n')])), got.toString('latin1'));
  assert.ok(got.includes(Buffer.concat([Buffer.from('X-Utf8: '), utf8Value, Buffer.from('\r\n')])), got.toString('latin1'));
});
