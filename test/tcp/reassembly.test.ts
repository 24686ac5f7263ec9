import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  CloseReason, ConnectionInfo, Direction, Reassembler, ReassemblyOptions, StreamFactory, StreamHandler, ToClient, ToServer,
} from '../../src/tcp';
import { TcpPacket } from '../../src/decode';
import { C2S, Conversation, S2C, Seg, TcpFlag, decodeFrame, ipPacket, LinkType, randInt, rng, shuffle, shuffleWindows } from '../support/packets';

// ---------------------------------------------------------------------------
// a StreamFactory that records everything

type Event =
  | { type: 'data'; dir: Direction; data: Buffer; tsUs: number }
  | { type: 'gap'; dir: Direction; bytes: number; tsUs: number }
  | { type: 'fin'; dir: Direction; tsUs: number }
  | { type: 'close'; reason: CloseReason; tsUs: number };

class Rec implements StreamHandler {
  events: Event[] = [];
  closed: CloseReason | null = null;
  constructor(readonly info: ConnectionInfo, readonly openedUs: number) {}
  data(dir: Direction, buf: Buffer, start: number, end: number, tsUs: number): void {
    assert.equal(this.closed, null, 'data after close');
    assert.ok(start < end, `empty data event ${start}..${end}`);
    assert.ok(start >= 0 && end <= buf.length, 'data range inside the buffer');
    this.events.push({ type: 'data', dir, data: Buffer.from(buf.subarray(start, end)), tsUs });
  }
  gap(dir: Direction, bytes: number, tsUs: number): void {
    assert.equal(this.closed, null, 'gap after close');
    assert.ok(bytes > 0, 'gap of no bytes');
    this.events.push({ type: 'gap', dir, bytes, tsUs });
  }
  fin(dir: Direction, tsUs: number): void {
    assert.equal(this.closed, null, 'fin after close');
    assert.ok(!this.events.some((e) => e.type === 'fin' && e.dir === dir), 'fin twice');
    this.events.push({ type: 'fin', dir, tsUs });
  }
  close(reason: CloseReason, tsUs: number): void {
    assert.equal(this.closed, null, 'closed twice');
    this.closed = reason;
    this.events.push({ type: 'close', reason, tsUs });
  }
  /** Concatenated data of one direction. */
  bytes(dir: Direction): Buffer {
    return Buffer.concat(this.events.flatMap((e) => (e.type === 'data' && e.dir === dir ? [e.data] : [])));
  }
  gaps(dir: Direction): number[] {
    return this.events.flatMap((e) => (e.type === 'gap' && e.dir === dir ? [e.bytes] : []));
  }
  /** One direction as a compact shape, e.g. ['d3000', 'g700', 'd6300', 'fin']. */
  shape(dir: Direction): string[] {
    const out: string[] = [];
    let run = 0;
    for (const e of this.events) {
      if (e.type === 'close' || ('dir' in e && e.dir !== dir)) continue;
      if (e.type === 'data') { run += e.data.length; continue; }
      if (run > 0) { out.push(`d${run}`); run = 0; }
      out.push(e.type === 'gap' ? `g${e.bytes}` : 'fin');
    }
    if (run > 0) out.push(`d${run}`);
    return out;
  }
  fins(): Direction[] {
    return this.events.flatMap((e) => (e.type === 'fin' ? [e.dir] : []));
  }
}

class Recorder implements StreamFactory {
  conns: Rec[] = [];
  open(info: ConnectionInfo, tsUs: number): StreamHandler {
    const r = new Rec(info, tsUs);
    this.conns.push(r);
    return r;
  }
}

function setup(options: Partial<ReassemblyOptions> = {}): { rec: Recorder; r: Reassembler } {
  const rec = new Recorder();
  return { rec, r: new Reassembler(rec, options) };
}

function feed(r: Reassembler, conv: Conversation, segs: Seg[]): void {
  for (const s of segs) r.push(conv.packet(s), s.tsUs);
}

function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

function randomSizes(rand: () => number, total: number, lo: number, hi: number): number[] {
  const sizes: number[] = [];
  for (let left = total; left > 0;) {
    const s = Math.min(left, randInt(rand, lo, hi));
    sizes.push(s);
    left -= s;
  }
  return sizes;
}

function assertDrained(r: Reassembler): void {
  assert.equal(r.stats.connectionsActive, 0, 'connectionsActive');
  assert.equal(r.stats.bufferedBytes, 0, 'bufferedBytes');
}

// ---------------------------------------------------------------------------

