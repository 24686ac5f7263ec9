/**
 * Offline capture against real files: loopback HTTP traffic recorded by tcpdump (-i lo and -i any),
 * converted to pcapng by editcap, cross-checked with tcpdump, tshark and capinfos.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { after, before, describe, it } from 'node:test';
import { loadAddon } from '../../src/capture/native';
import { forEachRecord, openFile, RecordCursor, RECORD_HEADER_BYTES } from '../../src/capture';
import { LinkType } from '../../src/decode';
import { capinfosCount, delay, httpLoad, sh, startHttpServer, startTcpdump, tcpdumpCount, tmpDir, tsharkFrames } from './helpers';

const addon = loadAddon();
let dir: string;
let loPcap: string;
let anyPcap: string;
let loPcapng: string;

/** Reads a whole file with OfflineHandle.readInto into a buffer of `bufBytes`; returns the concatenated records. */
function readAll(file: string, filter?: string, bufBytes = 256 * 1024): { data: Buffer; count: number; batches: number; linkType: number } {
  const h = new addon.OfflineHandle(file, filter);
  const buf = Buffer.alloc(bufBytes);
  const parts: Buffer[] = [];
  let count = 0;
  let batches = 0;
  for (;;) {
    const n = h.readInto(buf);
    if (n === 0) break;
    assert.ok(n <= bufBytes);
    parts.push(Buffer.from(buf.subarray(0, n)));
    count += h.lastCount;
    batches++;
  }
  assert.equal(h.readInto(buf), 0, 'stays at EOF');
  const linkType = h.linkType;
  h.close();
  h.close(); // idempotent
  return { data: Buffer.concat(parts), count, batches, linkType };
}

function records(data: Buffer, count: number): Array<{ tsUs: number; caplen: number; wirelen: number; offset: number }> {
  const out: Array<{ tsUs: number; caplen: number; wirelen: number; offset: number }> = [];
  const c = new RecordCursor().reset(data, count);
  while (c.next()) out.push({ tsUs: c.tsUs, caplen: c.caplen, wirelen: c.wirelen, offset: c.offset });
  return out;
}

before(async () => {
  dir = tmpDir();
  loPcap = path.join(dir, 'lo.pcap');
  anyPcap = path.join(dir, 'any.pcap');
  loPcapng = path.join(dir, 'lo.pcapng');
  const server = await startHttpServer();
  const filter = `tcp port ${server.port}`;
  const tdLo = await startTcpdump(['-i', 'lo', '-n', '-w', loPcap, filter]);
  const tdAny = await startTcpdump(['-i', 'any', '-n', '-w', anyPcap, filter]);
  // Small requests plus a few large responses (64 KiB segments on lo).
  await httpLoad(server.port, 600, 4, (i) => (i % 50 === 0 ? `/big?n=${200_000 + i}` : `/r/${i}`));
  await server.close();
  await delay(1200); // let tcpdump's 1 s packet-buffer timeout retire the last block
  await tdLo.stop();
  await tdAny.stop();
  await sh('editcap', ['-F', 'pcapng', loPcap, loPcapng]);
});

