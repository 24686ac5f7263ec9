// PrintOutput writes `read`'s lines without making a string per exchange; its bytes must be
// exactly exchangeLine()'s string written as UTF-8, whatever the strings and numbers hold.
// (test/http/fast-heads.test.ts holds the two to the same bytes over the capture corpus too.)
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { Exchange } from '../../src/model';
import { PrintOutput, exchangeLine } from '../../src/outputs';
import { fakeRequest, fakeResponse } from '../support/requests';
import { rng, randInt } from '../support/packets';

function printed(exchanges: Exchange[]): Buffer {
  const chunks: Buffer[] = [];
  const print = new PrintOutput({ write: (chunk: Buffer) => { chunks.push(Buffer.from(chunk)); return true; } } as unknown as NodeJS.WritableStream);
  for (const ex of exchanges) print.exchange(ex);
  print.flush();
  return Buffer.concat(chunks);
}

function assertSameBytes(exchanges: Exchange[]): void {
  const want = Buffer.from(exchanges.map(exchangeLine).join(''), 'utf8');
  const got = printed(exchanges);
  if (!got.equals(want)) {
    const a = got.toString('utf8').split('\n');
    const b = want.toString('utf8').split('\n');
    const k = a.findIndex((line, i) => line !== b[i]);
    assert.fail(`line ${k} differs:\n  got:  ${a[k]}\n  want: ${b[k]}`);
  }
}

const conn = (id: number, client = '192.0.2.1', server = '192.0.2.2') =>
  ({ id, client: { address: client, port: 40000 + id }, server: { address: server, port: 80 }, ipVersion: 4 as const, midstream: false, openedUs: 0 });

test('print: every character code, beyond latin1, surrogates, in url, method, host and hashes', () => {
  const strings: string[] = [];
  for (let c = 0; c < 256; c++) strings.push(`/c${String.fromCharCode(c)}x`);
  strings.push('', '"', '\\', '\u0100', '\u2028\u2029', '\ud83d\ude00', '\ud800', 'x\udc00y', '\u00e9\u00ff\u0080', 'a'.repeat(5000));
  const exchanges: Exchange[] = [];
  strings.forEach((s, i) => {
    const headers = i % 3 === 0 ? ['HOST', s] : i % 3 === 1 ? ['X', 'y', 'hOsT', s, 'Host', 'second'] : ['Hosts', 'no', 'Hos', 'no'];
    const request = fakeRequest(s, { method: i % 5 === 0 ? s : 'GET', headers, conn: conn(i % 7), index: i });
    request.bodySha256 = i % 2 === 0 ? null : s;
    const response = i % 4 === 0 ? null : fakeResponse('{}', { status: 200 + i });
    if (response !== null) response.bodySha256 = i % 3 === 0 ? null : 'ab'.repeat(32);
    exchanges.push({ request, response, responseMissing: response === null ? (i % 8 === 0 ? 'gap' : 'closed') : null });
  });
  assertSameBytes(exchanges);
});

test('print: numbers as String() writes them (negative, zero, fractions, beyond 2^53, NaN)', () => {
  const numbers = [0, -0, 1, 9, 10, 99, 100, -1, -10, 1.5, -2.25, 1e21, 1e-7, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1_700_000_000_123_456, NaN, Infinity, -Infinity];
  const exchanges: Exchange[] = numbers.map((n, i) => {
    const request = fakeRequest('/n', { conn: conn(100 + i), index: n, startUs: n });
    request.bodySize = n;
    request.endUs = -n;
    const response = fakeResponse('x', { status: n, endUs: n });
    response.bodySize = n;
    response.startUs = n * 3;
    return { request, response, responseMissing: null };
  });
  assertSameBytes(exchanges);
});

test('print: random strings and numbers, and a buffer that must grow', () => {
  const r = rng(5);
  const exchanges: Exchange[] = [];
  for (let i = 0; i < 3000; i++) {
    const len = randInt(r, 0, i === 2999 ? 3 << 20 : 60);
    let s = '';
    for (let k = 0; k < len; k++) s += String.fromCharCode(randInt(r, 0, 10) === 0 ? randInt(r, 0, 0xffff) : randInt(r, 0, 255));
    const request = fakeRequest(s, { conn: conn(i % 50, `2001:db8::${i % 50}`, '2001:db8::1'), index: randInt(r, 0, 1e6), startUs: randInt(r, 0, 2 ** 52) });
    request.headers = ['host', s.slice(0, 10)];
    exchanges.push({ request, response: fakeResponse('y', { status: randInt(r, 100, 599) }), responseMissing: null });
  }
  assertSameBytes(exchanges);
});

test('print: lines that repeat but for one field (the pieces kept from line to line)', () => {
  // Few values per field, drawn at random, so that a target, a hash, a status or a
  // timestamp's upper digits come back often, next to other methods, hosts, sizes and bodies.
  const r = rng(9);
  const pick = <T>(values: readonly T[]): T => values[randInt(r, 0, values.length - 1)];
  const empty = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  const hashes = [empty, 'ab'.repeat(32), 'cd'.repeat(32), 'x"y', null];
  const times = [0, 99_999_999, 100_000_000, 1_796_014_653_291_611, 1_796_014_699_999_999, 1_796_014_700_000_000, 2 ** 53 - 1, 2 ** 53, -5, 1.5];
  const exchanges: Exchange[] = [];
  for (let i = 0; i < 5000; i++) {
    const request = fakeRequest(pick(['/a', '/a', '/b?q="1"', '/\u00e9']), {
      method: pick(['GET', 'GET', 'POST', 'G"T']), headers: pick([['Host', 'h'], ['host', 'h2'], ['X', 'y'], ['Host', 'h\u0100']]),
      conn: conn(i % 5), index: i, startUs: pick(times),
    });
    request.bodySize = pick([0, 0, 3]);
    request.bodySha256 = pick(hashes);
    request.endUs = pick(times);
    const response = randInt(r, 0, 9) === 0 ? null : fakeResponse('{}', { status: pick([200, 200, 404, 1000, -1, 2.5]), endUs: pick(times) });
    if (response !== null) {
      response.bodySha256 = pick(hashes);
      response.bodySize = pick([25, 25, 0, 7]);
      response.startUs = pick(times);
    }
    exchanges.push({ request, response, responseMissing: response === null ? pick(['gap', 'closed'] as const) : null });
  }
  assertSameBytes(exchanges);
});
