import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { DecodeOutcome, LinkType, TcpFlag, TcpPacket, decodePacket, formatAddress } from '../../src/decode';
import {
  ETH_IPV4, Ipv6Ext, Ipv6Extension, addressBytes, ethernet, frameFor, ipPacket, ipv4, ipv6, loopback, rng,
  sll, sll2, tcpSegment, TcpSpec,
} from '../support/packets';

const OUTCOMES: ReadonlySet<DecodeOutcome> = new Set(['tcp', 'unsupportedLink', 'notIp', 'notTcp', 'fragment', 'truncated', 'malformed']);

const spec4: TcpSpec = {
  src: '192.168.1.10', dst: '192.168.1.20', sport: 51234, dport: 8080,
  seq: 0xfffffff0, ack: 0x01020304, flags: TcpFlag.ACK | TcpFlag.PSH, window: 29200, payload: 'GET / HTTP/1.1\r\n\r\n',
};
const spec6: TcpSpec = { ...spec4, src: '2001:db8::10', dst: '2001:db8:0:1::20' };

function decode(linkType: number, frame: Buffer, caplen = frame.length, wirelen = caplen, at = 0, tail = 7): { outcome: DecodeOutcome; p: TcpPacket } {
  // Decode at an offset inside a bigger buffer, as the batch does; tail 0 ends the buffer
  // exactly at the capture's end so that any read past it throws.
  const buf = Buffer.alloc(at + frame.length + tail, 0xa5);
  frame.copy(buf, at);
  const p = new TcpPacket();
  const outcome = decodePacket(linkType, buf, at, caplen, wirelen, p);
  return { outcome, p };
}

function assertTcp(linkType: number, frame: Buffer, spec: TcpSpec, what: string): TcpPacket {
  const { outcome, p } = decode(linkType, frame, frame.length, frame.length, 13);
  assert.equal(outcome, 'tcp', what);
  const len = p.addrLength;
  assert.equal(p.ipVersion, len === 4 ? 4 : 6, what);
  assert.deepEqual(p.buf.subarray(p.srcAddrOffset, p.srcAddrOffset + len), addressBytes(spec.src), `${what}: src`);
  assert.deepEqual(p.buf.subarray(p.dstAddrOffset, p.dstAddrOffset + len), addressBytes(spec.dst), `${what}: dst`);
  assert.equal(p.srcPort, spec.sport, what);
  assert.equal(p.dstPort, spec.dport, what);
  assert.equal(p.seq, spec.seq >>> 0, what);
  assert.equal(p.ack, (spec.ack ?? 0) >>> 0, what);
  assert.equal(p.flags, spec.flags, what);
  assert.equal(p.window, spec.window ?? 65535, what);
  const payload = Buffer.from((spec.payload as string | undefined) ?? '', 'latin1');
  assert.equal(p.payloadLength, payload.length, `${what}: payload length`);
  assert.equal(p.payloadMissing, 0, what);
  assert.deepEqual(p.buf.subarray(p.payloadOffset, p.payloadOffset + p.payloadLength), payload, `${what}: payload`);
  return p;
}

const LINKS: Array<[string, number]> = [
  ['ethernet', LinkType.ETHERNET],
  ['sll', LinkType.LINUX_SLL],
  ['sll2', LinkType.LINUX_SLL2],
  ['null', LinkType.NULL],
  ['loop', LinkType.LOOP],
  ['raw12', LinkType.RAW_DLT12],
  ['raw14', LinkType.RAW_DLT14],
  ['raw101', LinkType.RAW],
];

