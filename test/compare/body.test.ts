import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { bodyKind, bodyText, charsetOf, decodeBody, looksLikeText, mediaType } from '../../src/compare/body';

const json = Buffer.from(JSON.stringify({
  id: 'ord_8842', status: 'shipped', total: { amount: 129.9, currency: 'EUR' },
  items: [{ sku: 'BK-1042', qty: 2, price: 39.95 }, { sku: 'MG-0007', qty: 1, price: 50 }],
}));
const MB = 1 << 20;

describe('decodeBody', () => {
  it('passes identity, empty and absent codings through', () => {
    for (const ce of [null, '', 'identity', ' Identity ', 'identity, identity']) {
      const r = decodeBody(json, ce, MB);
      assert.equal(r.error, null, String(ce));
      assert.equal(r.body, json);
    }
  });

  it('gunzips gzip and x-gzip, case-insensitively', () => {
    const gz = zlib.gzipSync(json);
    for (const ce of ['gzip', 'x-gzip', 'GZIP']) assert.deepEqual(decodeBody(gz, ce, MB), { body: json, error: null });
  });

  it('inflates deflate both zlib-wrapped (RFC) and raw (what many servers send)', () => {
    assert.deepEqual(decodeBody(zlib.deflateSync(json), 'deflate', MB), { body: json, error: null });
    assert.deepEqual(decodeBody(zlib.deflateRawSync(json), 'deflate', MB), { body: json, error: null });
    // Every compression level, including a raw stream whose first bytes may look like a zlib header.
    for (let level = 0; level <= 9; level++) {
      assert.deepEqual(decodeBody(zlib.deflateRawSync(json, { level }), 'deflate', MB).body, json, `raw level ${level}`);
      assert.deepEqual(decodeBody(zlib.deflateSync(json, { level }), 'deflate', MB).body, json, `zlib level ${level}`);
    }
  });

  it('decompresses br', () => {
    assert.deepEqual(decodeBody(zlib.brotliCompressSync(json), 'br', MB), { body: json, error: null });
  });

  it('undoes a list of codings right to left', () => {
    const twice = zlib.brotliCompressSync(zlib.gzipSync(json)); // "Content-Encoding: gzip, br"
    assert.deepEqual(decodeBody(twice, 'gzip, br', MB), { body: json, error: null });
    assert.deepEqual(decodeBody(twice, 'gzip,identity ,br', MB), { body: json, error: null });
    // Wrong order fails cleanly.
    const wrong = decodeBody(twice, 'br, gzip', MB);
    assert.match(wrong.error!, /^gzip: /);
    assert.equal(wrong.body, twice);
  });

  it('reports corrupt and truncated streams instead of throwing, body untouched', () => {
    const bad = Buffer.from('this is not gzip at all');
    const r = decodeBody(bad, 'gzip', MB);
    assert.match(r.error!, /^gzip: /);
    assert.equal(r.body, bad);
    const gz = zlib.gzipSync(json);
    const cut = gz.subarray(0, gz.length - 10);
    const t = decodeBody(cut, 'gzip', MB);
    assert.match(t.error!, /gzip: .*(end|unexpected)/i);
    assert.equal(t.body, cut);
    assert.match(decodeBody(bad, 'br', MB).error!, /^br: /);
    assert.match(decodeBody(Buffer.from([0xff, 0xff, 0xff]), 'deflate', MB).error!, /^deflate: /);
  });

  it('reports an unknown coding with the body untouched', () => {
    const r = decodeBody(json, 'compress', MB);
    assert.equal(r.error, "unsupported content-encoding 'compress'");
    assert.equal(r.body, json);
    assert.match(decodeBody(json, 'gzip, snappy', MB).error!, /snappy/);
  });

  it('caps decompression bombs at maxBytes for every coding', () => {
    const bomb = Buffer.alloc(64 * MB); // 64 MiB of zeros: ~64 KiB gzip, ~100 bytes brotli
    const cases: Array<[string, Buffer]> = [
      ['gzip', zlib.gzipSync(bomb)], ['deflate', zlib.deflateSync(bomb)], ['deflate', zlib.deflateRawSync(bomb)], ['br', zlib.brotliCompressSync(bomb)],
    ];
    for (const [ce, packed] of cases) {
      assert.ok(packed.length < 200_000);
      const r = decodeBody(packed, ce, MB);
      assert.equal(r.error, `${ce}: decoded size exceeds ${MB} bytes`);
      assert.equal(r.body, packed);
    }
    // Exactly at the cap is fine; one byte over is not.
    const exact = zlib.gzipSync(Buffer.alloc(1000, 0x61));
    assert.equal(decodeBody(exact, 'gzip', 1000).body.length, 1000);
    assert.match(decodeBody(exact, 'gzip', 999).error!, /exceeds 999/);
  });

  it('keeps an empty body empty under a coding header (HEAD / 304)', () => {
    assert.deepEqual(decodeBody(Buffer.alloc(0), 'gzip', MB), { body: Buffer.alloc(0), error: null });
  });

  it('decodes concatenated gzip members', () => {
    const two = Buffer.concat([zlib.gzipSync('hello '), zlib.gzipSync('world')]);
    assert.equal(decodeBody(two, 'gzip', MB).body.toString(), 'hello world');
  });
});

