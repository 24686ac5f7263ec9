// The HPACK decoder against RFC 7541 Appendix C (C.2–C.6: literals, requests and responses,
// with and without Huffman, eviction in a 256-byte table), and its refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HpackDecoder, HpackError, MAX_HEADER_LIST } from '../../src/h2/hpack';
import { decodeHuffman } from '../../src/h2/huffman';

interface Vector { id: string; hex: string; size: number; fields: string[] }

const REQ1 = [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com'];
const REQ2 = [...REQ1, 'cache-control', 'no-cache'];
const REQ3 = [':method', 'GET', ':scheme', 'https', ':path', '/index.html', ':authority', 'www.example.com', 'custom-key', 'custom-value'];
const RES1 = [':status', '302', 'cache-control', 'private', 'date', 'Mon, 21 Oct 2013 20:13:21 GMT', 'location', 'https://www.example.com'];
const RES2 = [':status', '307', ...RES1.slice(2)];
const RES3 = [':status', '200', 'cache-control', 'private', 'date', 'Mon, 21 Oct 2013 20:13:22 GMT', 'location', 'https://www.example.com',
  'content-encoding', 'gzip', 'set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'];

/** Each series shares one decoder (a fresh one per C.2 example); `size` is the table's after the block. */
const SERIES: Array<{ name: string; tableSize: number; vectors: Vector[] }> = [
  { name: 'C.2.1', tableSize: 4096, vectors: [{ id: 'C.2.1', hex: '400a637573746f6d2d6b65790d637573746f6d2d686561646572', size: 55, fields: ['custom-key', 'custom-header'] }] },
  { name: 'C.2.2', tableSize: 4096, vectors: [{ id: 'C.2.2', hex: '040c2f73616d706c652f70617468', size: 0, fields: [':path', '/sample/path'] }] },
  { name: 'C.2.3', tableSize: 4096, vectors: [{ id: 'C.2.3', hex: '100870617373776f726406736563726574', size: 0, fields: ['password', 'secret'] }] },
  { name: 'C.2.4', tableSize: 4096, vectors: [{ id: 'C.2.4', hex: '82', size: 0, fields: [':method', 'GET'] }] },
  { name: 'C.3', tableSize: 4096, vectors: [
    { id: 'C.3.1', hex: '828684410f7777772e6578616d706c652e636f6d', size: 57, fields: REQ1 },
    { id: 'C.3.2', hex: '828684be58086e6f2d6361636865', size: 110, fields: REQ2 },
    { id: 'C.3.3', hex: '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565', size: 164, fields: REQ3 },
  ] },
  { name: 'C.4', tableSize: 4096, vectors: [
    { id: 'C.4.1', hex: '828684418cf1e3c2e5f23a6ba0ab90f4ff', size: 57, fields: REQ1 },
    { id: 'C.4.2', hex: '828684be5886a8eb10649cbf', size: 110, fields: REQ2 },
    { id: 'C.4.3', hex: '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf', size: 164, fields: REQ3 },
  ] },
  { name: 'C.5', tableSize: 256, vectors: [
    { id: 'C.5.1', hex: '4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d', size: 222, fields: RES1 },
    { id: 'C.5.2', hex: '4803333037c1c0bf', size: 222, fields: RES2 },
    { id: 'C.5.3', hex: '88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31', size: 215, fields: RES3 },
  ] },
  { name: 'C.6', tableSize: 256, vectors: [
    { id: 'C.6.1', hex: '488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3', size: 222, fields: RES1 },
    { id: 'C.6.2', hex: '4883640effc1c0bf', size: 222, fields: RES2 },
    { id: 'C.6.3', hex: '88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007', size: 215, fields: RES3 },
  ] },
];

/** A decoder whose table starts at `size` bytes (C.5/C.6 use 256): a size update block. */
function decoderOf(size: number): HpackDecoder {
  const d = new HpackDecoder();
  if (size !== 4096) d.decode(Buffer.from([0x3f, size - 31 - 128 * Math.floor((size - 31) / 128) + 128, Math.floor((size - 31) / 128)]), 0, 3);
  return d;
}

for (const series of SERIES) {
  test(`hpack: RFC 7541 ${series.name}`, () => {
    const d = decoderOf(series.tableSize);
    for (const v of series.vectors) {
      const block = Buffer.from(v.hex, 'hex');
      const out = d.decode(block, 0, block.length);
      assert.deepEqual(out.fields, v.fields, v.id);
      assert.equal(out.tooLarge, false);
      assert.equal(d.size, v.size, `${v.id}: dynamic table size`);
    }
  });
}

test('hpack: C.5.3 evicts the two oldest entries of the 256-byte table', () => {
  const d = decoderOf(256);
  for (const v of SERIES.find((s) => s.name === 'C.5')!.vectors) d.decode(Buffer.from(v.hex, 'hex'), 0, v.hex.length / 2);
  assert.equal(d.entries, 3);
  // 62 is set-cookie, 63 content-encoding, 64 the oldest left, date :22; 65 is gone.
  assert.deepEqual(d.decode(Buffer.from('bfc0', 'hex'), 0, 2).fields, ['content-encoding', 'gzip', 'date', 'Mon, 21 Oct 2013 20:13:22 GMT']);
  assert.throws(() => d.decode(Buffer.from('c1', 'hex'), 0, 1), HpackError);
});

test('hpack: Huffman strings with bad padding or EOS are refused', () => {
  // "www.example.com" (C.4.1) decodes; padding of eight 1s (more than seven bits) does not.
  const good = Buffer.from('f1e3c2e5f23a6ba0ab90f4ff', 'hex');
  assert.equal(decodeHuffman(good, 0, good.length), 'www.example.com');
  const long = Buffer.from([0xff]);
  assert.equal(decodeHuffman(long, 0, long.length), null);
  // Padding of zeros is not a prefix of EOS.
  // ("a" is 00011: 00011111 is "a" padded with 1s, 00011000 padded with 0s.)
  assert.equal(decodeHuffman(Buffer.from([0x1f]), 0, 1), 'a');
  assert.equal(decodeHuffman(Buffer.from([0x18]), 0, 1), null);
  // Thirty 1s are EOS itself.
  const eos = Buffer.from([0xff, 0xff, 0xff, 0xfc]);
  assert.equal(decodeHuffman(eos, 0, eos.length), null);
});

test('hpack: refusals are HpackErrors, never crashes', () => {
  const bad: Array<[string, string]> = [
    ['80', 'index 0'],
    ['be', 'dynamic index with an empty table'],
    ['3fe13f', 'size update to 8192 beyond the default 4096'],
    ['8220', 'size update after a field'],
    ['ff8080808080', 'integer that never ends'],
    ['400a6375', 'name longer than the block'],
    ['00', 'literal cut short'],
  ];
  for (const [hex, why] of bad) {
    const d = new HpackDecoder();
    const block = Buffer.from(hex, 'hex');
    assert.throws(() => d.decode(block, 0, block.length), HpackError, why);
  }
  // Allowed once the peer advertised a larger table.
  const d = new HpackDecoder();
  d.allow(16384);
  const update = Buffer.from('3fe13f', 'hex');
  assert.deepEqual(d.decode(update, 0, update.length).fields, []);
});

test('hpack: a header-list bomb is decoded to its end but not kept', () => {
  const d = new HpackDecoder();
  // One 4,000-byte literal indexed once, then referenced 2,000 times: 8 MB of header list
  // from a 6 KB block.
  const value = 'x'.repeat(4000);
  const literal = Buffer.concat([Buffer.from([0x40, 0x01, 0x62, 0x7f, 4000 - 127 - 128 * Math.floor((4000 - 127) / 128) + 128, Math.floor((4000 - 127) / 128)]), Buffer.from(value)]);
  const block = Buffer.concat([literal, Buffer.alloc(2000, 0xbe)]);
  const out = d.decode(block, 0, block.length);
  assert.equal(out.tooLarge, true);
  assert.deepEqual(out.fields, []);
  assert.ok(4000 * 2000 > MAX_HEADER_LIST);
  // The table is still in step: the entry is there for the next block.
  assert.deepEqual(d.decode(Buffer.from('be', 'hex'), 0, 1).fields, ['b', value]);
});