describe('tcp: ordered delivery', () => {
  it('in order: handshake, both directions, FIN/FIN, close fin', () => {
    const { rec, r } = setup();
    const conv = new Conversation({ client: '10.1.1.1', server: '10.2.2.2', clientPort: 51000, serverPort: 8080 });
    conv.handshake();
    const req = randomBytes(rng(1), 5000);
    const res = randomBytes(rng(2), 3000);
    conv.send(C2S, req, 1000);
    conv.send(S2C, res, 1448);
    conv.close(C2S);
    feed(r, conv, conv.segs);
    assert.equal(rec.conns.length, 1);
    const c = rec.conns[0];
    assert.deepEqual(c.info.client, { address: '10.1.1.1', port: 51000 });
    assert.deepEqual(c.info.server, { address: '10.2.2.2', port: 8080 });
    assert.equal(c.info.midstream, false);
    assert.equal(c.info.ipVersion, 4);
    assert.equal(c.openedUs, conv.segs[0].tsUs);
    assert.deepEqual(c.bytes(ToServer), req);
    assert.deepEqual(c.bytes(ToClient), res);
    assert.deepEqual(c.shape(ToServer), ['d5000', 'fin']);
    assert.deepEqual(c.shape(ToClient), ['d3000', 'fin']);
    assert.equal(c.closed, 'fin');
    // Data events carry the capture time of the segment that delivered them.
    const firstData = c.events.find((e) => e.type === 'data')!;
    assert.equal(firstData.tsUs, conv.segs[3].tsUs);
    assert.equal(r.stats.connectionsOpened, 1);
    assert.equal(r.stats.closed.fin, 1);
    assert.equal(r.stats.gaps, 0);
    assert.equal(r.stats.retransmittedBytes, 0);
    assertDrained(r);
  });

  it('IPv6 endpoints are formatted', () => {
    const { rec, r } = setup();
    const conv = new Conversation({ client: '2001:db8::1', server: '2001:db8:0:0:1::2', clientPort: 50000, serverPort: 443 });
    conv.handshake();
    conv.send(C2S, 'hello');
    feed(r, conv, conv.segs);
    assert.deepEqual(rec.conns[0].info.client, { address: '2001:db8::1', port: 50000 });
    assert.deepEqual(rec.conns[0].info.server, { address: '2001:db8::1:0:0:2', port: 443 });
    assert.equal(rec.conns[0].info.ipVersion, 6);
    assert.equal(rec.conns[0].bytes(ToServer).toString(), 'hello');
  });

  it('reordering within a window, 300 seeds, FIN included in the shuffle', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = rng(seed);
      const { rec, r } = setup();
      const conv = new Conversation({ clientIsn: Math.floor(rand() * 2 ** 32), serverIsn: Math.floor(rand() * 2 ** 32) });
      const hs = conv.handshake();
      const data = randomBytes(rand, randInt(rand, 1, 20000));
      const segs = [...conv.send(C2S, data, randomSizes(rand, data.length, 1, 1500)), conv.fin(C2S)];
      const order = shuffleWindows(rand, segs, randInt(rand, 2, 24));
      feed(r, conv, [...hs, ...order]);
      const c = rec.conns[0];
      assert.equal(rec.conns.length, 1, `seed ${seed}`);
      assert.deepEqual(c.bytes(ToServer), data, `seed ${seed}`);
      assert.deepEqual(c.gaps(ToServer), [], `seed ${seed}`);
      assert.deepEqual(c.fins(), [ToServer], `seed ${seed}`);
      assert.equal(r.stats.bufferedBytes, 0, `seed ${seed}: buffered after all arrived`);
      r.flush();
      assert.equal(c.closed, 'shutdown');
      assertDrained(r);
    }
  });

  it('full random permutations of small streams, 300 seeds', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = rng(1000 + seed);
      const { rec, r } = setup();
      const conv = new Conversation();
      const hs = conv.handshake();
      const data = randomBytes(rand, randInt(rand, 1, 600));
      const segs = conv.send(C2S, data, randomSizes(rand, data.length, 1, 40));
      feed(r, conv, [...hs, ...shuffle(rand, segs)]);
      assert.deepEqual(rec.conns[0].bytes(ToServer), data, `seed ${seed}`);
      assert.deepEqual(rec.conns[0].gaps(ToServer), []);
      assert.equal(r.stats.bufferedBytes, 0);
    }
  });

  it('duplicates and late retransmissions are dropped and counted', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const rand = rng(5000 + seed);
      const { rec, r } = setup();
      const conv = new Conversation();
      const hs = conv.handshake();
      const data = randomBytes(rand, randInt(rand, 100, 10000));
      const segs = conv.send(C2S, data, randomSizes(rand, data.length, 1, 1460));
      const withDups: Seg[] = [];
      let dupBytes = 0;
      for (const s of segs) {
        withDups.push(s);
        if (rand() < 0.3) { withDups.push({ ...s }); dupBytes += s.payload.length; }
      }
      // Retransmit a few random segments at the end (after everything was delivered).
      for (let k = 0; k < 3; k++) {
        const s = segs[Math.floor(rand() * segs.length)];
        withDups.push({ ...s, tsUs: conv.nowUs });
        dupBytes += s.payload.length;
      }
      const order = shuffleWindows(rand, withDups, 6);
      feed(r, conv, [...hs, ...order]);
      assert.deepEqual(rec.conns[0].bytes(ToServer), data, `seed ${seed}`);
      assert.deepEqual(rec.conns[0].gaps(ToServer), []);
      assert.equal(r.stats.retransmittedBytes, dupBytes, `seed ${seed}: retransmitted bytes`);
      assert.equal(r.stats.overlapConflicts, 0);
      assert.equal(r.stats.bufferedBytes, 0);
    }
  });

  it('consistent overlapping repacketisation delivers every byte once, no conflicts', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const rand = rng(9000 + seed);
      const { rec, r } = setup();
      const conv = new Conversation();
      const hs = conv.handshake();
      const data = randomBytes(rand, randInt(rand, 50, 5000));
      conv.send(C2S, data, data.length); // recorded once, we re-slice below
      const slices: Seg[] = [];
      // Random overlapping ranges that together cover everything.
      for (let from = 0; from < data.length;) {
        const len = randInt(rand, 1, 300);
        const to = Math.min(data.length, from + len);
        const back = Math.min(from, randInt(rand, 0, 100));
        slices.push(conv.slice(C2S, from - back, to));
        from = to;
      }
      for (let k = 0; k < 10; k++) {
        const a = randInt(rand, 0, data.length - 1);
        const b = randInt(rand, a + 1, data.length);
        slices.push(conv.slice(C2S, a, b));
      }
      feed(r, conv, [...hs, ...shuffle(rand, slices)]);
      assert.deepEqual(rec.conns[0].bytes(ToServer), data, `seed ${seed}`);
      assert.deepEqual(rec.conns[0].gaps(ToServer), []);
      assert.equal(r.stats.overlapConflicts, 0, `seed ${seed}`);
      assert.equal(r.stats.bufferedBytes, 0);
    }
  });
});