describe('bodyKind', () => {
  it('JSON by media type, with parameters and +json suffixes', () => {
    for (const ct of ['application/json', 'application/json; charset=utf-8', 'Application/JSON', 'application/problem+json', 'application/vnd.api+json', 'text/json']) {
      assert.equal(bodyKind(ct, Buffer.from('not even json')), 'json', ct);
    }
  });

  it('JSON by content only when the type is missing', () => {
    assert.equal(bodyKind(null, json), 'json');
    assert.equal(bodyKind('', Buffer.from(' \n[1,2,3]')), 'json');
    assert.equal(bodyKind(null, Buffer.from('\ufeff{"a":1}')), 'json');
    assert.equal(bodyKind(null, Buffer.from('{"a":1')), 'text'); // does not parse
    assert.equal(bodyKind(null, Buffer.from('"just a string"')), 'text'); // must start with { or [
    assert.equal(bodyKind('text/plain', json), 'text'); // a declared type wins
  });

  it('text for textual types', () => {
    for (const ct of ['text/html; charset=utf-8', 'text/csv', 'application/xml', 'image/svg+xml', 'application/atom+xml', 'application/javascript',
      'application/x-javascript', 'application/x-www-form-urlencoded', 'application/x-ndjson', 'application/yaml']) {
      assert.equal(bodyKind(ct, Buffer.from([0, 1, 2, 0xff])), 'text', ct);
    }
  });

  it('binary for binary families whatever the bytes', () => {
    for (const ct of ['image/png', 'application/octet-stream', 'application/pdf', 'application/x-protobuf', 'application/grpc+proto', 'font/woff2']) {
      assert.equal(bodyKind(ct, Buffer.from('plain ascii')), 'binary', ct);
    }
  });

  it('sniffs unknown or missing types: UTF-8 without control bytes is text', () => {
    assert.equal(bodyKind(null, Buffer.from('Grüße, 世界 👋\r\n\ttab')), 'text');
    assert.equal(bodyKind('application/x-unknown', Buffer.from('key=value\n')), 'text');
    assert.equal(bodyKind(null, Buffer.alloc(0)), 'text');
    assert.equal(bodyKind(null, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'binary'); // PNG magic
    assert.equal(bodyKind(null, Buffer.from('abc\x00def')), 'binary');
    assert.equal(bodyKind(null, Buffer.from('abc\x7f')), 'binary');
    assert.equal(bodyKind(null, Buffer.from([0x61, 0xc3, 0x28])), 'binary'); // invalid UTF-8
    assert.equal(bodyKind(null, zlib.gzipSync(json)), 'binary');
  });
});

describe('body helpers', () => {
  it('mediaType / charsetOf', () => {
    assert.equal(mediaType(' Text/HTML ; charset=UTF-8'), 'text/html');
    assert.equal(mediaType(null), '');
    assert.equal(charsetOf('text/html; charset="ISO-8859-1"'), 'iso-8859-1');
    assert.equal(charsetOf('text/html'), null);
    assert.equal(charsetOf(null), null);
  });

  it('bodyText honours charset and drops a BOM', () => {
    assert.equal(bodyText(Buffer.from([0x63, 0x61, 0x66, 0xe9]), 'text/plain; charset=iso-8859-1'), 'café');
    assert.equal(bodyText(Buffer.from('\ufeffhi')), 'hi');
    assert.equal(bodyText(Buffer.from('hi'), 'text/plain; charset=no-such-charset'), 'hi');
  });

  it('looksLikeText', () => {
    assert.equal(looksLikeText(Buffer.from('a\tb\r\nc\f')), true);
    assert.equal(looksLikeText(Buffer.from('\x1b[31mred')), false);
  });
});
