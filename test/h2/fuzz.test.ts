// Mutated HTTP/2 conversations through the http stage: bytes flipped, cut, inserted and the
// streams split at random places. Whatever the damage, the stage never throws, every request
// it reports ends in exactly one exchange by the connection's end, it reports nothing twice,
// its counters match what the sink saw, and nothing stays held against the memory budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpStage, type Exchange, type HttpRequest, type HttpSink } from '../../src/http';
import { ToClient, ToServer } from '../../src/tcp';
import { fakeConnection } from '../support/requests';
import { rng, randInt } from '../support/packets';
import {
  CONTINUATION, DATA, END_HEADERS, END_STREAM, HEADERS, PREFACE, RST_STREAM, frame, indexedLiteralBlock, requestBlock,
  responseBlock, settings,
} from './support';

/** A conversation with most frame kinds: table entries, CONTINUATION, bodies, trailers, a reset. */
function conversation(): [Buffer, Buffer] {
  const client: Buffer[] = [PREFACE, settings([[1, 8192]])];
  const server: Buffer[] = [settings([[5, 32768]])];
  for (let i = 0; i < 12; i++) {
    const id = 2 * i + 1;
    const block = Buffer.concat([requestBlock(i % 3 === 0 ? 'POST' : 'GET', `/f/${i}`), indexedLiteralBlock([[`x-k${i % 4}`, `v${i}`.repeat(20)]]), Buffer.from([0xbe])]);
    if (i % 4 === 1) {
      // END_STREAM is the HEADERS frame's flag; CONTINUATION only ends the block.
      client.push(frame(HEADERS, i % 3 === 0 ? 0 : END_STREAM, id, block.subarray(0, 10)), frame(CONTINUATION, END_HEADERS, id, block.subarray(10)));
    } else {
      client.push(frame(HEADERS, END_HEADERS | (i % 3 === 0 ? 0 : END_STREAM), id, block));
    }
    // Stream 13 (i = 6) is reset by the client in the middle of its body.
    if (i === 6) client.push(frame(DATA, 0, id, Buffer.alloc(300, i)), frame(RST_STREAM, 0, id, [0, 0, 0, 8]));
    else if (i % 3 === 0) client.push(frame(DATA, 0, id, Buffer.alloc(300, i)), frame(DATA, END_STREAM, id, Buffer.alloc(50, i)));
    server.push(frame(HEADERS, END_HEADERS, id, responseBlock(200, [['x-r', String(i)]])), frame(DATA, END_STREAM, id, Buffer.from(`answer ${i}`)));
  }
  return [Buffer.concat(client), Buffer.concat(server)];
}

function mutate(r: () => number, bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  const kind = randInt(r, 0, 3);
  if (kind === 0) {
    for (let k = randInt(r, 1, 6); k > 0; k--) out[randInt(r, 0, out.length - 1)] = randInt(r, 0, 255);
    return out;
  }
  if (kind === 1) return out.subarray(0, randInt(r, 0, out.length));
  if (kind === 2) {
    const at = randInt(r, 0, out.length);
    return Buffer.concat([out.subarray(0, at), Buffer.from(Array.from({ length: randInt(r, 1, 40) }, () => randInt(r, 0, 255))), out.subarray(at)]);
  }
  return out; // intact: only the segmentation varies
}

test('h2 fuzz: 600 damaged conversations, no throw, one outcome per request, nothing held', () => {
  const [client, server] = conversation();
  for (let seed = 1; seed <= 600; seed++) {
    const r = rng(seed);
    // One seed in ten leaves both directions intact: only their segmentation varies.
    const intact = seed % 10 === 0;
    const c = intact || seed % 3 === 0 ? client : mutate(r, client);
    const s = intact || seed % 3 === 1 ? server : mutate(r, server);
    const requests = new Set<HttpRequest>();
    const answered = new Set<HttpRequest>();
    let losses = 0;
    const sink: HttpSink = {
      request: (req) => {
        assert.ok(!requests.has(req), `seed ${seed}: a request reported twice`);
        requests.add(req);
      },
      exchange: (ex: Exchange) => {
        assert.ok(requests.has(ex.request), `seed ${seed}: an exchange whose request was never reported`);
        assert.ok(!answered.has(ex.request), `seed ${seed}: two exchanges for one request`);
        answered.add(ex.request);
      },
      lost: () => { losses++; },
      notice: () => { /* counted by the stats */ },
    };
    const stage = new HttpStage(sink, { keepRequestBodies: true, keepResponseBodies: true, hashBodies: true });
    const handler = stage.open(fakeConnection(seed));
    // The two directions in random slices, interleaved at random.
    let ci = 0;
    let si = 0;
    let ts = 1;
    while (ci < c.length || si < s.length) {
      // Intact: the client's bytes first (answers never come before their requests).
      const fromClient = si >= s.length || (ci < c.length && (intact || r() < 0.5));
      const n = randInt(r, 1, 200);
      if (fromClient) { handler.data(ToServer, c, ci, Math.min(c.length, ci + n), ts++); ci += n; }
      else { handler.data(ToClient, s, si, Math.min(s.length, si + n), ts++); si += n; }
    }
    handler.close('fin', ts);
    assert.equal(answered.size, requests.size, `seed ${seed}: every request reported ends in an exchange`);
    assert.equal(stage.stats.requests, requests.size, `seed ${seed}: stats.requests`);
    const lostCounted = Object.values(stage.stats.lost).reduce((a, b) => a + b, 0);
    assert.equal(lostCounted, losses, `seed ${seed}: stats.lost`);
    assert.equal(stage.messages.used, 0, `seed ${seed}: bytes still held`);
    if (intact) {
      assert.equal(requests.size, 11, `seed ${seed}: the intact conversation's requests`);
      assert.equal(losses, 1, `seed ${seed}: the reset one`);
      assert.equal(stage.stats.lost.reset, 1);
      assert.equal(stage.stats.responses, 11, `seed ${seed}: every answer but the reset stream's`);
    }
  }
});