describe('tcp: conflicting overlaps — first wins', () => {
  function start(): { rec: Recorder; r: Reassembler; conv: Conversation } {
    const { rec, r } = setup();
    const conv = new Conversation();
    conv.handshake();
    conv.send(C2S, 'a'.repeat(300), 300);
    feed(r, conv, conv.segs.slice(0, 3));
    return { rec, r, conv };
  }

  it('bytes already delivered win over a contradicting retransmission (not comparable: no conflict counted)', () => {
    const { rec, r, conv } = start();
    feed(r, conv, [conv.slice(C2S, 0, 100)]);
    feed(r, conv, [conv.slice(C2S, 50, 150, 'B'.repeat(100))]);
    assert.equal(rec.conns[0].bytes(ToServer).toString(), 'a'.repeat(100) + 'B'.repeat(50));
    assert.equal(r.stats.overlapConflicts, 0);
    assert.equal(r.stats.retransmittedBytes, 50);
  });

  it('bytes buffered first win over a later out-of-order segment; the conflict is counted', () => {
    const { rec, r, conv } = start();
    feed(r, conv, [conv.slice(C2S, 100, 200, 'X'.repeat(100))]);
    feed(r, conv, [conv.slice(C2S, 150, 250, 'Y'.repeat(100))]);
    assert.equal(r.stats.overlapConflicts, 1);
    assert.equal(r.stats.bufferedBytes, 150);
    feed(r, conv, [conv.slice(C2S, 0, 100, 'o'.repeat(100))]);
    assert.equal(rec.conns[0].bytes(ToServer).toString(), 'o'.repeat(100) + 'X'.repeat(100) + 'Y'.repeat(50));
    assert.equal(r.stats.bufferedBytes, 0);
    assert.equal(r.stats.overlapConflicts, 1);
  });

  it('an in-order segment spanning buffered segments: the buffered bytes win, each conflict counted once', () => {
    const { rec, r, conv } = start();
    feed(r, conv, [conv.slice(C2S, 10, 20, 'b'.repeat(10))]);
    feed(r, conv, [conv.slice(C2S, 30, 40, 'c'.repeat(10))]);
    feed(r, conv, [conv.slice(C2S, 0, 50, 'z'.repeat(50))]);
    assert.equal(rec.conns[0].bytes(ToServer).toString(),
      'z'.repeat(10) + 'b'.repeat(10) + 'z'.repeat(10) + 'c'.repeat(10) + 'z'.repeat(10));
    assert.equal(r.stats.overlapConflicts, 2, 'one per contradicted buffered segment');
    assert.equal(r.stats.bufferedBytes, 0);
  });

  it('an in-order segment spanning adjacent buffered segments counts each once', () => {
    const { rec, r, conv } = start();
    feed(r, conv, [conv.slice(C2S, 10, 20, 'b'.repeat(10))]);
    feed(r, conv, [conv.slice(C2S, 20, 30, 'c'.repeat(10))]);
    feed(r, conv, [conv.slice(C2S, 0, 40, 'z'.repeat(40))]);
    assert.equal(rec.conns[0].bytes(ToServer).toString(), 'z'.repeat(10) + 'b'.repeat(10) + 'c'.repeat(10) + 'z'.repeat(10));
    assert.equal(r.stats.overlapConflicts, 2);
  });

  it('an agreeing overlap is not a conflict', () => {
    const { rec, r, conv } = start();
    feed(r, conv, [conv.slice(C2S, 10, 20, 'z'.repeat(10))]);
    feed(r, conv, [conv.slice(C2S, 0, 30, 'z'.repeat(30))]);
    assert.equal(rec.conns[0].bytes(ToServer).toString(), 'z'.repeat(30));
    assert.equal(r.stats.overlapConflicts, 0);
  });
});

