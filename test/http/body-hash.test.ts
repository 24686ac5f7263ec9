// Body hashes (reqBodySha256/resBodySha256) are the hex SHA-256 of the body's bytes, whether
// computed or taken from the table of small bodies hashed lately: held to node's crypto over
// bodies that repeat, bodies that share the table's slot but differ in one byte, split
// bodies, and bodies on both sides of the table's size limit.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { BodyCollector, bodyHashes } from '../../src/http/body';
import type { HttpMessage } from '../../src/http/types';
import { randInt, rng } from '../support/packets';

function hashed(body: Buffer, pieces = 1, inPlace = false): string | null {
  const collector = new BodyCollector(false, true, 0);
  // The body as it may arrive: inside a larger buffer, in one piece or several; hashed where
  // it is (a whole body in one segment), or copied first (the segment's buffer is reused
  // after each data() call).
  const around = Buffer.concat([Buffer.from('xx'), body, Buffer.from('yy')]);
  const step = Math.max(1, Math.ceil(body.length / pieces));
  for (let at = 0; at < body.length; at += step) {
    collector.add(around, 2 + at, Math.min(step, body.length - at));
    if (!inPlace) collector.detach();
  }
  const message = { bodySha256: null } as unknown as HttpMessage;
  collector.fill(message);
  return message.bodySha256;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('body hash: repeated, look-alike and random bodies hash as crypto does', () => {
  const r = rng(21);
  const bodies: Buffer[] = [Buffer.from('{"ok":true}'), Buffer.from('x'), Buffer.alloc(256, 7), Buffer.alloc(257, 7), Buffer.alloc(70_000, 1)];
  // Same length, first, middle and last bytes (the table's slot) as the body just before,
  // different in one other byte: each byte's place in turn.
  for (let k = 1; k < 16; k++) {
    if (k === 8) continue; // the middle byte
    const b = Buffer.from('a-------m-------z');
    b[k] = 65 + k;
    bodies.push(Buffer.from('a-------m-------z'), b);
  }
  for (let k = 0; k < 2000; k++) {
    const b = Buffer.alloc(randInt(r, 1, 300));
    for (let j = 0; j < b.length; j++) b[j] = randInt(r, 0, 3) === 0 ? randInt(r, 0, 255) : 97;
    bodies.push(b);
  }
  const before = bodyHashes.remembered;
  for (let round = 0; round < 3; round++) {
    for (let k = 0; k < bodies.length; k++) {
      const body = bodies[round === 1 ? bodies.length - 1 - k : k];
      assert.equal(hashed(body, 1 + (k % 3), k % 2 === 0), sha256(body), `body ${k} of ${body.length} bytes, round ${round}`);
    }
  }
  assert.ok(bodyHashes.remembered - before > 100, `hashes taken from the table: ${bodyHashes.remembered - before}`);
});
