// What shadowtap writes: directories made one level at a time (Node's recursive mkdir never
// returns under /proc), JSON written atomically with no temp file left on failure, and a path
// checked for writability before a run rather than at its end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkWritableFile, makeDirectory, writeJsonFile } from '../../src/report';

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
