// HTTP/2 written by hand into capture files (test/support/packets.ts), read by the CLI:
// the protocol's corners (padding, trailers, push, resets, GOAWAY, frames split anywhere)
// and hostile input (oversized frames, HPACK bombs and bad table updates, CONTINUATION abuse,
// 10,000 streams never finished, a connection joined midway). Every case ends in counted
// outcomes whose ledger adds up; none crashes or holds more than its caps.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { C2S, Conversation, LinkType, S2C, writePcap } from '../support/packets';
import { runCli } from '../support/tools';
import { parseExchanges } from '../support/compare';
import {
  CONTINUATION, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PADDED, PREFACE, PUSH_PROMISE, RST_STREAM,
  frame, hpackInt, indexedLiteralBlock, literalBlock, readInProcess, requestBlock, responseBlock, settings,
} from './support';

const PORT = 8080;

type Step = [typeof C2S | typeof S2C, Buffer, number?];

/** A capture of one connection: handshake (unless `midstream`), the steps (each sent in
 * segments of the given size), FIN both ways. */
function capture(dir: string, name: string, steps: Step[], midstream = false): string {
  const conv = new Conversation({ serverPort: PORT });
  if (midstream) conv.assumeEstablished();
  else conv.handshake();
  for (const [side, bytes, segment] of steps) conv.send(side, bytes, segment ?? 1460);
  conv.close(C2S);
  const file = path.join(dir, `${name}.pcap`);
  writePcap(file, LinkType.ETHERNET, conv.frames());
  return file;
}

interface Summary {
  seen: number; replayed: number; pending: number; notReplayed: Record<string, number>;
  http: { requests: number; responses: number; lost: Record<string, number>; responsesMissing: Record<string, number>;
    responsesToLostRequests: number; nonHttpConnections: number; h2: Record<string, number> };
}

async function read(file: string): Promise<{ summary: Summary; lines: ReturnType<typeof parseExchanges> }> {
  const summaryPath = `${file}.summary.json`;
  const r = await runCli(['read', '--file', file, '--port', String(PORT), '--summary-json', summaryPath]);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as Summary;
  const settled = Object.values(summary.notReplayed).reduce((a, b) => a + b, 0);
  assert.equal(summary.seen, summary.replayed + settled + summary.pending, 'seen = replayed + Σ notReplayed');
  assert.equal(summary.pending, 0);
  return { summary, lines: parseExchanges(r.stdout) };
}

const opening: Step[] = [[C2S, Buffer.concat([PREFACE, settings()])], [S2C, settings()]];
const get = (id: number, p: string, end = true): Buffer => frame(HEADERS, END_HEADERS | (end ? END_STREAM : 0), id, requestBlock('GET', p));
const ok = (id: number, body = 'ok'): Buffer => Buffer.concat([frame(HEADERS, END_HEADERS, id, responseBlock(200)), frame(DATA, END_STREAM, id, Buffer.from(body))]);

