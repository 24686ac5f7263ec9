/** Truncated, garbage and fuzzed capture files: clear Errors, records before the damage delivered, no crash. */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, describe, it } from 'node:test';
import { loadAddon } from '../../src/capture/native';
import { openFile } from '../../src/capture';
import { delay, sh, startTcpdump, tmpDir, udpBurst, udpSink } from './helpers';

const addon = loadAddon();
let dir: string;
let pcap: string;
let pcapng: string;
let file: Buffer;
/** Offsets of each record header in `file`. */
const recordOffsets: number[] = [];

function readAll(p: string, bufBytes = 64 * 1024): { count: number; data: Buffer; error?: Error } {
  const h = new addon.OfflineHandle(p);
  const buf = Buffer.alloc(bufBytes);
  const parts: Buffer[] = [];
  let count = 0;
  try {
    for (;;) {
      const n = h.readInto(buf);
      if (n === 0) return { count, data: Buffer.concat(parts) };
      parts.push(Buffer.from(buf.subarray(0, n)));
      count += h.lastCount;
    }
  } catch (e) {
    // A read error is sticky: the next call throws the same error.
    assert.throws(() => h.readInto(buf), { message: (e as Error).message });
    return { count, data: Buffer.concat(parts), error: e as Error };
  } finally {
    h.close();
  }
}

function write(name: string, data: Buffer): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return p;
}

before(async () => {
  dir = tmpDir();
  pcap = path.join(dir, 'udp.pcap');
  pcapng = path.join(dir, 'udp.pcapng');
  const sink = await udpSink();
  const td = await startTcpdump(['-i', 'lo', '-n', '--immediate-mode', '-s', '2048', '-B', '16384', '-w', pcap, `udp port ${sink.port}`]);
  await udpBurst(sink.port, 200, 100, 50);
  await delay(300);
  await td.stop();
  sink.close();
  await sh('editcap', ['-F', 'pcapng', pcap, pcapng]);
  file = fs.readFileSync(pcap);
  for (let off = 24; off < file.length; off += 16 + file.readUInt32LE(off + 8)) recordOffsets.push(off);
  assert.equal(recordOffsets.length, 200);
});

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('damaged files', () => {
  it('a pcap cut in the middle of a packet: earlier records delivered, then a truncation Error', () => {
    const k = 150;
    const cut = recordOffsets[k] + 16 + 20; // inside packet k's data
    const r = readAll(write('cut-data.pcap', file.subarray(0, cut)));
    assert.equal(r.count, k);
    assert.ok(r.data.equals(file.subarray(24, recordOffsets[k])));
    assert.ok(r.error instanceof Error);
    assert.match(r.error.message, /cut-data\.pcap: truncated dump file; tried to read \d+ captured bytes, only got 20/);
  });

  it('a pcap cut in the middle of a record header', () => {
    const k = 77;
    const r = readAll(write('cut-hdr.pcap', file.subarray(0, recordOffsets[k] + 7)));
    assert.equal(r.count, k);
    assert.match(String(r.error), /truncated dump file; tried to read 16 header bytes, only got 7/);
  });

  it('a pcap cut exactly between records is just shorter', () => {
    const r = readAll(write('cut-clean.pcap', file.subarray(0, recordOffsets[10])));
    assert.equal(r.count, 10);
    assert.equal(r.error, undefined);
  });

  it('a truncated pcapng', () => {
    const ng = fs.readFileSync(pcapng);
    const r = readAll(write('cut.pcapng', ng.subarray(0, Math.floor(ng.length * 0.6))));
    assert.ok(r.count > 50 && r.count < 200, `count ${r.count}`);
    assert.ok(r.data.equals(file.subarray(24, recordOffsets[r.count])));
    assert.match(String(r.error), /truncated/);
  });

  it('garbage, empty, header-only, missing and directory paths', () => {
    assert.throws(() => new addon.OfflineHandle(write('garbage.pcap', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(10)))), /garbage\.pcap: unknown file format/);
    assert.throws(() => new addon.OfflineHandle(write('empty.pcap', Buffer.alloc(0))), /empty\.pcap: truncated dump file/);
    assert.throws(() => new addon.OfflineHandle(write('short.pcap', file.subarray(0, 10))), /truncated dump file/);
    const headerOnly = readAll(write('hdr.pcap', file.subarray(0, 24)));
    assert.deepEqual([headerOnly.count, headerOnly.error], [0, undefined]);
    assert.throws(() => new addon.OfflineHandle(path.join(dir, 'nope.pcap')), /nope\.pcap: No such file or directory/);
    assert.throws(() => new addon.OfflineHandle(dir), Error);
    assert.throws(() => new (addon.OfflineHandle as unknown as new (p: unknown) => unknown)(42), TypeError);
    const h = new addon.OfflineHandle(pcap);
    assert.throws(() => h.readInto('x' as unknown as Buffer), TypeError);
    assert.throws(() => h.readInto(new Uint16Array(100) as unknown as Buffer), TypeError);
    h.close();
  });

  it('fuzzed pcap and pcapng files never crash (Error or records only)', () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const ng = fs.readFileSync(pcapng);
    let errors = 0;
    for (let i = 0; i < 300; i++) {
      const base = Buffer.from(i % 2 ? file : ng);
      const flips = 1 + rnd(8);
      for (let f = 0; f < flips; f++) {
        // Bias towards headers, where the lengths are.
        const pos = rnd(4) === 0 ? rnd(64) : rnd(base.length);
        base[pos] = rnd(256);
      }
      const cut = rnd(3) === 0 ? base.subarray(0, rnd(base.length)) : base;
      const p = write(`fuzz-${i}`, cut);
      let h;
      try {
        h = new addon.OfflineHandle(p);
      } catch (e) {
        assert.ok(e instanceof Error && e.message.length > 0);
        errors++;
        continue;
      }
      const r = readAll(p, 300 * 1024);
      if (r.error) {
        assert.ok(r.error.message.length > 0);
        errors++;
      }
      h.close();
      fs.unlinkSync(p);
    }
    assert.ok(errors > 0);
  });
});

describe('openFile on a damaged file', () => {
  it('delivers the records before the cut, then onEnd(err)', async () => {
    const k = 120;
    const p = write('cut-src.pcap', file.subarray(0, recordOffsets[k] + 30));
    const src = openFile(p);
    let count = 0;
    const err = await new Promise<Error | undefined>((resolve) => src.start((_b, n) => (count += n), resolve));
    assert.equal(count, k);
    assert.ok(err instanceof Error);
    assert.match(err.message, /truncated dump file/);
    assert.equal(src.stats().packets, k);
  });

  it('throws synchronously for garbage', () => {
    assert.throws(() => openFile(write('garbage2.pcap', Buffer.alloc(100, 7))), /unknown file format/);
  });
});
