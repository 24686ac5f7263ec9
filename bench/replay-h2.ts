// The replayer's CPU per request over HTTP/1.1 and over HTTP/2 (h2c), side by side, against
// a shadow in another process (node:http or node:http2, answering 200 with a small body).
// CPU time of this process only (user + system), so a busy machine moves it less than the
// wall-clock rate, which is printed too.
// Usage: node dist/bench/replay-h2.js [requests] [concurrency] [rounds]
import { fork } from 'node:child_process';
import type { HttpRequest } from '../src/http';
import { Replayer } from '../src/replay';

const [requests, concurrency, rounds] = [Number(process.argv[2] ?? 20_000), Number(process.argv[3] ?? 64), Number(process.argv[4] ?? 3)];

function shadowProcess(): void {
  const h2 = process.argv[3] === 'h2';
  const body = Buffer.alloc(200, 'x');
  const onRequest = (req: import('node:http').IncomingMessage | import('node:http2').Http2ServerRequest,
                     res: import('node:http').ServerResponse | import('node:http2').Http2ServerResponse): void => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'text/plain');
      res.end(body);
    });
  };
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const server = h2 ? require('node:http2').createServer(onRequest) : require('node:http').createServer(onRequest);
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => process.send?.(server.address().port));
}

function request(i: number, h2: boolean): HttpRequest {
  const conn = { id: 1, client: { address: '10.0.0.1', port: 40000 }, server: { address: '10.0.0.2', port: 80 }, ipVersion: 4, midstream: false, openedUs: 0 };
  const post = i % 4 === 0;
  const body = post ? Buffer.from(`{"n":${i},"pad":"${'p'.repeat(300)}"}`) : null;
  return {
    id: i, conn, index: 0, method: post ? 'POST' : 'GET', url: `/api/items/${i}?q=${i % 97}`, versionMajor: h2 ? 2 : 1, versionMinor: h2 ? 0 : 1,
    headers: ['host', 'api.example', 'user-agent', 'bench/1.0', 'accept', 'application/json', 'x-request-id', `r-${i}`,
      ...(post ? ['content-type', 'application/json', 'content-length', String(body!.length)] : [])],
    trailers: [], body, bodySize: body?.length ?? 0, bodyTruncated: false, bodySha256: null, chunked: false, startUs: 0, endUs: 0,
    ...(h2 ? { h2: { streamId: 2 * i + 1, scheme: 'https' } } : {}),
  };
}

async function round(h2: boolean, port: number): Promise<{ cpuUsPerReq: number; perSecond: number; replayed: number }> {
  const replayer = new Replayer({ targets: [`http://127.0.0.1:${port}`], concurrency, queueSize: requests, queueBytes: 1 << 30, whenFull: 'wait', timeoutMs: 30_000 });
  const reqs = Array.from({ length: requests }, (_, i) => request(i, h2));
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  let replayed = 0;
  await new Promise<void>((resolve) => {
    let left = requests;
    for (const r of reqs) replayer.submit(r, (outcome) => {
      if (outcome === 'replayed') replayed++;
      if (--left === 0) resolve();
    });
  });
  const wall = performance.now() - t0;
  const used = process.cpuUsage(cpu);
  await replayer.drain(1000);
  return { cpuUsPerReq: (used.user + used.system) / requests, perSecond: (requests / wall) * 1000, replayed };
}

async function main(): Promise<void> {
  const results: Record<string, Array<{ cpuUsPerReq: number; perSecond: number; replayed: number }>> = { http1: [], h2: [] };
  for (const proto of ['http1', 'h2'] as const) {
    const child = fork(__filename, ['shadow', proto]);
    const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(m as number)));
    await round(proto === 'h2', port); // warm-up
    for (let i = 0; i < rounds; i++) results[proto].push(await round(proto === 'h2', port));
    child.kill();
  }
  for (const [proto, rs] of Object.entries(results)) {
    const cpu = rs.map((r) => r.cpuUsPerReq.toFixed(1)).join(' ');
    const rate = rs.map((r) => Math.round(r.perSecond)).join(' ');
    console.log(`${proto.padEnd(5)} replayed ${rs.map((r) => r.replayed).join('/')} of ${requests}; CPU µs/request: ${cpu}; requests/s: ${rate}`);
  }
}

if (process.argv[2] === 'shadow') shadowProcess();
else void main();