describe('tcp: gaps', () => {
  it('a lost segment, proven by the peer ACK: exactly one gap of its size, then the rest', () => {
    const { rec, r } = setup();
    const conv = new Conversation();
    const hs = conv.handshake();
    const data = randomBytes(rng(7), 10000);
    const segs = conv.send(C2S, data, [1000, 1000, 1000, 700, 1000]);
    const lost = segs[3];
    assert.equal(lost.payload.length, 700);
    const ack = conv.ack(S2C);
    feed(r, conv, [...hs, ...segs.filter((s) => s !== lost)]);
    const c = rec.conns[0];
    assert.deepEqual(c.shape(ToServer), ['d3000'], 'waits for the hole');
    assert.equal(r.stats.bufferedBytes, 10000 - 3700);
    feed(r, conv, [ack]);
    assert.deepEqual(c.shape(ToServer), ['d3000', 'g700', 'd6300']);
    assert.deepEqual(c.bytes(ToServer), Buffer.concat([data.subarray(0, 3000), data.subarray(3700)]));
    assert.equal(r.stats.gaps, 1);
    assert.equal(r.stats.gapBytes, 700);
    assert.equal(r.stats.ackedUnseen, 1);
    assert.equal(r.stats.bufferedBytes, 0);
    // Later data still flows.
    conv.send(C2S, 'more');
    feed(r, conv, conv.segs.slice(-1));
    assert.deepEqual(c.shape(ToServer), ['d3000', 'g700', 'd6304']);
  });

  it('a lost segment with no ACK: the gap is declared at close, data after it delivered', () => {
    const { rec, r } = setup();
    const conv = new Conversation();
    const hs = conv.handshake();
    const segs = conv.send(C2S, 'x'.repeat(5000), 1000);
    feed(r, conv, [...hs, ...segs.filter((_, i) => i !== 2)]);
    assert.deepEqual(rec.conns[0].shape(ToServer), ['d2000']);
    r.flush();
    assert.deepEqual(rec.conns[0].shape(ToServer), ['d2000', 'g1000', 'd2000']);
    assert.equal(rec.conns[0].closed, 'shutdown');
    assert.equal(r.stats.ackedUnseen, 0);
    assertDrained(r);
  });

  it('a lost tail proven by ACK with nothing buffered: gap at once', () => {
    const { rec, r } = setup();
    const conv = new Conversation();
    const hs = conv.handshake();
    const segs = conv.send(S2C, 'y'.repeat(3000), 1000);
    const ack = conv.ack(C2S);
    feed(r, conv, [...hs, segs[0], segs[1], ack]);
    assert.deepEqual(rec.conns[0].shape(ToClient), ['d2000', 'g1000']);
    assert.equal(r.stats.ackedUnseen, 1);
    conv.send(S2C, 'next');
    feed(r, conv, conv.segs.slice(-1));
    assert.deepEqual(rec.conns[0].shape(ToClient), ['d2000', 'g1000', 'd4']);
  });

  it('one ACK covering two holes declares both at once', () => {
    const { rec, r } = setup();
    const conv = new Conversation();
    const hs = conv.handshake();
    const segs = conv.send(C2S, 'z'.repeat(5000), 1000);
    const ack = conv.ack(S2C);
    feed(r, conv, [...hs, segs[0], segs[2], segs[4], ack]);
    assert.deepEqual(rec.conns[0].shape(ToServer), ['d1000', 'g1000', 'd1000', 'g1000', 'd1000']);
    assert.equal(r.stats.gaps, 2);
    assert.equal(r.stats.gapBytes, 2000);
    assert.equal(r.stats.bufferedBytes, 0);
  });

  it('an ACK covering the FIN: the gap ends at the FIN, fin delivered', () => {
    const { rec, r } = setup();
    const conv = new Conversation();
    const hs = conv.handshake();
    const segs = conv.send(C2S, 'q'.repeat(2000), 1000);
    const fin = conv.fin(C2S);
    const ack = conv.ack(S2C);
    feed(r, conv, [...hs, segs[0], fin, ack]);
    assert.deepEqual(rec.conns[0].shape(ToServer), ['d1000', 'g1000', 'fin']);
  });

  it('snaplen-cut payload: the missing tail is a gap at once', () => {
    const { rec, r } = setup();
    const conv = new Conversation();
    const hs = conv.handshake();
    const segs = conv.send(C2S, 'a'.repeat(1500), [1000, 500]);
    const cut: Seg = { ...segs[0], payload: segs[0].payload.subarray(0, 100), missing: 900 };
    feed(r, conv, [...hs, cut, segs[1]]);
    assert.deepEqual(rec.conns[0].shape(ToServer), ['d100', 'g900', 'd500']);
  });

  it('an ACK far beyond anything plausible (outside maxWindow) is ignored', () => {
    const { rec, r } = setup({ maxWindow: 1 << 20 });
    const conv = new Conversation();
    const hs = conv.handshake();
    const segs = conv.send(C2S, 'a'.repeat(100));
    const bogus: Seg = { ...conv.ack(S2C), ack: (conv.seqAt(C2S, 0) + (3 << 20)) >>> 0 };
    feed(r, conv, [...hs, ...segs, bogus]);
    assert.deepEqual(rec.conns[0].shape(ToServer), ['d100']);
    assert.equal(r.stats.gaps, 0);
  });

  it('data far ahead of the window is dropped as out of window', () => {
    const { rec, r } = setup({ maxWindow: 1 << 20 });
    const conv = new Conversation();
    const hs = conv.handshake();
    feed(r, conv, [...hs, ...conv.send(C2S, 'abc')]);
    feed(r, conv, [{ ...conv.slice(C2S, 0, 3), seq: (conv.seqAt(C2S, 5 << 20)) >>> 0 }]);
    assert.equal(r.stats.outOfWindow, 1);
    assert.equal(r.stats.bufferedBytes, 0);
    assert.deepEqual(rec.conns[0].shape(ToServer), ['d3']);
  });
});

describe('tcp: sequence wraparound', () => {
  for (const isn of [0xffffffff, 0xfffffffe, 0xffffff00, 0xfffff000, 0x7fffffff]) {
    it(`ISN ${isn.toString(16)}: data crossing 0, reordered, lost and ACKed`, () => {
      for (let seed = 1; seed <= 20; seed++) {
        const rand = rng(seed * 31 + isn);
        const { rec, r } = setup();
        const conv = new Conversation({ clientIsn: isn, serverIsn: (isn - 2000) >>> 0 });
        const hs = conv.handshake();
        const req = randomBytes(rand, 8000);
        const res = randomBytes(rand, 8000);
        const a = conv.send(C2S, req, randomSizes(rand, req.length, 1, 1460));
        const b = conv.send(S2C, res, randomSizes(rand, res.length, 1, 1460));
        const close = conv.close(C2S);
        feed(r, conv, [...hs, ...shuffleWindows(rand, a, 8), ...shuffleWindows(rand, b, 8), ...close]);
        const c = rec.conns[0];
        assert.deepEqual(c.bytes(ToServer), req, `seed ${seed}`);
        assert.deepEqual(c.bytes(ToClient), res, `seed ${seed}`);
        assert.equal(c.closed, 'fin');
        assert.equal(r.stats.gaps, 0);
        assertDrained(r);
      }
      // With a lost segment right across the wrap, the ACK still proves it.
      const { rec, r } = setup();
      const conv = new Conversation({ clientIsn: isn });
      const hs = conv.handshake();
      const segs = conv.send(C2S, 'w'.repeat(3000), 1000);
      feed(r, conv, [...hs, segs[0], segs[2], conv.ack(S2C)]);
      assert.deepEqual(rec.conns[0].shape(ToServer), ['d1000', 'g1000', 'd1000']);
    });
  }
});

