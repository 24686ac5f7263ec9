// What shadowtap writes: directories made one level at a time (Node's recursive mkdir never
// returns under /proc), JSON written atomically with no temp file left on failure, and a path
// checked for writability before a run rather than at its end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ResultsJson } from '../../src/compare';
import { checkWritableFile, makeDirectory, writeJsonFile } from '../../src/report';
import { OutputDir } from '../../src/report/outdir';
import { Redactor } from '../../src/traffic/redact';
import { fakeAnswer, fakeRequest, fakeResponse } from '../support/requests';

test('makeDirectory: nested parents, existing directories, a file in the way, and /proc refused at once', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-files-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const deep = path.join(dir, 'a', 'b', 'c');
  makeDirectory(deep, 0o700);
  makeDirectory(deep, 0o700);
  assert.ok(fs.statSync(deep).isDirectory());
  assert.equal(fs.statSync(deep).mode & 0o777, 0o700 & ~process.umask());
  fs.writeFileSync(path.join(dir, 'f'), '');
  assert.throws(() => makeDirectory(path.join(dir, 'f', 'g'), 0o700), /ENOTDIR|not a directory/);
  const t0 = performance.now();
  assert.throws(() => makeDirectory('/proc/shadowtap-nope/x', 0o700), /ENOENT/);
  assert.ok(performance.now() - t0 < 5000, 'returns instead of looping');
});

test('writeJsonFile: a failed write leaves no temp file; checkWritableFile names what is wrong', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-files-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'taken'));
  // Renaming onto a directory fails after the temp file was written.
  assert.throws(() => writeJsonFile(path.join(dir, 'taken'), { a: 1 }));
  assert.deepEqual(fs.readdirSync(dir), ['taken']);
  writeJsonFile(path.join(dir, 'ok.json'), { a: 1 });
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'ok.json'), 'utf8')), { a: 1 });

  assert.doesNotThrow(() => checkWritableFile(path.join(dir, 'new.json')));
  assert.throws(() => checkWritableFile('/proc/shadowtap-nope/s.json'), /its directory \/proc\/shadowtap-nope does not exist/);
  assert.throws(() => checkWritableFile(path.join(dir, 'taken')), /exists and is not a regular file/);
  assert.throws(() => checkWritableFile(path.join(dir, 'ok.json', 'x')), /is not a directory/);
});

test('an output directory keeps earlier runs\' files (NAME.1 … NAME.5), and a failed sample write is reported once, then dropped', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-files-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (let run = 1; run <= 7; run++) {
    const out = new OutputDir(dir, new Redactor());
    out.writeResults({ run } as unknown as ResultsJson);
    out.close();
  }
  const names = fs.readdirSync(dir).sort();
  assert.deepEqual(names, ['results.json', ...[1, 2, 3, 4, 5].map((i) => `results.json.${i}`), 'samples.jsonl', ...[1, 2, 3, 4, 5].map((i) => `samples.jsonl.${i}`)]);
  const runOf = (name: string): number => (JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as { run: number }).run;
  assert.deepEqual([runOf('results.json'), runOf('results.json.1'), runOf('results.json.5')], [7, 6, 2]);

  const out = new OutputDir(dir, new Redactor());
  const errors: string[] = [];
  out.onSampleError = (err) => errors.push(err.message);
  (out as unknown as { samplesFd: number }).samplesFd = fs.openSync('/dev/full', 'w'); // a full disk
  const sample = { target: 'http://s:1', endpoint: 'GET /a', request: fakeRequest('/a'), production: fakeResponse('{}'),
    shadow: fakeAnswer('http://s:1', '{"a":1}'), diffs: [] };
  assert.equal(out.write(sample), false);
  assert.equal(out.hasRoom, false, 'no more samples after a failure');
  assert.equal(errors.length, 1);
  assert.match(errors[0], /ENOSPC/);
});
