import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../support/tools';

function tmpFile(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-config-'));
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
}

test('a YAML config supplies options; flags override it; SHADOWTAP_* variables sit between', async () => {
  // `read` on a missing file reports the path it was given: that tells which source won.
  const cfg = tmpFile('c.yaml', 'file: /nonexistent/from-config.pcap\nport: [8080, 8081]\nmax-body-mb: 8\n');
  const fromFile = await runCli(['read', '--config', cfg]);
  assert.match(fromFile.stderr, /from-config\.pcap/);
  const fromFlag = await runCli(['read', '--config', cfg, '--file', '/nonexistent/from-flag.pcap']);
  assert.match(fromFlag.stderr, /from-flag\.pcap/);
  const fromEnv = await runCli(['read', '--config', cfg], { env: { ...process.env, SHADOWTAP_FILE: '/nonexistent/from-env.pcap' } });
  assert.match(fromEnv.stderr, /from-env\.pcap/);
});

test('unknown keys and mistyped values are errors naming each key (exit 2)', async () => {
  const cfg = tmpFile('bad.yaml', 'file: x.pcap\nprot: 8080\nmax-body-mb: [1, 2]\npromisc: maybe\n');
  const r = await runCli(['read', '--config', cfg]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /prot: unknown option for `read`/);
  assert.match(r.stderr, /max-body-mb: expected a string or number, got a list/);
  const run = tmpFile('run.yaml', 'interface: lo\nport: 1\nshadow: http://127.0.0.1:1\npromisc: maybe\n');
  const r2 = await runCli(['run', '--config', run]);
  assert.equal(r2.code, 2, r2.stderr);
  assert.match(r2.stderr, /promisc: expected true or false/);
  const notYaml = tmpFile('broken.yaml', 'a: [1,\n');
  const r3 = await runCli(['read', '--config', notYaml]);
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /--config: .*broken\.yaml/);
});

test('values from a config file are validated like flags, with the key named', async () => {
  const cfg = tmpFile('run.yaml', [
    'interface: lo', 'port: 8080', 'shadow: [http://127.0.0.1:9]', 'rule: ["deny colour:red"]',
  ].join('\n'));
  const r = await runCli(['run', '--config', cfg]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--rule: condition "colour:red"/);
  const ok = tmpFile('neg.yaml', 'interface: lo\nport: 8080\nshadow: http://127.0.0.1:9\ncompare: false\nout: /tmp/x\n');
  const r2 = await runCli(['run', '--config', ok]);
  assert.match(r2.stderr, /--no-compare: --baseline and --out need the comparison/);
});

test('check-config names every offending key of a broken config, and passes a good one', async () => {
  const cases: Array<[string, string[]]> = [
    ['prot: 8080\nshadow: http://127.0.0.1:9\ninterface: lo\nport: 1\n', ['prot']],
    ['interface: lo\nport: 99999\nshadow: [ftp://x]\nsample: 140\n', ['port', 'shadow', 'sample']],
    ['interface: lo\nport: 1\nshadow: http://127.0.0.1:9\nrule: ["deny colour:red"]\nrewrite-path: ["no-arrow"]\ncompare-cpu: 0\n', ['rule', 'rewrite-path', 'compare-cpu']],
    ['interface: lo\nport: 1\nshadow: http://127.0.0.1:9\nmax-body-mb: [1]\npromisc: maybe\ntimeout-ms: -5\n', ['max-body-mb', 'promisc', 'timeout-ms']],
    ['port: 1\n', ['interface', 'shadow']],
    ['interface: lo\nport: 1\nshadow: http://127.0.0.1:9\nbaseline: http://127.0.0.1:9\n', ['baseline']],
  ];
  for (const [text, keys] of cases) {
    const r = await runCli(['check-config', '--config', tmpFile('c.yaml', text)]);
    assert.equal(r.code, 1, `${text}\n${r.stdout}${r.stderr}`);
    const named = r.stdout.split('\n').filter((l) => /^[a-z-]+: /.test(l)).map((l) => l.slice(0, l.indexOf(':')));
    assert.deepEqual(named.sort(), [...keys].sort(), `${text}\n${r.stdout}`);
  }
  const good = await runCli(['check-config', '--config', tmpFile('ok.yaml', 'interface: lo\nport: [8080]\nshadow: http://127.0.0.1:9\nsample: 10\n')]);
  assert.equal(good.code, 0, good.stdout);
  assert.match(good.stdout, /ok$/m);
  const rec = await runCli(['check-config', '--command', 'record', '--config', tmpFile('r.yaml', 'interface: lo\nport: 1\noutput: /tmp/x.rec\nshadow: http://x\n')]);
  assert.equal(rec.code, 1);
  assert.match(rec.stdout, /^shadow: unknown option for `record`/m);
});