describe('tcp: lifecycle', () => {
  it('a reset far outside the window is ignored and counted; the stream goes on', () => {
    const { rec, r } = setup();
    const conv = new Conversation();
    const hs = conv.handshake();
    const first = conv.send(C2S, 'POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n' + 'a'.repeat(500), 600);
    const forged = { ...conv.rst(C2S), seq: (conv.seqAt(C2S, 0) + 0x40000000) >>> 0 };
    const rest = conv.send(C2S, 'a'.repeat(500), 600);
    feed(r, conv, [...hs, ...first, forged, ...rest]);
    const c = rec.conns[0];
    assert.equal(c.closed, null, 'still open');
    assert.equal(r.stats.outOfWindow, 1);
    assert.equal(r.stats.closed.rst, 0);
    assert.deepEqual(c.bytes(ToServer), conv.stream(C2S));
    assert.deepEqual(c.shape(ToServer), ['d1041']);
  });


  it('RST closes with reason rst; buffered data is delivered with a gap first', () => {
    const { rec, r } = setup();
    const conv = new Conversation();
    const hs = conv.handshake();
    const segs = conv.send(C2S, 'POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n' + 'b'.repeat(2000), 500);
    const rst = conv.rst(S2C);
    feed(r, conv, [...hs, segs[0], segs[2], rst]);
    const c = rec.conns[0];
    // The RST acknowledges everything the server got: the unseen tail is a gap too.
    assert.deepEqual(c.shape(ToServer), ['d500', 'g500', 'd500', 'g541']);
    assert.equal(c.closed, 'rst');
    assert.equal(c.events[c.events.length - 1].type, 'close');
    assert.equal(r.stats.closed.rst, 1);
    assertDrained(r);
    // Late packets of the reset connection are strays (no payload) or start a new mid-stream flow.
    feed(r, conv, [conv.ack(C2S)]);
    assert.equal(r.stats.strayPackets, 1);
    assert.equal(rec.conns.length, 1);

    // A bare RST (no ACK) proves nothing about the tail.
    const two = setup();
    const conv2 = new Conversation();
    const hs2 = conv2.handshake();
    const segs2 = conv2.send(C2S, 'x'.repeat(2000), 500);
    feed(two.r, conv2, [...hs2, segs2[0], segs2[2], { ...conv2.rst(C2S), flags: TcpFlag.RST }]);
    assert.deepEqual(two.rec.conns[0].shape(ToServer), ['d500', 'g500', 'd500']);
    assert.equal(two.rec.conns[0].closed, 'rst');
    assertDrained(two.r);
  });

  it('FIN from one side only: fin event, connection stays open until the other FIN', () => {
    const { rec, r } = setup();
    const conv = new Conversation();
    conv.handshake();
    conv.send(C2S, 'req');
    conv.fin(C2S);
    feed(r, conv, conv.segs);
    const c = rec.conns[0];
    assert.deepEqual(c.fins(), [ToServer]);
    assert.equal(c.closed, null);
    conv.send(S2C, 'response after half close');
    conv.fin(S2C);
    conv.ack(C2S);
    feed(r, conv, conv.segs.slice(-3));
    assert.deepEqual(c.fins(), [ToServer, ToClient]);
    assert.equal(c.bytes(ToClient).toString(), 'response after half close');
    assert.equal(c.closed, 'fin');
    assertDrained(r);
  });

  it('a FIN arriving before the data it follows waits for it', () => {
    const { rec, r } = setup();
    const conv = new Conversation();
    const hs = conv.handshake();
    const segs = conv.send(C2S, 'abcdef', 2);
    const fin = conv.fin(C2S);
    feed(r, conv, [...hs, fin, segs[2], segs[0], segs[1]]);
    assert.deepEqual(rec.conns[0].shape(ToServer), ['d6', 'fin']);
  });

  it('data after FIN is counted and not delivered', () => {
    const { rec, r } = setup();
    const conv = new Conversation();
    const hs = conv.handshake();
    const segs = conv.send(C2S, 'abc');
    const fin = conv.fin(C2S);
    const bogus: Seg = { ...segs[0], seq: fin.seq + 1, payload: Buffer.from('zzz') };
    feed(r, conv, [...hs, ...segs, fin, bogus]);
    assert.deepEqual(rec.conns[0].shape(ToServer), ['d3', 'fin']);
    assert.equal(r.stats.dataAfterFin, 1);
  });

  it('bare ACKs, RSTs and FINs of unknown flows are strays', () => {
    const { rec, r } = setup();
    const conv = new Conversation();
    conv.assumeEstablished();
    feed(r, conv, [conv.ack(C2S), conv.rst(S2C), conv.fin(C2S)]);
    assert.equal(rec.conns.length, 0);
    assert.equal(r.stats.strayPackets, 3);
    assertDrained(r);
  });

  it('mid-stream start: roles from serverPorts, then from port numbers, then from SYN-ACK', () => {
    const cases: Array<{ from: 'client' | 'server'; cport: number; sport: number; ports: number[] }> = [
      { from: 'client', cport: 40000, sport: 80, ports: [80] },
      { from: 'server', cport: 40000, sport: 80, ports: [80] },
      { from: 'client', cport: 5000, sport: 8080, ports: [8080] }, // client port lower than server's
      { from: 'server', cport: 5000, sport: 8080, ports: [8080] },
      { from: 'client', cport: 50000, sport: 3000, ports: [] }, // ephemeral heuristic
      { from: 'server', cport: 50000, sport: 3000, ports: [] },
    ];
    for (const k of cases) {
      const { rec, r } = setup({ serverPorts: new Set(k.ports) });
      const conv = new Conversation({ clientPort: k.cport, serverPort: k.sport });
      conv.assumeEstablished();
      const first = k.from === 'client' ? conv.send(C2S, 'tail of a body') : conv.send(S2C, 'tail of a response');
      const more = [...conv.send(C2S, 'GET / HTTP/1.1\r\n\r\n'), ...conv.send(S2C, 'HTTP/1.1 200 OK\r\n\r\n')];
      feed(r, conv, [...first, ...more]);
      const c = rec.conns[0];
      const what = JSON.stringify(k);
      assert.equal(c.info.midstream, true, what);
      assert.equal(c.info.client.port, k.cport, what);
      assert.equal(c.info.server.port, k.sport, what);
      assert.equal(c.bytes(ToServer).toString(), (k.from === 'client' ? 'tail of a body' : '') + 'GET / HTTP/1.1\r\n\r\n', what);
      assert.equal(r.stats.connectionsMidstream, 1);
    }
    // The SYN was lost, the SYN-ACK seen: its sender is the server.
    const { rec, r } = setup();
    const conv = new Conversation({ clientPort: 80, serverPort: 50000 }); // roles opposite to the port heuristic
    const [, synAck, ack] = conv.handshake();
    feed(r, conv, [synAck, ack, ...conv.send(C2S, 'hi')]);
    assert.equal(rec.conns[0].info.server.port, 50000);
    assert.equal(rec.conns[0].info.midstream, true);
    assert.equal(rec.conns[0].bytes(ToServer).toString(), 'hi');
  });

  it('idle expiry by capture time (push and tick), not by wall clock', () => {
    const { rec, r } = setup({ idleTimeoutMs: 30_000 });
    const t0 = 1_000_000_000_000;
    const a = new Conversation({ clientPort: 1111, startUs: t0 });
    a.handshake();
    a.send(C2S, 'x');
    feed(r, a, a.segs);
    const b = new Conversation({ clientPort: 2222, startUs: t0 + 29_000_000 });
    b.handshake();
    feed(r, b, b.segs);
    assert.equal(rec.conns[0].closed, null, 'not idle long enough');
    const late = new Conversation({ clientPort: 3333, startUs: t0 + 32_000_000 });
    late.handshake();
    feed(r, late, late.segs.slice(0, 1));
    assert.equal(rec.conns[0].closed, 'expired');
    assert.equal(rec.conns[1].closed, null);
    r.tick(t0 + 29_000_000 + 31_000_000);
    assert.equal(rec.conns[1].closed, 'expired');
    assert.equal(rec.conns[2].closed, null);
    r.tick(t0 + 100_000_000);
    assert.equal(r.stats.closed.expired, 3);
    assertDrained(r);
  });

  it('maxConnections: the oldest connection is evicted', () => {
    const { rec, r } = setup({ maxConnections: 3 });
    for (let i = 0; i < 5; i++) {
      const conv = new Conversation({ clientPort: 10000 + i, startUs: 1e15 + i * 1000 });
      conv.handshake();
      conv.send(C2S, `conn ${i}`);
      feed(r, conv, conv.segs);
    }
    assert.deepEqual(rec.conns.map((c) => c.closed), ['evicted', 'evicted', null, null, null]);
    assert.equal(r.stats.connectionsActive, 3);
    assert.equal(r.stats.closed.evicted, 2);
    r.flush();
    assertDrained(r);
  });

  it('port reuse: a new SYN on a closed or still-open 4-tuple starts a new connection; a retransmitted SYN does not', () => {
    const { rec, r } = setup();
    const first = new Conversation({ clientIsn: 100 });
    first.handshake();
    first.send(C2S, 'one');
    first.close(C2S);
    feed(r, first, first.segs);
    assert.equal(rec.conns[0].closed, 'fin');

    const second = new Conversation({ clientIsn: 900000, startUs: first.nowUs + 100 });
    const hs = second.handshake();
    feed(r, second, [hs[0], hs[0], ...hs.slice(1)]); // SYN retransmitted
    second.send(C2S, 'two');
    feed(r, second, second.segs.slice(-1));
    assert.equal(rec.conns.length, 2);
    assert.equal(rec.conns[1].info.midstream, false);
    assert.equal(rec.conns[1].bytes(ToServer).toString(), 'two');

    // The second never closes (its FINs were not captured); a third SYN reuses the tuple.
    const third = new Conversation({ clientIsn: 5, startUs: second.nowUs + 100 });
    third.handshake();
    third.send(C2S, 'three');
    feed(r, third, third.segs);
    assert.equal(rec.conns.length, 3);
    assert.equal(rec.conns[1].closed, 'reused');
    assert.equal(rec.conns[2].bytes(ToServer).toString(), 'three');
    assert.equal(r.stats.closed.reused, 1);
    r.flush();
    assertDrained(r);
  });
});