describe('h2: the protocol written by hand', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-h2hand-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

  it('padding, trailers both ways, a pushed stream, a server reset and GOAWAY, every frame split in 7-byte segments', async () => {
    const padded = (type: number, flags: number, id: number, payload: Buffer, pad: number): Buffer =>
      frame(type, flags | PADDED, id, Buffer.concat([Buffer.from([pad]), payload, Buffer.alloc(pad)]));
    const client = Buffer.concat([
      PREFACE, settings(),
      padded(HEADERS, END_HEADERS, 1, requestBlock('POST', '/padded', [['content-type', 'text/plain']]), 10),
      padded(DATA, 0, 1, Buffer.from('hello '), 200),
      frame(DATA, 0, 1, Buffer.from('world')),
      frame(HEADERS, END_HEADERS | END_STREAM, 1, literalBlock([['x-checksum', 'c1']])), // trailers
      get(3, '/pushes'),
      get(5, '/reset-by-server'),
    ]);
    const server = Buffer.concat([
      settings(),
      ok(1, 'padded answer'),
      frame(PUSH_PROMISE, END_HEADERS, 3, Buffer.concat([Buffer.from([0, 0, 0, 2]), requestBlock('GET', '/pushed.css')])),
      frame(HEADERS, END_HEADERS, 3, responseBlock(200)),
      frame(HEADERS, END_HEADERS, 2, responseBlock(200, [['content-type', 'text/css']])),
      frame(DATA, END_STREAM, 2, Buffer.from('body{}')),
      frame(DATA, 0, 3, Buffer.from('page')),
      frame(HEADERS, END_HEADERS | END_STREAM, 3, literalBlock([['x-status', 'done']])), // trailers
      frame(HEADERS, END_HEADERS, 5, responseBlock(200)),
      frame(RST_STREAM, 0, 5, [0, 0, 0, 2]),
      frame(GOAWAY, 0, 0, [0, 0, 0, 5, 0, 0, 0, 0]),
    ]);
    const file = capture(dir, 'features', [[C2S, client, 7], [S2C, server, 7]]);
    const { summary, lines } = await read(file);
    assert.deepEqual(lines.map((l) => [l.method, l.url, l.status, l.reqBodySize, (l as unknown as { responseMissing: string }).responseMissing]), [
      ['POST', '/padded', 200, 11, null],
      ['GET', '/pushes', 200, 0, null],
      ['GET', '/reset-by-server', null, 0, 'reset'],
    ]);
    assert.equal(summary.seen, 3, 'the pushed request is not one of them');
    assert.equal(summary.http.h2.pushPromises, 1);
    assert.equal(summary.http.h2.resets, 1);
    assert.equal(summary.http.h2.goaways, 1);
    assert.equal(summary.http.responsesMissing.reset, 1);
    assert.equal(summary.http.h2.protocolErrors, 0);
    const inProcess = await readInProcess(file);
    const padded1 = inProcess.exchanges.find((e) => e.request.url === '/padded')!;
    assert.equal(padded1.request.body!.toString(), 'hello world');
    assert.equal(padded1.response!.body!.toString(), 'padded answer');
    assert.deepEqual(padded1.request.headers, ['host', 'h2.test', 'content-type', 'text/plain']);
    assert.deepEqual(padded1.request.trailers, ['x-checksum', 'c1']);
    const pushes = inProcess.exchanges.find((e) => e.request.url === '/pushes')!;
    assert.equal(pushes.response!.body!.toString(), 'page');
    assert.deepEqual(pushes.response!.trailers, ['x-status', 'done']);
  });

  it('bodies follow the same HttpOptions as HTTP/1: kept up to maxBodyBytes, hashed whole', async () => {
    const body = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
    const file = capture(dir, 'truncated', [
      ...opening,
      [C2S, Buffer.concat([frame(HEADERS, END_HEADERS, 1, requestBlock('POST', '/big')), frame(DATA, 0, 1, body.subarray(0, 3000)), frame(DATA, END_STREAM, 1, body.subarray(3000))])],
      [S2C, ok(1, 'r'.repeat(300))],
    ]);
    const r = await readInProcess(file, { maxBodyBytes: 1000, maxResponseBodyBytes: 100 });
    const { request, response } = r.exchanges[0];
    assert.equal(request.bodySize, 5000);
    assert.equal(request.bodyTruncated, true);
    assert.equal(request.body!.compare(body.subarray(0, 1000)), 0);
    assert.equal(request.bodySha256, createHash('sha256').update(body).digest('hex'));
    assert.equal(response!.bodySize, 300);
    assert.equal(response!.bodyTruncated, true);
    assert.equal(response!.body!.length, 100);
  });

  it('a client reset before its request ended is a loss (reset), its late answer counted', async () => {
    const file = capture(dir, 'client-reset', [
      ...opening,
      [C2S, Buffer.concat([frame(HEADERS, END_HEADERS, 1, requestBlock('POST', '/upload')), frame(DATA, 0, 1, Buffer.alloc(100)), frame(RST_STREAM, 0, 1, [0, 0, 0, 8])])],
      [C2S, get(3, '/after')],
      [S2C, ok(3)],
    ]);
    const { summary, lines } = await read(file);
    assert.deepEqual(lines.map((l) => l.url), ['/after']);
    assert.deepEqual(summary.notReplayed, { inspectOnly: 1, reset: 1 });
    assert.equal(summary.http.lost.reset, 1);
  });
});

