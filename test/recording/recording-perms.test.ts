// Rotated parts are created afresh (O_EXCL after unlinking a stale PATH.n): never an inode
// someone else owns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Exchange, HttpRequest } from '../../src/http';
import { RecordingWriter } from '../../src/recording';

function exchange(i: number): Exchange {
  const request = {
    versionMajor: 1, versionMinor: 1, headers: ['Host', 'prod', 'Authorization', 'Bearer SECRET', 'x-pad', 'p'.repeat(200)], trailers: [],
    body: Buffer.alloc(0), bodySize: 0, bodyTruncated: false, bodySha256: null, chunked: false, startUs: i, endUs: i,
    conn: { id: 1, client: { address: '10.0.0.1', port: 1 }, server: { address: '10.0.0.2', port: 80 }, ipVersion: 4, midstream: false, openedUs: 0 },
    index: i, method: 'GET', url: `/i/${i}`,
  } as unknown as HttpRequest;
  return { request, response: null, responseMissing: 'closed' } as Exchange;
}

test('a rotated part is not owned by whoever pre-created PATH.n', (t) => {
  if (process.getuid?.() !== 0) { t.skip('needs root (chown)'); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-review-perm-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'rec');
  fs.writeFileSync(`${file}.1`, 'stale\n', { mode: 0o644 });
  fs.chownSync(`${file}.1`, 65534, 65534); // another user's file
  const w = new RecordingWriter({ path: file, redactor: null, maxFileBytes: 300, maxFiles: 10 });
  w.write(exchange(0));
  w.write(exchange(1)); // → rec.1
  w.close();
  const st = fs.statSync(`${file}.1`);
  assert.ok(fs.readFileSync(`${file}.1`, 'utf8').includes('Bearer SECRET'), 'the part was written');
  assert.equal(st.uid, process.getuid!(), `rec.1 holding the recorded requests is owned by uid ${st.uid}, who can read it`);
});