describe('tcp: memory caps', () => {
  it('per-direction cap forces the hole to a gap and delivers what follows', () => {
    const { rec, r } = setup({ maxBufferedPerDirection: 10_000 });
    const conv = new Conversation();
    const hs = conv.handshake();
    const data = randomBytes(rng(3), 30_000);
    const segs = conv.send(C2S, data, 1000);
    feed(r, conv, [...hs, ...segs.slice(1)]);
    const c = rec.conns[0];
    assert.ok(r.stats.bufferEvictions >= 1);
    assert.deepEqual(c.gaps(ToServer), [1000]);
    assert.deepEqual(c.bytes(ToServer), data.subarray(1000));
    assert.equal(r.stats.bufferedBytes, 0);
    assert.ok(r.stats.bufferedBytes <= 10_000);
    // The lost segment arriving late is a retransmission now.
    feed(r, conv, [segs[0]]);
    assert.deepEqual(c.bytes(ToServer), data.subarray(1000));
  });

  it('the cap is never exceeded while a hole stays open', () => {
    const { rec, r } = setup({ maxBufferedPerDirection: 5000 });
    const conv = new Conversation();
    const hs = conv.handshake();
    const segs = conv.send(C2S, 'k'.repeat(50_000), 700);
    feed(r, conv, hs);
    let peak = 0;
    // Every tenth segment lost.
    for (let i = 0; i < segs.length; i++) {
      if (i % 10 === 0) continue;
      feed(r, conv, [segs[i]]);
      peak = Math.max(peak, r.stats.bufferedBytes);
    }
    assert.ok(peak <= 5000, `peak ${peak}`);
    r.flush();
    const c = rec.conns[0];
    const gapTotal = c.gaps(ToServer).reduce((a, b) => a + b, 0);
    assert.equal(gapTotal + c.bytes(ToServer).length, 50_000);
    assert.equal(gapTotal, segs.filter((_, i) => i % 10 === 0).reduce((a, s) => a + s.payload.length, 0));
    assertDrained(r);
  });

  it('total cap: a stale hole elsewhere does not cost an innocent connection its data', () => {
    const { rec, r } = setup({ maxBufferedPerDirection: 1 << 20, maxBufferedTotal: 20_000 });
    // Connection A: a hole that will never be filled, 15 KB buffered behind it.
    const a = new Conversation({ clientPort: 1000 });
    const ahs = a.handshake();
    const asegs = a.send(C2S, 'A'.repeat(16_000), 1000);
    feed(r, a, [...ahs, ...asegs.slice(1)]);
    assert.equal(r.stats.bufferedBytes, 15_000);
    // Connection B: ordinary reordering that needs 6 KB of buffer for a moment.
    const b = new Conversation({ clientPort: 2000 });
    const bhs = b.handshake();
    const bdata = randomBytes(rng(11), 8000);
    const bsegs = b.send(C2S, bdata, 1000);
    feed(r, b, [...bhs, ...bsegs.slice(1, 7), bsegs[0], ...bsegs.slice(7)]);
    assert.ok(r.stats.bufferEvictions >= 1, 'the total cap was hit');
    assert.ok(r.stats.bufferedBytes <= 20_000);
    assert.deepEqual(rec.conns[1].bytes(ToServer), bdata, 'B intact');
    assert.deepEqual(rec.conns[1].gaps(ToServer), []);
    // A gave up its hole instead.
    assert.deepEqual(rec.conns[0].gaps(ToServer), [1000]);
    r.flush();
    assertDrained(r);
  });

  it('total cap over many connections keeps bufferedBytes within the cap and returns to 0', () => {
    const { rec, r } = setup({ maxBufferedPerDirection: 1 << 20, maxBufferedTotal: 50_000 });
    const convs: Conversation[] = [];
    for (let i = 0; i < 40; i++) {
      const conv = new Conversation({ clientPort: 20000 + i });
      const hs = conv.handshake();
      const segs = conv.send(C2S, Buffer.alloc(5000, i), 500);
      feed(r, conv, [...hs, ...segs.slice(1)]); // first segment lost
      assert.ok(r.stats.bufferedBytes <= 50_000);
      convs.push(conv);
    }
    r.flush();
    for (const c of rec.conns) {
      const gapTotal = c.gaps(ToServer).reduce((x, y) => x + y, 0);
      assert.equal(gapTotal, 500);
      assert.equal(c.bytes(ToServer).length, 4500);
    }
    assertDrained(r);
  });
});