describe('h2: hostile input', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-h2hostile-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

  it('a frame beyond the allowed frame size stops the connection: counted, what was in progress lost', async () => {
    const file = capture(dir, 'oversized', [
      ...opening,
      [C2S, Buffer.concat([get(1, '/fine'), frame(HEADERS, END_HEADERS, 3, requestBlock('POST', '/in-progress'))])],
      [S2C, ok(1)],
      [C2S, frame(DATA, 0, 3, Buffer.alloc(100_000))],
    ]);
    const { summary, lines } = await read(file);
    assert.deepEqual(lines.map((l) => l.url), ['/fine']);
    assert.equal(summary.http.h2.oversizedFrames, 1);
    assert.deepEqual(summary.notReplayed, { inspectOnly: 1, parseError: 1 });

    // The same frame once the server allowed 128 KB frames (SETTINGS_MAX_FRAME_SIZE): read.
    const allowed = capture(dir, 'allowed-frame', [
      [C2S, Buffer.concat([PREFACE, settings()])], [S2C, settings([[5, 128 * 1024]])],
      [C2S, Buffer.concat([frame(HEADERS, END_HEADERS, 3, requestBlock('POST', '/large-frame')), frame(DATA, END_STREAM, 3, Buffer.alloc(100_000))])],
      [S2C, ok(3)],
    ]);
    const big = await read(allowed);
    assert.deepEqual(big.lines.map((l) => [l.url, l.reqBodySize]), [['/large-frame', 100_000]]);
    assert.equal(big.summary.http.h2.oversizedFrames, 0);
  });

  it('an HPACK bomb (8 MB of header list from 6 KB) loses that request only; the table stays in step', async () => {
    const entry = indexedLiteralBlock([['x-bomb', 'b'.repeat(4000)]]);
    const bomb = Buffer.concat([requestBlock('GET', '/bomb'), entry, Buffer.alloc(2000, 0xbe)]);
    // The next request names the bomb's entry by index: decodable only if the table kept it.
    const after = Buffer.concat([requestBlock('GET', '/after-bomb'), Buffer.from([0xbe])]);
    const file = capture(dir, 'bomb', [
      ...opening,
      [C2S, frame(HEADERS, END_HEADERS | END_STREAM, 1, bomb)],
      [S2C, ok(1)],
      [C2S, frame(HEADERS, END_HEADERS | END_STREAM, 3, after)],
      [S2C, ok(3)],
    ]);
    const { summary, lines } = await read(file);
    assert.deepEqual(lines.map((l) => l.url), ['/after-bomb']);
    assert.equal(summary.http.h2.headerListTooLarge, 1);
    assert.equal(summary.http.responsesToLostRequests, 1);
    assert.deepEqual(summary.notReplayed, { inspectOnly: 1, parseError: 1 });
    const inProcess = await readInProcess(file);
    assert.deepEqual(inProcess.exchanges[0].request.headers, ['host', 'h2.test', 'x-bomb', 'b'.repeat(4000)]);
  });

  it('a dynamic table size update beyond the allowed size is an HPACK error: counted, the connection stops', async () => {
    const update = Buffer.from([...hpackInt(1_000_000, 5, 0x20)]);
    const file = capture(dir, 'table-update', [
      ...opening,
      [C2S, get(1, '/before')],
      [S2C, ok(1)],
      [C2S, frame(HEADERS, END_HEADERS | END_STREAM, 3, Buffer.concat([update, requestBlock('GET', '/huge-table')]))],
      [C2S, get(5, '/never-read')],
    ]);
    // Within what the server's SETTINGS_HEADER_TABLE_SIZE allows, the same update is fine.
    const allowed = capture(dir, 'table-allowed', [
      [C2S, Buffer.concat([PREFACE, settings()])], [S2C, settings([[1, 1_000_000]])],
      [C2S, frame(HEADERS, END_HEADERS | END_STREAM, 1, Buffer.concat([Buffer.from(hpackInt(65536, 5, 0x20)), requestBlock('GET', '/large-table')]))],
      [S2C, ok(1)],
    ]);
    const fine = await read(allowed);
    assert.deepEqual(fine.lines.map((l) => l.url), ['/large-table']);
    assert.equal(fine.summary.http.h2.hpackErrors, 0);

    const { summary, lines } = await read(file);
    assert.deepEqual(lines.map((l) => l.url), ['/before']);
    assert.equal(summary.http.h2.hpackErrors, 1);
    // The block that failed was a request seen: lost. What follows cannot be read at all.
    assert.deepEqual(summary.notReplayed, { inspectOnly: 1, parseError: 1 });
  });

  it('CONTINUATION interleaved with another stream\'s frame, and CONTINUATION without end', async () => {
    const interleaved = capture(dir, 'interleaved', [
      ...opening,
      [C2S, Buffer.concat([frame(HEADERS, 0, 1, requestBlock('GET', '/split')), get(3, '/between'), frame(CONTINUATION, END_HEADERS, 1, [])])],
    ]);
    const a = await read(interleaved);
    assert.equal(a.summary.http.h2.continuationErrors, 1);
    assert.deepEqual(a.summary.notReplayed, { parseError: 1 });

    const endless = Buffer.concat([
      frame(HEADERS, 0, 1, requestBlock('GET', '/endless')),
      ...Array.from({ length: 40 }, () => frame(CONTINUATION, 0, 1, Buffer.alloc(16_000, 0x82))),
    ]);
    const file = capture(dir, 'endless', [...opening, [C2S, endless]]);
    const b = await read(file);
    assert.equal(b.summary.http.h2.headerBlockTooLarge, 1);
    assert.deepEqual(b.summary.notReplayed, { parseError: 1 });
  });

  it('10,000 streams opened and never finished: at most maxPending (1,024) held, the oldest shed and counted', async () => {
    const opened: Buffer[] = [];
    for (let i = 0; i < 10_000; i++) opened.push(frame(HEADERS, END_HEADERS, 2 * i + 1, requestBlock('POST', `/open/${i}`)), frame(DATA, 0, 2 * i + 1, Buffer.alloc(50)));
    const file = capture(dir, 'open-streams', [...opening, [C2S, Buffer.concat(opened)]]);
    const { summary } = await read(file);
    assert.equal(summary.http.h2.streams, 10_000);
    assert.equal(summary.http.h2.streamsShed, 10_000 - 1024);
    assert.deepEqual(summary.notReplayed, { pipelineOverflow: 10_000 - 1024, incomplete: 1024 });
  });

  it('bodies beyond the memory budget\'s messages share: the largest connection sheds its messages in progress (memoryShed)', async () => {
    // 32 uploads of 64 KB interleaved in 8 KB DATA frames: 2 MB in progress at the peak.
    const frames: Buffer[] = [];
    for (let s = 0; s < 32; s++) frames.push(frame(HEADERS, END_HEADERS, 2 * s + 1, requestBlock('POST', `/up/${s}`)));
    for (let k = 0; k < 8; k++) {
      for (let s = 0; s < 32; s++) frames.push(frame(DATA, k === 7 ? END_STREAM : 0, 2 * s + 1, Buffer.alloc(8192, s)));
    }
    const answers = Array.from({ length: 32 }, (_, s) => ok(2 * s + 1));
    const file = capture(dir, 'memory', [...opening, [C2S, Buffer.concat(frames)], [S2C, Buffer.concat(answers)]]);
    const loose = await readInProcess(file);
    assert.equal(loose.exchanges.length, 32, 'without a budget every upload is whole');
    assert.equal(loose.messagesHeld, 0, 'nothing held once read');
    const tight = await readInProcess(file, { maxMessageBytes: 512 * 1024 });
    const shed = tight.losses.filter((l) => l.reason === 'memoryShed').length;
    assert.ok(shed > 0, 'some uploads given up');
    assert.equal(shed + tight.exchanges.length, 32, 'each upload either whole or shed');
    for (const ex of tight.exchanges) assert.equal(ex.request.bodySize, 65536);
    assert.equal(tight.stats.http.responsesToLostRequests, shed);
    assert.equal(tight.messagesHeld, 0);
  });

  it('a connection joined midway whose bytes are HTTP/2 frames is counted, not guessed at', async () => {
    const file = capture(dir, 'midstream', [
      [C2S, Buffer.concat([frame(HEADERS, END_HEADERS | END_STREAM, 41, Buffer.from([0x82, 0x86, 0xc0, 0xbf])), frame(8, 0, 0, [0, 0, 1, 0])])],
      [S2C, Buffer.concat([frame(HEADERS, END_HEADERS, 41, Buffer.from([0x88, 0xc1])), frame(DATA, END_STREAM, 41, Buffer.from('x'))])],
    ], true);
    const { summary, lines } = await read(file);
    assert.deepEqual(lines, []);
    assert.equal(summary.seen, 0);
    assert.equal(summary.http.h2.midstream, 1);
    assert.equal(summary.http.h2.connections, 0);
    assert.equal(summary.http.nonHttpConnections, 0);
  });
});
