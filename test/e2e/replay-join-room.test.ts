// A recording replayed with --out waits for the comparison: production's recorded answers wait
// for the shadow's in the comparison's joins, which are bounded; a file can wait, so reading
// pauses while the joins are near their bounds instead of giving the oldest up (joinOverflow).
// Large recorded answers, a small memory budget and a slow shadow on many connections would
// overflow them otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Exchange } from '../../src/http';
import { RecordingWriter } from '../../src/recording';
import { fakeConnection, fakeRequest, fakeResponse } from '../support/requests';
import { runCli } from '../support/tools';

test('replay --out: a recording never overflows the comparison\'s joins — every exchange compared, none given up', { timeout: 120_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-joinroom-'));
  const shadow = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ok: true }));
    }, 30));
  });
  await new Promise<void>((r) => shadow.listen(0, '127.0.0.1', r));
  t.after(async () => {
    await new Promise((r) => shadow.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // 400 exchanges over 50 connections, each recorded answer 256 KB: 100 MB of answers against
  // join room of 6.4 MB (a quarter of the comparison's fifth of 128 MB).
  const file = path.join(dir, 'rec');
  const w = new RecordingWriter({ path: file, redactor: null, maxFileBytes: 1 << 30, maxFiles: 10, bodies: true });
  const big = JSON.stringify({ rows: 'r'.repeat(256 * 1024) });
  for (let i = 0; i < 400; i++) {
    const conn = fakeConnection(1 + (i % 50));
    const startUs = 1_700_000_000_000_000 + i * 1000;
    const ex: Exchange = { request: fakeRequest(`/rows/${i}`, { conn, index: Math.floor(i / 50), startUs }), response: fakeResponse(big, { endUs: startUs + 2000 }), responseMissing: null };
    w.write(ex);
  }
  w.close();

  const out = path.join(dir, 'out');
  const r = await runCli(['replay', file, '--shadow', `http://127.0.0.1:${(shadow.address() as { port: number }).port}`, '--out', out,
    '--speed', '0', '--max-memory-mb', '128', '--stats-interval', '0'], { timeoutMs: 90_000 });
  assert.equal(r.code, 0, r.stderr);
  const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
  assert.equal(results.accounting.seen, 400);
  assert.equal(results.accounting.replayed, 400);
  assert.equal(results.counters.joinOverflow, 0, 'no exchange gave up waiting for its other half');
  assert.equal(results.counters.exchanges, 400);
  const compared = results.endpoints.reduce((n: number, e: { shadows: Array<{ compared: number }> }) => n + e.shadows[0].compared, 0);
  assert.equal(compared, 400);
});