describe('decode: link types', () => {
  for (const [name, lt] of LINKS) {
    it(`${name} (${lt}) carries IPv4 and IPv6 TCP`, () => {
      assertTcp(lt, frameFor(lt, ipPacket(spec4)), spec4, `${name}/v4`);
      assertTcp(lt, frameFor(lt, ipPacket(spec6)), spec6, `${name}/v6`);
    });
  }

  it('LINKTYPE_IPV4 (228) and LINKTYPE_IPV6 (229)', () => {
    assertTcp(LinkType.IPV4, ipPacket(spec4), spec4, 'ipv4');
    assertTcp(LinkType.IPV6, ipPacket(spec6), spec6, 'ipv6');
  });

  it('NULL/LOOP use the version nibble whatever the family value says', () => {
    for (const family of [2, 10, 24, 28, 30, 0xdeadbeef]) {
      assertTcp(LinkType.NULL, loopback(ipPacket(spec6), 0, family), spec6, `null family ${family}`);
      assertTcp(LinkType.LOOP, loopback(ipPacket(spec4), 108, family), spec4, `loop family ${family}`);
    }
  });

  it('802.1Q, QinQ (0x88a8 then 0x8100) and 0x9100 tags on ethernet, sll and sll2', () => {
    const tagSets = [
      [{ vid: 10 }],
      [{ tpid: 0x88a8, vid: 100 }, { tpid: 0x8100, vid: 200 }],
      [{ tpid: 0x9100, vid: 1 }, { tpid: 0x9100, vid: 2 }, { tpid: 0x8100, vid: 3 }],
    ];
    for (const vlans of tagSets) {
      for (const [spec, v] of [[spec4, 'v4'], [spec6, 'v6']] as const) {
        assertTcp(LinkType.ETHERNET, ethernet(ipPacket(spec), { vlans }), spec, `eth ${vlans.length} tags ${v}`);
        assertTcp(LinkType.LINUX_SLL, sll(ipPacket(spec), { vlans }), spec, `sll ${vlans.length} tags ${v}`);
        assertTcp(LinkType.LINUX_SLL2, sll2(ipPacket(spec), { vlans }), spec, `sll2 ${vlans.length} tags ${v}`);
      }
    }
  });

  it('unknown link types, non-IP ethertypes and ethertype/version mismatches', () => {
    assert.equal(decode(105, ipPacket(spec4)).outcome, 'unsupportedLink');
    assert.equal(decode(9999, ipPacket(spec4)).outcome, 'unsupportedLink');
    assert.equal(decode(LinkType.ETHERNET, ethernet(Buffer.alloc(28, 1), { ethertype: 0x0806 })).outcome, 'notIp'); // ARP
    assert.equal(decode(LinkType.ETHERNET, ethernet(ipPacket(spec4), { vlans: [{ vid: 5 }], ethertype: 0x88cc })).outcome, 'notIp');
    assert.equal(decode(LinkType.ETHERNET, ethernet(ipPacket(spec6), { ethertype: ETH_IPV4 })).outcome, 'malformed');
    assert.equal(decode(LinkType.LINUX_SLL, sll(ipPacket(spec4), { protocol: 0x86dd })).outcome, 'malformed');
    assert.equal(decode(LinkType.LINUX_SLL2, sll2(ipPacket(spec4), { protocol: 0x0806 })).outcome, 'notIp');
    const raw = ipPacket(spec4);
    raw[0] = (5 << 4) | (raw[0] & 0x0f);
    assert.equal(decode(LinkType.RAW, raw).outcome, 'notIp');
  });
});

