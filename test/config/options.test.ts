// Options from their tables: typed values and defaults, bounds errors that name the flag, and
// the precedence flags > SHADOWTAP_* environment > config file > defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { commandOptions } from '../../src/config/commands';
import { ConfigError } from '../../src/config/error';
import { applyConfigSources } from '../../src/config/file';
import { addOptions, optionTable, readOption, rowsOf } from '../../src/config/options';
import { readConfig, runConfig, thresholdsConfig } from '../../src/config';
import { httpOptions } from '../../src/http/options';
import { tcpOptions } from '../../src/tcp/options';
import { defaultReassemblyOptions } from '../../src/tcp';

const table = optionTable({
  count: { flag: '--count <n>', type: 'int', default: 3, min: 1, max: 10, help: 'an int' },
  ratio: { flag: '--ratio <x>', type: 'number', default: 1.5, min: 0, max: 2, help: 'a number' },
  mode: { flag: '--mode <m>', type: 'string', default: 'a', choices: ['a', 'b', 'c'], help: 'a choice' },
  name: { flag: '-n, --name <s>', type: 'string', help: 'a string' },
  item: { flag: '--item <s>', type: 'list', help: 'repeatable' },
  loud: { flag: '--loud', type: 'switch', help: 'a switch' },
  color: { flag: '--no-color', type: 'switch', help: 'a negated switch' },
});

const throwsNaming = (fn: () => unknown, flag: string, text: RegExp): void => {
  assert.throws(fn, (e: unknown) => e instanceof ConfigError && e.key === flag && text.test(e.message), `${flag} ${text}`);
};

test('a row is named by its flag: config key, commander attribute, environment variable', () => {
  assert.deepEqual([table.count.long, table.count.key, table.count.attr, table.count.env], ['--count', 'count', 'count', 'SHADOWTAP_COUNT']);
  assert.deepEqual([table.color.long, table.color.key, table.color.attr, table.color.negated], ['--no-color', 'color', 'color', true]);
  const body = httpOptions.maxBodyMb;
  assert.deepEqual([body.long, body.key, body.attr, body.env], ['--max-body-mb', 'max-body-mb', 'maxBodyMb', 'SHADOWTAP_MAX_BODY_MB']);
  assert.throws(() => optionTable({ wrong: { flag: '--right', type: 'switch', help: '' } }), /listed as wrong/);
});

test('readOption: defaults, typed conversion, bounds and choices', () => {
  assert.deepEqual(
    [readOption({}, table.count), readOption({}, table.ratio), readOption({}, table.mode), readOption({}, table.name), readOption({}, table.item), readOption({}, table.loud), readOption({}, table.color)],
    [3, 1.5, 'a', undefined, [], false, true]);
  assert.deepEqual(
    [readOption({ count: '7' }, table.count), readOption({ ratio: '0.25' }, table.ratio), readOption({ mode: 'c' }, table.mode), readOption({ item: 'x' }, table.item), readOption({ loud: true }, table.loud), readOption({ color: false }, table.color)],
    [7, 0.25, 'c', ['x'], true, false]);
  throwsNaming(() => readOption({ count: '11' }, table.count), '--count', /expected an integer from 1 to 10, got "11"/);
  throwsNaming(() => readOption({ count: '2.5' }, table.count), '--count', /integer/);
  throwsNaming(() => readOption({ ratio: 'fast' }, table.ratio), '--ratio', /expected a number from 0 to 2, got "fast"/);
  throwsNaming(() => readOption({ mode: 'd' }, table.mode), '--mode', /expected a, b or c, got "d"/);
});

test('a command\'s configuration names the flag whose value is out of bounds', () => {
  const live = { interface: 'lo', port: ['8080'], shadow: ['http://127.0.0.1:9'] };
  throwsNaming(() => readConfig({ file: 'x.pcap', maxBodyMb: '5000' }), '--max-body-mb', /from 0 to 4096, got "5000"/);
  throwsNaming(() => readConfig({ file: 'x.pcap', idleTimeout: '0' }), '--idle-timeout', /from 1 to 86400/);
  throwsNaming(() => runConfig({ ...live, compareCpu: '0' }), '--compare-cpu', /from 1 to 100/);
  throwsNaming(() => runConfig({ ...live, sample: '140' }), '--sample', /from 0 to 100/);
  throwsNaming(() => runConfig({ ...live, logLevel: 'loud' }), '--log-level', /got "loud"/);
  throwsNaming(() => thresholdsConfig({ latencyConfidence: '100' }), '--latency-confidence', /50 to 99\.99/);
  throwsNaming(() => thresholdsConfig({ maxLatencyRatio: '-1' }), '--max-latency-ratio', /from 0/);
  // Defaults come from the rows, in the stage's units.
  const c = runConfig(live);
  assert.equal(c.http.maxBodyBytes, 16 << 20);
  assert.equal(c.tcp.idleTimeoutMs, 60_000);
  assert.equal(c.statsIntervalMs, 10_000);
  assert.equal(defaultReassemblyOptions.idleTimeoutMs, tcpOptions.idleTimeout.default * 1000);
  assert.deepEqual(thresholdsConfig({}).latencyConfidence, 0.95);
});

function command(argv: string[]): Command {
  const cmd = addOptions(new Command('t').exitOverride(), [...rowsOf(table), ...rowsOf(tcpOptions)]);
  cmd.parse(argv, { from: 'user' });
  return cmd;
}

test('precedence: flags over SHADOWTAP_* variables over the config file over the defaults', () => {
  const cmd = command(['--count', '9']);
  applyConfigSources(cmd, { count: 4, ratio: 0.5, mode: 'b', item: ['f1', 'f2'], loud: true, color: false },
    { SHADOWTAP_COUNT: '5', SHADOWTAP_MODE: 'c', SHADOWTAP_ITEM: 'e1,e2', SHADOWTAP_IDLE_TIMEOUT: '30' });
  const o = cmd.opts();
  assert.deepEqual([o.count, o.ratio, o.mode, o.item, o.loud, o.color, o.idleTimeout, o.maxConnections],
    ['9', '0.5', 'c', ['e1', 'e2'], true, false, '30', '100000']);
  assert.equal(cmd.getOptionValueSource('count'), 'cli');
  assert.equal(cmd.getOptionValueSource('mode'), 'env');
  assert.equal(cmd.getOptionValueSource('ratio'), 'config');
  assert.equal(cmd.getOptionValueSource('maxConnections'), 'default');
});

test('file and environment problems name each key', () => {
  const cmd = command([]);
  assert.throws(() => applyConfigSources(cmd, { cuont: 1, loud: 'maybe', color: 'no', count: [1] }, { SHADOWTAP_RATIO: undefined }),
    (e: Error) => /cuont: unknown option for `t`/.test(e.message) && /loud: expected true or false/.test(e.message)
      && /color: expected true or false/.test(e.message) && /count: expected a string or number, got a list/.test(e.message));
});

test('every command\'s flags are distinct, and each has help', () => {
  for (const [name, rows] of Object.entries(commandOptions)) {
    const flags = rows.map((r) => r.long);
    assert.deepEqual(flags, [...new Set(flags)], name);
    for (const r of rows) assert.ok(r.help.length > 0, `${name} ${r.flag}`);
  }
});
