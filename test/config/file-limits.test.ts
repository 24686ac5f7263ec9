// A configuration file is read only when it is a regular file of sane size: a FIFO would block
// and a 100 MB log would take seconds and gigabytes; both are refused at once, by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MAX_CONFIG_BYTES, readConfigFile } from '../../src/config/file';
import { runCli } from '../support/tools';

test('--config: a FIFO, a directory and an oversized file are refused without reading them', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-config-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  assert.throws(() => readConfigFile(fifo), /cannot read .*fifo: not a regular file/);
  assert.throws(() => readConfigFile(dir), /not a regular file/);
  const big = path.join(dir, 'big.yaml');
  fs.writeFileSync(big, `# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
  assert.throws(() => readConfigFile(big), /a configuration is at most/);
  const r = await runCli(['check-config', '--config', fifo], { timeoutMs: 20_000 });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /not a regular file/);
});

test('unwritable outputs fail at start with a configuration error, not at exit', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-config-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pcap = path.join(dir, 'empty.pcap');
  // A pcap header and no packets.
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0); header.writeUInt16LE(2, 4); header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16); header.writeUInt32LE(1, 20);
  fs.writeFileSync(pcap, header);
  for (const args of [
    ['read', '--file', pcap, '--summary-json', '/proc/shadowtap-nope/s.json'],
    ['run', '--file', pcap, '--shadow', 'http://127.0.0.1:9', '--summary-json', '/proc/shadowtap-nope/s.json', '--admin', 'off'],
    ['run', '--file', pcap, '--shadow', 'http://127.0.0.1:9', '--out', '/proc/shadowtap-nope', '--admin', 'off'],
  ]) {
    const r = await runCli(args, { timeoutMs: 20_000 });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^shadowtap: --(summary-json|out)/, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