describe('decode: IPv4', () => {
  it('options move the TCP header', () => {
    for (const optLen of [4, 8, 12, 40]) {
      const options = Buffer.alloc(optLen, 1); // NOPs
      if (optLen >= 4) options[optLen - 1] = 0; // EOL
      const ip = ipPacket(spec4, { ipv4: { options } });
      assert.equal((ip[0] & 0x0f) * 4, 20 + optLen);
      assertTcp(LinkType.RAW, ip, spec4, `ip options ${optLen}`);
      assertTcp(LinkType.ETHERNET, ethernet(ip), spec4, `eth ip options ${optLen}`);
    }
  });

  it('TCP options move the payload', () => {
    const spec = { ...spec4, options: Buffer.from([2, 4, 5, 0xb4, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]) };
    const ip = ipv4(spec.src, spec.dst, 6, tcpSegment(spec));
    assertTcp(LinkType.RAW, ip, spec4, 'tcp options');
  });

  it('Ethernet padding is trimmed by the total length', () => {
    for (const payload of ['', 'x', 'abcdef']) {
      const spec = { ...spec4, payload };
      const frame = ethernet(ipPacket(spec));
      assert.equal(frame.length, 60, 'padded to the minimum');
      const p = assertTcp(LinkType.ETHERNET, frame, spec, `padding with ${payload.length} payload bytes`);
      assert.equal(p.payloadLength, payload.length);
    }
    // Trailing junk (e.g. an FCS) after a full-sized packet is ignored too.
    const spec = { ...spec4, payload: 'y'.repeat(100) };
    const frame = Buffer.concat([ethernet(ipPacket(spec)), Buffer.from([1, 2, 3, 4])]);
    assertTcp(LinkType.ETHERNET, frame, spec, 'fcs');
  });

  it('fragments are counted, DF alone is not a fragment', () => {
    assert.equal(decode(LinkType.RAW, ipPacket(spec4, { ipv4: { moreFragments: true } })).outcome, 'fragment');
    assert.equal(decode(LinkType.RAW, ipPacket(spec4, { ipv4: { fragmentOffset: 185 } })).outcome, 'fragment');
    assert.equal(decode(LinkType.RAW, ipPacket(spec4, { ipv4: { fragmentOffset: 1, moreFragments: true } })).outcome, 'fragment');
    // A later fragment carries no TCP header at all: still 'fragment', not garbage.
    assert.equal(decode(LinkType.RAW, ipv4('1.1.1.1', '2.2.2.2', 6, Buffer.from('body bytes'), { fragmentOffset: 3 })).outcome, 'fragment');
    assertTcp(LinkType.RAW, ipPacket(spec4, { ipv4: { dontFragment: true } }), spec4, 'DF');
  });

  it('non-TCP protocols and bad header lengths', () => {
    assert.equal(decode(LinkType.RAW, ipv4('1.1.1.1', '2.2.2.2', 17, Buffer.alloc(30))).outcome, 'notTcp');
    assert.equal(decode(LinkType.RAW, ipv4('1.1.1.1', '2.2.2.2', 1, Buffer.alloc(30))).outcome, 'notTcp');
    const ip = ipPacket(spec4);
    const badIhl = Buffer.from(ip);
    badIhl[0] = 0x44; // IHL 16 bytes < 20
    assert.equal(decode(LinkType.RAW, badIhl).outcome, 'malformed');
    const shortTotal = Buffer.from(ip);
    shortTotal.writeUInt16BE(19, 2);
    assert.equal(decode(LinkType.RAW, shortTotal).outcome, 'malformed');
    const tcpBeyondTotal = Buffer.from(ip);
    tcpBeyondTotal.writeUInt16BE(30, 2); // 10 bytes for a 20-byte TCP header
    assert.equal(decode(LinkType.RAW, tcpBeyondTotal).outcome, 'malformed');
    const badDataOffset = Buffer.from(ip);
    badDataOffset[20 + 12] = 0x40; // TCP header length 16
    assert.equal(decode(LinkType.RAW, badDataOffset).outcome, 'malformed');
  });

  it('snaplen cuts show as payloadMissing; TSO total length 0 uses the frame', () => {
    const spec = { ...spec4, payload: 'z'.repeat(1000) };
    const frame = ethernet(ipPacket(spec));
    const { outcome, p } = decode(LinkType.ETHERNET, frame, 200, frame.length);
    assert.equal(outcome, 'tcp');
    assert.equal(p.payloadLength, 200 - 14 - 40);
    assert.equal(p.payloadMissing, 1000 - p.payloadLength);

    const big = { ...spec4, payload: 'q'.repeat(70000) };
    const tso = ipv4(big.src, big.dst, 6, tcpSegment(big), { totalLength: 0 });
    const r = decode(LinkType.RAW, tso);
    assert.equal(r.outcome, 'tcp');
    assert.equal(r.p.payloadLength, 70000);
    assert.equal(r.p.payloadMissing, 0);
    const cut = decode(LinkType.RAW, tso, 1000, tso.length);
    assert.equal(cut.outcome, 'tcp');
    assert.equal(cut.p.payloadLength, 960);
    assert.equal(cut.p.payloadMissing, 70000 - 960);
  });
});