after(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('OfflineHandle on tcpdump files', () => {
  it('reads every record of a pcap byte-for-byte (record format == pcap record layout)', async () => {
    const file = fs.readFileSync(loPcap);
    assert.equal(file.readUInt32LE(0), 0xa1b2c3d4, 'tcpdump wrote a little-endian microsecond pcap');
    const r = readAll(loPcap, undefined, 256 * 1024);
    assert.equal(r.linkType, LinkType.ETHERNET);
    const expected = await tcpdumpCount(loPcap);
    assert.ok(expected > 1000, `enough traffic recorded (${expected})`);
    assert.equal(r.count, expected);
    assert.equal(r.count, await capinfosCount(loPcap));
    assert.ok(r.batches > 1, 'several batches');
    assert.ok(r.data.equals(file.subarray(24)), 'batches concatenate to the file minus its 24-byte header');
  });

  it('matches tshark timestamps and lengths for every packet, and tcpdump -tt for the first ones', async () => {
    const r = readAll(loPcap);
    const recs = records(r.data, r.count);
    const frames = await tsharkFrames(loPcap);
    assert.equal(recs.length, frames.length);
    for (let i = 0; i < frames.length; i++) {
      assert.deepEqual({ tsUs: recs[i].tsUs, caplen: recs[i].caplen, wirelen: recs[i].wirelen }, frames[i], `packet ${i}`);
    }
    const { stdout } = await sh('tcpdump', ['-tt', '-n', '-c', '10', '-r', loPcap]);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 10);
    lines.forEach((l, i) => {
      const [sec, usec] = l.split(' ')[0].split('.');
      assert.equal(recs[i].tsUs, Number(sec) * 1e6 + Number(usec), l);
    });
    assert.ok(recs.some((x) => x.caplen > 60000), 'large loopback segments are present');
    // Data check: the Ethernet type of every frame is IPv4 or IPv6.
    for (const x of recs) {
      const et = r.data.readUInt16BE(x.offset + 12);
      assert.ok(et === 0x0800 || et === 0x86dd, `ethertype ${et.toString(16)}`);
    }
  });

  it('reads the -i any capture with the Linux cooked link type', async () => {
    const r = readAll(anyPcap);
    assert.ok(r.linkType === LinkType.LINUX_SLL || r.linkType === LinkType.LINUX_SLL2, `linkType ${r.linkType}`);
    assert.equal(r.count, await tcpdumpCount(anyPcap));
    assert.ok(r.data.equals(fs.readFileSync(anyPcap).subarray(24)));
  });

  it('reads pcapng (editcap conversion) into the same records as the pcap', async () => {
    assert.equal(fs.readFileSync(loPcapng).readUInt32LE(0), 0x0a0d0d0a, 'pcapng section header');
    const ng = readAll(loPcapng);
    const classic = readAll(loPcap);
    assert.equal(ng.linkType, LinkType.ETHERNET);
    assert.equal(ng.count, classic.count);
    assert.ok(ng.data.equals(classic.data));
  });

  it('applies a BPF filter like tcpdump does', async () => {
    const filter = 'tcp[tcpflags] & tcp-syn != 0';
    const r = readAll(loPcap, filter);
    const expected = await tcpdumpCount(loPcap, filter);
    assert.ok(expected >= 8, `SYNs: ${expected}`);
    assert.equal(r.count, expected);
    const tsh = await tsharkFrames(loPcap, 'tcp.flags.syn == 1');
    assert.deepEqual(
      records(r.data, r.count).map((x) => x.tsUs),
      tsh.map((x) => x.tsUs),
    );
    const bigOnly = readAll(loPcapng, 'greater 60000');
    assert.equal(bigOnly.count, await tcpdumpCount(loPcap, 'greater 60000'));
  });

  it('rejects a bad filter with pcap\'s message', () => {
    assert.throws(() => new addon.OfflineHandle(loPcap, 'tcp port banana'), /invalid capture filter "tcp port banana": .*banana/);
    assert.throws(() => new addon.OfflineHandle(loPcap, 'tcp and and'), /invalid capture filter/);
  });

  it('throws when the next record does not fit, and continues with a larger buffer', () => {
    const h = new addon.OfflineHandle(loPcap);
    const small = Buffer.alloc(2000);
    let total = 0;
    let n: number;
    // Read until a record larger than 2000 bytes comes up.
    for (;;) {
      try {
        n = h.readInto(small);
      } catch (e) {
        assert.ok(e instanceof RangeError, String(e));
        assert.match((e as Error).message, /cannot hold the next record/);
        break;
      }
      assert.ok(n > 0, 'a large record exists before EOF');
      total += h.lastCount;
    }
    const big = Buffer.alloc(1 << 20);
    while ((n = h.readInto(big)) > 0) total += h.lastCount;
    h.close();
    assert.equal(total, readAll(loPcap).count, 'the record that did not fit was kept, not lost');
    assert.throws(() => h.readInto(big), /closed/);
  });

  it('reads a 1 MiB batch per call and counts packets/bytes', () => {
    const h = new addon.OfflineHandle(loPcap);
    const buf = Buffer.alloc(1 << 20);
    let count = 0;
    let bytes = 0;
    let n: number;
    while ((n = h.readInto(buf)) > 0) {
      forEachRecord(buf.subarray(0, n), h.lastCount, (_ts, _b, _o, _c, wirelen) => {
        count++;
        bytes += wirelen;
      });
    }
    assert.deepEqual(h.stats(), { packets: count, bytes });
    h.close();
  });
});

describe('openFile (PacketSource)', () => {
  it('delivers every batch, then onEnd once, with stats', async () => {
    const expected = readAll(loPcap);
    const src = openFile(loPcap);
    assert.equal(src.live, false);
    assert.equal(src.linkType, 1);
    const parts: Buffer[] = [];
    let count = 0;
    let ends = 0;
    await new Promise<void>((resolve, reject) => {
      src.start(
        (batch, n) => {
          parts.push(Buffer.from(batch)); // copy: the batch buffer is reused
          count += n;
        },
        (err) => {
          ends++;
          if (err) reject(err);
          else setTimeout(resolve, 20);
        },
      );
    });
    assert.equal(ends, 1);
    assert.equal(count, expected.count);
    assert.ok(Buffer.concat(parts).equals(expected.data));
    const s = src.stats();
    assert.equal(s.packets, expected.count);
    assert.equal(s.kernelReceived + s.kernelDropped + s.queueDropped + s.ifDropped, 0);
    src.close(); // after end: no second onEnd
    await delay(10);
    assert.equal(ends, 1);
  });

  it('yields to the event loop between batches and honours pause/resume', async () => {
    const src = openFile(loPcapng);
    let batches = 0;
    let pausedAt = -1;
    let deliveredWhilePaused = 0;
    let timerRan = false;
    let paused = false;
    await new Promise<void>((resolve, reject) => {
      src.start(
        () => {
          if (paused) deliveredWhilePaused++;
          batches++;
          if (batches === 1) {
            setTimeout(() => (timerRan = true), 0);
            paused = true;
            pausedAt = Date.now();
            src.pause();
            setTimeout(() => {
              paused = false;
              src.resume();
              src.resume(); // double resume is harmless
            }, 60);
          }
        },
        (err) => (err ? reject(err) : resolve()),
      );
    });
    assert.ok(batches > 1);
    assert.equal(deliveredWhilePaused, 0);
    assert.ok(timerRan);
    assert.ok(Date.now() - pausedAt >= 55);
  });

  it('close() inside onBatch stops delivery and calls onEnd once', async () => {
    const src = openFile(loPcap);
    let batches = 0;
    let ends = 0;
    await new Promise<void>((resolve) => {
      src.start(
        () => {
          batches++;
          src.close();
          src.close();
        },
        (err) => {
          assert.equal(err, undefined);
          ends++;
          setTimeout(resolve, 30);
        },
      );
    });
    assert.equal(batches, 1);
    assert.equal(ends, 1);
  });
});
