/** Live batches are handed on in slices, one per event-loop turn, with what waits bounded. */
import { strict as assert } from 'assert';
import { describe, it } from 'node:test';
import { openLive, type CaptureStats } from '../../src/capture';
import { delay, isRoot, udpBurst, udpSink } from './helpers';

const SLICE = 512;

/** Busy for `ms` of wall time: a consumer slower than the traffic. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/** Waits until `delivered()` has not moved for `quietMs`, then closes the source and waits for onEnd. */
async function settle(src: ReturnType<typeof openLive>, ended: Promise<void>, delivered: () => number, quietMs = 300): Promise<CaptureStats> {
  let last = -1;
  while (delivered() !== last) {
    last = delivered();
    await delay(quietMs);
  }
  src.close();
  await ended;
  return src.stats();
}

describe('live capture slices', { skip: !isRoot && 'needs root' }, () => {
  it('a backlog is handed on in slices of at most 512 packets, with timers running between them', async () => {
    const sink = await udpSink();
    const N = 20_000;
    const src = openLive({ device: 'lo', filter: `udp port ${sink.port}`, snaplen: 256 });
    const counts: number[] = [];
    let ticks = 0;
    let ticksWhileDelivering = 0;
    let lastTickSeen = 0;
    const ticker = setInterval(() => ticks++, 1);
    const ended = new Promise<void>((r) => src.start((_batch, count) => {
      counts.push(count);
      if (ticks !== lastTickSeen && counts.length > 1) ticksWhileDelivering++;
      lastTickSeen = ticks;
      spin(1); // slower than the burst arrives: a backlog builds
    }, () => r()));
    try {
      await udpBurst(sink.port, N);
      const delivered = (): number => counts.reduce((a, b) => a + b, 0);
      const s = await settle(src, ended, delivered);
      assert.ok(counts.every((c) => c > 0 && c <= SLICE), `slice sizes ${Math.max(...counts)}`);
      assert.equal(delivered(), s.packets, JSON.stringify(s));
      assert.equal(s.queueDropped, 0, JSON.stringify(s));
      if (s.kernelDropped === 0) assert.equal(s.packets, N, JSON.stringify(s));
      // 20,000 packets at ≤ 512 per slice: at least 40 slices, each 1 ms of work, and the 1 ms
      // timer gets its turn between them (before, a whole 1 MiB batch went in one call).
      assert.ok(counts.length >= Math.ceil(s.packets / SLICE), `${counts.length} slices`);
      assert.ok(ticksWhileDelivering >= 10, `timer ran between ${ticksWhileDelivering} of ${counts.length} slices`);
    } finally {
      clearInterval(ticker);
      sink.close();
    }
  });

  it('beyond its bound, the capture thread holds: packets wait in the kernel\'s ring, none is dropped, and what waits stays bounded', async () => {
    const sink = await udpSink();
    const N = 20_000;
    // 64 KiB waiting on the JS side before it asks the capture thread to hold (half of
    // maxQueuedBytes), 64 KiB queued by that thread at most; batches of 16 KiB.
    const src = openLive({ device: 'lo', filter: `udp port ${sink.port}`, snaplen: 256, batchBytes: 16 * 1024, maxQueuedBytes: 128 * 1024 });
    const inside = src as unknown as { pendingBytes: number; handle: { stats(): { holds: number } } };
    let delivered = 0;
    let maxPending = 0;
    const ended = new Promise<void>((r) => src.start((_batch, count) => {
      delivered += count;
      maxPending = Math.max(maxPending, inside.pendingBytes);
      spin(3);
    }, () => r()));
    try {
      await udpBurst(sink.port, N);
      const s = await settle(src, ended, () => delivered);
      const holds = inside.handle.stats().holds;
      assert.ok(holds > 0, `held ${holds} times: ${JSON.stringify(s)}`);
      assert.equal(s.queueDropped, 0, JSON.stringify(s));
      // Its own 64 KiB and a batch over, and what the capture thread had queued and was filling.
      assert.ok(maxPending <= 160 * 1024, `${maxPending} bytes waited on the JS side`);
      assert.equal(delivered, s.packets, JSON.stringify(s));
      if (s.kernelDropped === 0) assert.equal(s.packets, N, JSON.stringify(s));
    } finally {
      sink.close();
    }
  });
});

describe('loopback direction', { skip: !isRoot && 'needs root' }, () => {
  it('on lo each packet is captured once, and the kernel skips the sent copies', async () => {
    const sink = await udpSink();
    const N = 2_000;
    const src = openLive({ device: 'lo', filter: `udp port ${sink.port}`, snaplen: 256 });
    let delivered = 0;
    const ended = new Promise<void>((r) => src.start((_batch, count) => (delivered += count), () => r()));
    try {
      await udpBurst(sink.port, N);
      const s = await settle(src, ended, () => delivered);
      if (s.kernelDropped === 0) assert.equal(s.packets, N, JSON.stringify(s));
      // Both copies would be counted by the kernel (and filtered and copied into the ring).
      assert.ok(s.kernelReceived < 1.5 * N, JSON.stringify(s));
    } finally {
      sink.close();
    }
  });
});