describe('decode: IPv6 extension headers', () => {
  const chains: Array<[string, Ipv6Extension[]]> = [
    ['hop-by-hop', [{ type: Ipv6Ext.HOP_BY_HOP }]],
    ['routing', [{ type: Ipv6Ext.ROUTING, body: Buffer.concat([Buffer.from([0, 0]), Buffer.alloc(4), addressBytes('2001:db8::99')]) }]],
    ['dest opts', [{ type: Ipv6Ext.DEST_OPTS, body: Buffer.alloc(14, 0) }]],
    ['hbh+routing+destopts', [{ type: Ipv6Ext.HOP_BY_HOP }, { type: Ipv6Ext.ROUTING, body: Buffer.alloc(6) }, { type: Ipv6Ext.DEST_OPTS }]],
    ['atomic fragment', [{ type: Ipv6Ext.FRAGMENT }]],
    ['hbh+atomic fragment+destopts', [{ type: Ipv6Ext.HOP_BY_HOP }, { type: Ipv6Ext.FRAGMENT }, { type: Ipv6Ext.DEST_OPTS }]],
    ['AH', [{ type: Ipv6Ext.AH, body: Buffer.alloc(22) }]],
    ['long dest opts', [{ type: Ipv6Ext.DEST_OPTS, body: Buffer.alloc(200) }]],
  ];
  for (const [name, exts] of chains) {
    it(`${name} → tcp`, () => {
      const ip = ipPacket(spec6, { ipv6Extensions: exts });
      assertTcp(LinkType.RAW, ip, spec6, name);
      assertTcp(LinkType.ETHERNET, ethernet(ip, { vlans: [{ vid: 7 }] }), spec6, `eth ${name}`);
    });
  }

  it('real fragments are counted as fragment', () => {
    for (const f of [{ moreFragments: true }, { fragmentOffset: 1 }, { fragmentOffset: 100, moreFragments: true }]) {
      const ip = ipPacket(spec6, { ipv6Extensions: [{ type: Ipv6Ext.HOP_BY_HOP }, { type: Ipv6Ext.FRAGMENT, ...f }] });
      assert.equal(decode(LinkType.RAW, ip).outcome, 'fragment', JSON.stringify(f));
    }
  });

  it('UDP, ESP, no-next-header → notTcp', () => {
    assert.equal(decode(LinkType.RAW, ipv6('::1', '::2', 17, Buffer.alloc(16))).outcome, 'notTcp');
    assert.equal(decode(LinkType.RAW, ipv6('::1', '::2', 50, Buffer.alloc(16))).outcome, 'notTcp');
    assert.equal(decode(LinkType.RAW, ipv6('::1', '::2', 59, Buffer.alloc(0))).outcome, 'notTcp');
    assert.equal(decode(LinkType.RAW, ipv6('::1', '::2', 17, Buffer.alloc(16), { extensions: [{ type: Ipv6Ext.DEST_OPTS }] })).outcome, 'notTcp');
  });

  it('an extension header running past the payload length is malformed or truncated', () => {
    const ip = ipPacket(spec6, { ipv6Extensions: [{ type: Ipv6Ext.DEST_OPTS }] });
    const bad = Buffer.from(ip);
    bad[40 + 1] = 200; // (200+1)*8 bytes
    const outcome = decode(LinkType.RAW, bad).outcome;
    assert.ok(outcome === 'malformed' || outcome === 'truncated', outcome);
  });

  it('Ethernet padding is trimmed by the IPv6 payload length', () => {
    const spec = { ...spec6, payload: '' };
    const frame = Buffer.concat([ethernet(ipPacket(spec)), Buffer.alloc(10, 0xee)]);
    assertTcp(LinkType.ETHERNET, frame, spec, 'v6 padding');
  });
});

