// The capture filter: production's ports (with and without VLAN tags), a raw expression, and
// the replay targets when shadowtap times its own replays. Judged by libpcap itself: each filter
// is compiled and run over a pcap holding a connection of each kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { captureFilters, openSource } from '../../src/capture';
import { decodePacket, TcpPacket } from '../../src/decode';
import { C2S, Conversation, LinkType, writePcap } from '../support/packets';

/** Server ports of the packets the filter lets through. */
async function passed(file: string, ports: number[], filter?: string, also?: Array<{ address: string; port: number }>): Promise<number[]> {
  const src = openSource({ file, ports, filter, alsoCapture: also, snaplen: 65535, promiscuous: false, bufferBytes: 0, timeoutMs: 10 });
  const seen: number[] = [];
  const pkt = new TcpPacket();
  await new Promise<void>((resolve, reject) => src.start((batch, count) => {
    let off = 0;
    for (let i = 0; i < count; i++) {
      const caplen = batch.readUInt32LE(off + 8);
      const start = off + 16;
      if (decodePacket(src.linkType, batch, start, caplen, caplen, pkt) === 'tcp') seen.push(pkt.dstPort);
      off = start + caplen;
    }
  }, (err) => (err ? reject(err) : resolve())));
  return seen;
}

test('capture filters: ports with and without VLAN tags, a raw expression, the replay targets', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-filter-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const frames = [];
  for (const [server, serverPort, vlans] of [['10.0.0.2', 80, []], ['10.0.0.2', 8080, [{ vid: 7 }]], ['10.0.0.9', 9000, []], ['10.0.0.2', 443, []]] as const) {
    const conv = new Conversation({ server, serverPort });
    frames.push(conv.frame(conv.send(C2S, 'GET / HTTP/1.1\r\n\r\n')[0], LinkType.ETHERNET, { vlans: [...vlans] }));
  }
  const file = path.join(dir, 'mix.pcap');
  writePcap(file, LinkType.ETHERNET, frames);

  assert.deepEqual(await passed(file, [80, 8080]), [80, 8080], 'port 8080 behind a VLAN tag too');
  assert.deepEqual(await passed(file, [80, 8080], 'dst port 80'), [80], 'a raw expression narrows the ports');
  assert.deepEqual(await passed(file, [80], undefined, [{ address: '10.0.0.9', port: 9000 }]), [80, 9000], 'the replay target, whatever the ports say');
  assert.deepEqual(await passed(file, [], 'tcp port 443'), [443]);

  const [best, plain] = captureFilters([80], undefined, [{ address: '::1', port: 9 }]);
  assert.match(best ?? '', /^\(tcp and host ::1 and port 9\) or \(.*vlan/, 'targets come first: "vlan" shifts later offsets');
  assert.equal(plain, '(tcp and host ::1 and port 9) or (tcp and (port 80))');
  assert.deepEqual(captureFilters([], undefined), [undefined]);
});
