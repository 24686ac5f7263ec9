// Wire timing is chosen per run: on by default wherever the shadows' traffic crosses the captured
// interface, otherwise off with the reason said; asked for explicitly, an obstacle is an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, runConfig } from '../../src/config';

const live = (extra: Record<string, unknown>) => runConfig({ interface: 'lo', port: ['8080'], out: '/tmp/shadowtap-out', ...extra });

test('auto: on when every target is an IP address routed over the captured interface', () => {
  const c = live({ shadow: ['http://127.0.0.1:9000'], baseline: 'http://[::1]:9001' });
  assert.equal(c.wireTiming, true);
  assert.equal(c.wireTimingNote, null);
  assert.deepEqual(c.source.alsoCapture, [{ address: '127.0.0.1', port: 9000 }, { address: '::1', port: 9001 }]);
});

test('auto: the marker header is not needed (the replays\' packets are told apart by the target\'s address and port)', () => {
  const c = live({ shadow: ['http://127.0.0.1:9000'], marker: false });
  assert.deepEqual([c.wireTiming, c.wireTimingNote, c.replay.marker], [true, null, null]);
});

test('auto: off, with the reason, when wire timing cannot work', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ shadow: ['http://shadow.invalid:9000'] }, /shadow\.invalid:9000 is not an IP address/],
    [{ interface: 'shadowtap-none0', shadow: ['http://127.0.0.1:9000'] }, /reached over lo, not over the captured shadowtap-none0/],
  ];
  for (const [flags, why] of cases) {
    const c = live(flags);
    assert.equal(c.wireTiming, false, JSON.stringify(flags));
    assert.match(c.wireTimingNote ?? '', why);
    assert.equal(c.source.alsoCapture, undefined);
  }
  // Reading a file, or with no comparison at all: nothing to say about it.
  assert.equal(runConfig({ file: '/tmp/x.pcap', port: ['8080'], shadow: ['http://127.0.0.1:9000'] }).wireTiming, false);
  const mirrorOnly = runConfig({ interface: 'lo', port: ['8080'], shadow: ['http://127.0.0.1:9000'], compare: false });
  assert.deepEqual([mirrorOnly.wireTiming, mirrorOnly.wireTimingNote], [false, null]);
  // Without --out nothing judges latency: auto stays off, and there is nothing to say.
  const notKept = runConfig({ interface: 'lo', port: ['8080'], shadow: ['http://127.0.0.1:9000'] });
  assert.deepEqual([notKept.wireTiming, notKept.wireTimingNote], [false, null]);
});

test('on: an obstacle is a configuration error; off: never', () => {
  assert.throws(() => live({ shadow: ['http://shadow.invalid:9000'], wireTiming: true }), (e: unknown) => e instanceof ConfigError && /IP literals/.test(e.message));
  assert.throws(() => runConfig({ interface: 'lo', port: ['8080'], shadow: ['http://127.0.0.1:9000'], wireTiming: 'on', compare: false }), /needs the comparison/);
  assert.throws(() => live({ shadow: ['http://127.0.0.1:9000'], wireTiming: 'sometimes' }), /expected on, off or auto/);
  assert.equal(live({ shadow: ['http://127.0.0.1:9000'], wireTiming: false }).wireTiming, false);
  assert.equal(live({ shadow: ['http://127.0.0.1:9000'], wireTiming: 'off' }).wireTiming, false);
});

test('a shadow or baseline URL with credentials is refused (they would be dropped), without echoing them', () => {
  for (const [flags, flag] of [[{ shadow: ['http://user:secret@127.0.0.1:9000'] }, '--shadow'], [{ shadow: ['http://127.0.0.1:9000'], baseline: 'http://u:p@127.0.0.1:9001' }, '--baseline']] as const) {
    assert.throws(() => live(flags), (e: unknown) => e instanceof ConfigError && e.key === flag && /credentials in the URL are not sent/.test(e.message) && !/secret|u:p/.test(e.message));
  }
});