describe('tcp: tiny segments', () => {
  it('a flood of one-byte segments behind a hole counts more than its bytes against the cap', () => {
    const { rec, r } = setup({ maxBufferedPerDirection: 1 << 20 });
    const conv = new Conversation();
    const hs = conv.handshake();
    const data = randomBytes(rng(5), 60_001);
    const segs = conv.send(C2S, data, 1);
    const started = Date.now();
    // The first byte lost; then the rest, in descending order (every insertion at the front).
    feed(r, conv, [...hs, ...segs.slice(1).reverse()]);
    const elapsed = Date.now() - started;
    assert.ok(r.stats.bufferEvictions >= 1, 'the cap was hit');
    assert.ok(elapsed < 5000, `took ${elapsed} ms`);
    r.flush();
    const c = rec.conns[0];
    const gapTotal = c.gaps(ToServer).reduce((a, b) => a + b, 0);
    assert.equal(gapTotal + c.bytes(ToServer).length, data.length);
    assertDrained(r);
  });
});

describe('tcp: scale', () => {
  it('5,000 interleaved connections, each request and response intact', () => {
    const rand = rng(77);
    const { rec, r } = setup();
    const n = 5000;
    type Flow = { conv: Conversation; segs: Seg[]; next: number; req: Buffer; res: Buffer };
    const flows: Flow[] = [];
    for (let i = 0; i < n; i++) {
      const conv = new Conversation({
        client: `10.${(i >> 8) & 255}.${i & 255}.${1 + (i % 7)}`, server: '10.255.0.1',
        clientPort: 1024 + ((i * 7919) % 60000), serverPort: 80 + (i % 3),
        clientIsn: Math.floor(rand() * 2 ** 32), serverIsn: Math.floor(rand() * 2 ** 32),
      });
      conv.handshake();
      const req = Buffer.from(`GET /item/${i} HTTP/1.1\r\nHost: x\r\nX-Pad: ${'p'.repeat(randInt(rand, 0, 3000))}\r\n\r\n`);
      const res = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n${String(i % 10000).padStart(4, '0')}`);
      conv.send(C2S, req, randInt(rand, 200, 1460));
      conv.send(S2C, res);
      conv.close(C2S);
      flows.push({ conv, segs: conv.segs, next: 0, req, res });
    }
    // Interleave: pick a random live flow each time, keeping each flow's own order.
    const live = flows.slice();
    let ts = 1_800_000_000_000_000;
    while (live.length > 0) {
      const k = Math.floor(rand() * live.length);
      const f = live[k];
      const s = f.segs[f.next++];
      r.push(f.conv.packet(s), ts++);
      if (f.next === f.segs.length) { live[k] = live[live.length - 1]; live.pop(); }
    }
    assert.equal(rec.conns.length, n);
    const byPort = new Map(flows.map((f) => [`${f.conv.client}:${f.conv.clientPort}:${f.conv.serverPort}`, f]));
    for (const c of rec.conns) {
      const f = byPort.get(`${c.info.client.address}:${c.info.client.port}:${c.info.server.port}`)!;
      assert.ok(f, 'known flow');
      assert.deepEqual(c.bytes(ToServer), f.req);
      assert.deepEqual(c.bytes(ToClient), f.res);
      assert.equal(c.closed, 'fin');
    }
    assert.equal(r.stats.gaps, 0);
    assertDrained(r);
  });

  it('flows whose hashes collide are kept apart', () => {
    // White-box: the same mixing as src/tcp's flowHash, to find two 4-tuples sharing a bucket.
    const mix = (h: number, v: number): number => { h = Math.imul(h ^ v, 0x9e3779b1); return (h ^ (h >>> 15)) >>> 0; };
    const hash = (cli: number, cport: number, srv: number, sport: number): number => {
      const a = mix(mix(0, cli), cport);
      const b = mix(mix(0, srv), sport);
      return a < b ? mix(a, b) : mix(b, a);
    };
    const srv = (10 << 24) | 9;
    const seen = new Map<number, number>();
    const rand = rng(4242);
    const clis: number[] = [];
    const cports: number[] = [];
    let pair: [number, number] | null = null;
    for (let i = 0; i < 1_000_000 && pair === null; i++) {
      clis.push(((10 << 24) | Math.floor(rand() * (1 << 24))) >>> 0);
      cports.push(randInt(rand, 1024, 65535));
      const h = hash(clis[i], cports[i], srv >>> 0, 80);
      const prev = seen.get(h);
      if (prev !== undefined && (clis[prev] !== clis[i] || cports[prev] !== cports[i])) pair = [prev, i];
      else seen.set(h, i);
    }
    assert.ok(pair, 'a collision exists');
    const ipOf = (i: number): string => `10.${(clis[i] >> 16) & 255}.${(clis[i] >> 8) & 255}.${clis[i] & 255}`;
    const portOf = (i: number): number => cports[i];
    const { rec, r } = setup();
    const convs = pair.map((i) => new Conversation({ client: ipOf(i), clientPort: portOf(i), server: '10.0.0.9', serverPort: 80 }));
    for (const c of convs) c.handshake();
    convs[0].send(C2S, 'first flow');
    convs[1].send(C2S, 'second flow');
    convs[0].close(C2S);
    convs[1].send(S2C, 'reply two');
    // Interleave all segments.
    const all = [...convs[0].segs.map((s) => [0, s] as const), ...convs[1].segs.map((s) => [1, s] as const)]
      .sort((x, y) => x[1].tsUs - y[1].tsUs || x[0] - y[0]);
    for (const [k, s] of all) r.push(convs[k].packet(s), s.tsUs);
    assert.equal(rec.conns.length, 2);
    const one = rec.conns.find((c) => c.info.client.port === portOf(pair![0]))!;
    const two = rec.conns.find((c) => c.info.client.port === portOf(pair![1]))!;
    assert.equal(one.bytes(ToServer).toString(), 'first flow');
    assert.equal(one.closed, 'fin');
    assert.equal(two.bytes(ToServer).toString(), 'second flow');
    assert.equal(two.bytes(ToClient).toString(), 'reply two');
    assert.equal(two.closed, null);
    convs[1].send(C2S, ' again');
    feed(r, convs[1], convs[1].segs.slice(-1));
    assert.equal(two.bytes(ToServer).toString(), 'second flow again');
    r.flush();
    assertDrained(r);
  });

  it('packets decoded from every link type drive the same connection', () => {
    const { rec, r } = setup();
    const conv = new Conversation();
    conv.handshake();
    conv.send(C2S, 'abcdefghij', 1);
    const links = [LinkType.ETHERNET, LinkType.LINUX_SLL, LinkType.LINUX_SLL2, LinkType.NULL, LinkType.LOOP, LinkType.RAW];
    conv.segs.forEach((s, i) => {
      const lt = links[i % links.length];
      const p: TcpPacket = decodeFrame(lt, conv.frame(s, lt).data);
      r.push(p, s.tsUs);
    });
    assert.equal(rec.conns[0].bytes(ToServer).toString(), 'abcdefghij');
    void ipPacket; void S2C;
  });
});

describe('tcp: endpoints that share a port number', () => {
  for (const [client, server] of [['10.0.0.1', '10.0.0.2'], ['2001:db8::1', '2001:db8::2']]) {
    it(`${client}:8080 ↔ ${server}:8080 is one connection, each direction told apart by address`, () => {
      const { rec, r } = setup();
      const conv = new Conversation({ client, server, clientPort: 8080, serverPort: 8080 });
      feed(r, conv, [...conv.handshake(), ...conv.send(C2S, 'request'), ...conv.send(S2C, 'response'), ...conv.close(C2S)]);
      assert.equal(rec.conns.length, 1);
      assert.equal(rec.conns[0].bytes(ToServer).toString(), 'request');
      assert.equal(rec.conns[0].bytes(ToClient).toString(), 'response');
      assert.equal(rec.conns[0].closed, 'fin');
      assertDrained(r);
    });
  }
});
