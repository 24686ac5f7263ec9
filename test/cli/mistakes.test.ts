// Thirty-odd mistakes a new user makes, each driven through the real command line: one short
// message on stderr naming what is wrong, the documented exit status (2 usage/configuration,
// 3 environment, 1 runtime), no stack trace, and an answer within 5 s (none of them may wait
// on a capture, a shadow or a resolver).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cliPath, freePort, hasRoot, haveTool, repoRoot, runCli, runTool } from '../support/tools';

interface Mistake {
  what: string;
  args: string[];
  status: 1 | 2 | 3;
  /** What the one line must say (the thing named). */
  says: RegExp;
  /** A usage error from commander, at most: its error line, a "Did you mean" and the --help hint. */
  lines?: number;
  /** Runs as user nobody without capabilities (through setpriv). */
  asNobody?: boolean;
}

/** A pcap whose only record claims 100 bytes and holds 10. */
function truncatedPcap(): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20);
  const record = Buffer.alloc(16);
  record.writeUInt32LE(1_700_000_000, 0);
  record.writeUInt32LE(100, 8);
  record.writeUInt32LE(100, 12);
  return Buffer.concat([header, record, Buffer.alloc(10)]);
}

const NOBODY = ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all', '--'];

test('each user mistake: one short line, the documented exit status, no stack trace, within 5 s', { timeout: 300_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-mistakes-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, data: string | Buffer): string => {
    fs.writeFileSync(path.join(dir, name), data);
    return path.join(dir, name);
  };
  const port = String(await freePort());
  const shadow = `http://127.0.0.2:${await freePort()}`;
  const live = ['run', '--interface', 'lo', '--port', port, '--stats-interval', '0', '--admin', 'off'];
  const notCapture = file('notes.txt', 'these are notes, not packets\n');
  const truncated = file('truncated.pcap', truncatedPcap());
  const existing = file('existing.rec', 'x');
  const unknownKey = file('unknown-key.yaml', `interface: lo\nport: ${port}\nshadow: [${shadow}]\nshaddow: x\n`);
  const badValue = file('bad-value.yaml', `interface: lo\nport: ${port}\nshadow: [${shadow}]\nconcurrency: -3\n`);
  const root = hasRoot();

  const mistakes: Mistake[] = [
    { what: 'a mistyped option', args: ['run', '--interfac', 'lo'], status: 2, says: /unknown option '--interfac'/, lines: 3 },
    { what: 'an unknown command', args: ['mirror'], status: 2, says: /unknown command 'mirror'/, lines: 3 },
    { what: 'report without its directory', args: ['report'], status: 2, says: /missing required argument 'dir'/, lines: 2 },
    { what: 'a port out of range', args: [...live.slice(0, 3), '--port', '70000', '--shadow', shadow], status: 2, says: /--port: not a TCP port/ },
    { what: 'a port that is a word', args: [...live.slice(0, 3), '--port', 'http', '--shadow', shadow], status: 2, says: /--port: not a TCP port/ },
    { what: 'no port and no filter', args: ['run', '--interface', 'lo', '--shadow', shadow], status: 2, says: /--port: live capture needs --port or --filter/ },
    { what: 'no shadow', args: live, status: 2, says: /--shadow: at least one shadow/ },
    { what: 'a shadow that is no URL', args: [...live, '--shadow', 'shadow-host:8080'], status: 2, says: /--shadow: (not a URL|needs http)/ },
    { what: 'a shadow over ftp', args: [...live, '--shadow', 'ftp://127.0.0.1:21'], status: 2, says: /--shadow: needs http:\/\/ or https:\/\// },
    { what: 'a shadow with a path', args: [...live, '--shadow', `${shadow}/api`], status: 2, says: /--shadow: give an origin only/ },
    { what: 'a shadow with credentials', args: [...live, '--shadow', 'http://user:secret@127.0.0.2:9'], status: 2, says: /--shadow: credentials in the URL/ },
    { what: 'the same shadow twice', args: [...live, '--shadow', shadow, '--shadow', shadow], status: 2, says: /--shadow: .* given twice/ },
    { what: 'a shadow that is production itself', args: [...live, '--shadow', `http://localhost:${port}`], status: 2, says: /--shadow: http:\/\/localhost:\d+ is production itself/ },
    { what: 'a concurrency of 0', args: [...live, '--shadow', shadow, '--concurrency', '0'], status: 2, says: /--concurrency: expected an integer/ },
    { what: 'an unknown log level', args: [...live, '--shadow', shadow, '--log-level', 'loud'], status: 2, says: /--log-level: expected/ },
    { what: 'a bad --admin address', args: [...live.slice(0, -2), '--shadow', shadow, '--admin', '9464'], status: 2, says: /--admin: expected HOST:PORT/ },
    { what: 'a bad --log-to', args: [...live, '--shadow', shadow, '--log-to', 'syslog://nowhere'], status: 2, says: /--log-to:/ },
    { what: '--summary-json where nothing can be written', args: [...live, '--shadow', shadow, '--summary-json', '/proc/nope/s.json'], status: 2, says: /--summary-json: .*\/proc\/nope/ },
    { what: '--out under /proc', args: [...live, '--shadow', shadow, '--out', '/proc/nope/out'], status: 2, says: /--out: / },
    { what: 'a missing --config file', args: [...live, '--config', path.join(dir, 'missing.yaml')], status: 2, says: /--config: .*missing\.yaml/ },
    { what: 'an unknown key in the config file', args: ['run', '--config', unknownKey], status: 2, says: /shaddow/ },
    { what: 'a bad value in the config file', args: ['run', '--config', badValue], status: 2, says: /concurrency: expected an integer/ },
    { what: 'check-config without --config', args: ['check-config'], status: 2, says: /--config: required/ },
    { what: 'read without --file', args: ['read'], status: 2, says: /--file: required/ },
    { what: 'read of a missing file', args: ['read', '--file', path.join(dir, 'missing.pcap')], status: 2, says: /--file: .*missing\.pcap: No such file/ },
    { what: 'read of a file that is no capture', args: ['read', '--file', notCapture], status: 2, says: /--file: .*notes\.txt: unknown file format \(not a pcap or pcapng capture\)/ },
    { what: 'read of a truncated capture', args: ['read', '--file', truncated], status: 1, says: /stopped early: .*truncated/ },
    { what: 'replay of a missing recording', args: ['replay', '--file', path.join(dir, 'missing.rec'), '--shadow', shadow], status: 2, says: /--file: .*missing\.rec/ },
    { what: 'replay at a negative speed', args: ['replay', '--file', existing, '--shadow', shadow, '--speed', '-1'], status: 2, says: /--speed: expected a number/ },
    { what: 'record over an existing recording', args: ['record', '--interface', 'lo', '--port', port, '--output', existing], status: 2, says: /--output: .*exists/ },
    { what: 'report of a directory without results', args: ['report', dir], status: 2, says: /<dir>: cannot read the results/ },
    { what: 'report --html where nothing can be written', args: ['report', dir, '--html', '/proc/nope/report.html'], status: 2, says: /--html: .*\/proc\/nope\/report\.html/ },
    { what: 'verdict of a missing directory', args: ['verdict', path.join(dir, 'nope')], status: 2, says: /<dir>: cannot read the results/ },
    { what: 'a shadow name that does not resolve', args: [...live, '--shadow', `http://shadow.invalid:${port}`], status: 3, says: /--shadow: http:\/\/shadow\.invalid:\d+: the name shadow\.invalid does not resolve/ },
    ...(root ? [
      { what: 'an interface that does not exist', args: [...live.slice(0, 1), '--interface', 'eth9', ...live.slice(3), '--shadow', shadow], status: 3, says: /--interface: no interface "eth9" on this host/ },
      { what: 'record on an interface that does not exist', args: ['record', '--interface', 'eth9', '--port', port, '--output', path.join(dir, 'new.rec')], status: 3, says: /--interface: no interface "eth9"/ },
      { what: 'an invalid --filter', args: [...live, '--shadow', shadow, '--filter', 'port http-ish'], status: 2, says: /--filter: invalid capture filter/ },
    ] satisfies Mistake[] : []),
    ...(root && haveTool('setpriv') ? [
      { what: 'a live capture without CAP_NET_RAW', args: [...live, '--shadow', shadow], status: 3, says: /--interface: cannot capture on "lo".*needs root or CAP_NET_RAW/, asNobody: true },
    ] satisfies Mistake[] : []),
  ];
  assert.ok(mistakes.length >= 30 || !root, `${mistakes.length} mistakes`);
  if (!root) t.diagnostic('not root: the capture mistakes (interface, filter, privileges) are left out');

  for (const m of mistakes) {
    const started = Date.now();
    const r = m.asNobody
      ? await runTool('setpriv', [...NOBODY, process.execPath, cliPath(), ...m.args], { cwd: '/', timeoutMs: 15_000 })
      : await runCli(m.args, { timeoutMs: 15_000 });
    const seconds = (Date.now() - started) / 1000;
    const lines = r.stderr.trimEnd().split('\n');
    const where = `${m.what}: shadowtap ${m.args.join(' ')}\n--- stderr\n${r.stderr}--- stdout\n${r.stdout}`;
    assert.equal(r.code, m.status, where);
    if (m.lines === undefined) assert.equal(lines.length, 1, where);
    else assert.ok(lines.length <= m.lines, where);
    assert.match(r.stderr, m.says, where);
    if (m.lines === undefined && m.status !== 1) assert.match(lines[0], /^shadowtap: /, where);
    assert.doesNotMatch(r.stderr + r.stdout, /^\s+at /m, where);
    assert.ok(seconds < 5, `${where}\ntook ${seconds.toFixed(1)} s`);
  }
  assert.ok(fs.existsSync(existing) && fs.readFileSync(existing, 'utf8') === 'x', 'the existing recording is untouched');
  assert.ok(!fs.existsSync(path.join(repoRoot(), 'missing.pcap')));
});