describe('decode: hostile input never throws', () => {
  const allLinks = [...LINKS.map(([, lt]) => lt), LinkType.IPV4, LinkType.IPV6, 105];
  const samples: Buffer[] = [
    ipPacket(spec4),
    ipPacket(spec6),
    ipPacket(spec4, { ipv4: { options: Buffer.alloc(12, 1) } }),
    ipPacket(spec6, { ipv6Extensions: [{ type: Ipv6Ext.HOP_BY_HOP }, { type: Ipv6Ext.ROUTING }, { type: Ipv6Ext.FRAGMENT }, { type: Ipv6Ext.AH }, { type: Ipv6Ext.DEST_OPTS }] }),
  ];

  it('every prefix of valid frames, with and without a snaplen wirelen', () => {
    let n = 0;
    for (const lt of allLinks) {
      for (const ip of samples) {
        const frame = lt === 105 ? ip : frameFor(lt, ip, { vlans: [{ tpid: 0x88a8, vid: 1 }, { vid: 2 }] });
        for (let len = 0; len <= frame.length; len++) {
          for (const wirelen of [len, frame.length, 0]) {
            const { outcome, p } = decode(lt, frame.subarray(0, len), len, wirelen, 3, wirelen === 0 ? 0 : 5);
            assert.ok(OUTCOMES.has(outcome), `${lt}/${len}: ${outcome}`);
            if (outcome === 'tcp') {
              assert.ok(p.payloadLength >= 0 && p.payloadMissing >= 0, `${lt}/${len}: lengths`);
              assert.ok(p.payloadOffset + p.payloadLength <= 3 + len, `${lt}/${len}: payload inside the capture`);
            }
            n++;
          }
        }
      }
    }
    assert.ok(n > 1000);
  });

  it('random garbage of every length from 0 to 300, and bit-flipped frames', () => {
    const r = rng(42);
    for (const lt of allLinks) {
      for (let len = 0; len <= 300; len++) {
        const junk = Buffer.alloc(len);
        for (let i = 0; i < len; i++) junk[i] = Math.floor(r() * 256);
        // Bias some toward plausible headers so deeper code runs.
        if (len > 0 && r() < 0.5) junk[lt === LinkType.ETHERNET ? Math.min(len - 1, 14) : 0] = r() < 0.5 ? 0x45 : 0x60;
        const { outcome, p } = decode(lt, junk, len, len + Math.floor(r() * 3000), 1, 0);
        assert.ok(OUTCOMES.has(outcome));
        if (outcome === 'tcp') assert.ok(p.payloadOffset + p.payloadLength <= 1 + len);
      }
      for (const ip of samples) {
        const frame = frameFor(lt === 105 ? LinkType.RAW : lt, ip);
        for (let k = 0; k < 300; k++) {
          const mutated = Buffer.from(frame);
          const flips = 1 + Math.floor(r() * 4);
          for (let f = 0; f < flips; f++) mutated[Math.floor(r() * mutated.length)] ^= 1 << Math.floor(r() * 8);
          const cut = Math.floor(r() * (mutated.length + 1));
          const { outcome, p } = decode(lt, mutated.subarray(0, cut), cut, mutated.length, 0, 0);
          assert.ok(OUTCOMES.has(outcome));
          if (outcome === 'tcp') assert.ok(p.payloadOffset + p.payloadLength <= cut);
        }
      }
    }
  });
});

describe('formatAddress', () => {
  const v6 = (text: string): string => formatAddress(addressBytes(text), 0, 16);
  it('IPv4', () => {
    assert.equal(formatAddress(Buffer.from([0, 10, 0, 0, 1, 255]), 1, 4), '10.0.0.1');
  });
  it('IPv6 per RFC 5952', () => {
    assert.equal(v6('0:0:0:0:0:0:0:0'), '::');
    assert.equal(v6('0:0:0:0:0:0:0:1'), '::1');
    assert.equal(v6('1:0:0:0:0:0:0:0'), '1::');
    assert.equal(v6('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
    assert.equal(v6('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1', 'a single zero group is not compressed');
    assert.equal(v6('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1', 'the longest run');
    assert.equal(v6('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1', 'the first of equal runs');
    assert.equal(v6('FE80:0:0:0:ABCD:EF01:2:3'), 'fe80::abcd:ef01:2:3', 'lower case, no leading zeros');
    assert.equal(v6('2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff'), '2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff');
    assert.equal(v6('0:1:0:1:0:1:0:1'), '0:1:0:1:0:1:0:1');
    assert.equal(v6('1:0:0:2:0:0:0:0'), '1:0:0:2::');
    const buf = Buffer.concat([Buffer.alloc(5, 0xff), addressBytes('2001:db8::1')]);
    assert.equal(formatAddress(buf, 5, 16), '2001:db8::1', 'at an offset');
    assert.equal(v6('::ffff:c000:0201'), '::ffff:192.0.2.1', 'IPv4-mapped keeps the dotted quad');
    assert.equal(v6('::fffe:c000:0201'), '::fffe:c000:201', 'only ::ffff: is mapped');
  });
});
