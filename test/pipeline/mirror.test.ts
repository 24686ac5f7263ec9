// From http to the outputs: every request ends in the ledger exactly once, own replays and
// filtered requests never reach the output (nor do their exchanges), rewrites reach it beside
// the captured request, and a file source is paused while the output has no room.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestLedger } from '../../src/accounting';
import type { Exchange, HttpRequest } from '../../src/http';
import type { Output, Settle } from '../../src/outputs';
import { Admission, Mirror } from '../../src/pipeline';
import { TrafficPolicy, defaultTrafficOptions } from '../../src/traffic';
import { fakeRequest, fakeResponse } from '../support/requests';

/** Holds what it is given; settles on demand. */
class HeldOutput implements Output {
  requests: Array<{ captured: HttpRequest; sent: HttpRequest; settle: Settle }> = [];
  exchanges: Exchange[] = [];
  room = 2;
  get hasRoom(): boolean { return this.requests.length < this.room; }
  request(captured: HttpRequest, sent: HttpRequest, settle: Settle): void { this.requests.push({ captured, sent, settle }); }
  exchange(ex: Exchange): void { this.exchanges.push(ex); }
  drain(): Promise<void> { return Promise.resolve(); }
  stats(): Record<string, unknown> { return {}; }
}

const exchangeOf = (request: HttpRequest): Exchange => ({ request, response: fakeResponse('{}'), responseMissing: null });

test('mirror: own replays, policy decisions, rewrites and the ledger', () => {
  const ledger = new RequestLedger();
  const output = new HeldOutput();
  output.room = 100;
  const policy = new TrafficPolicy({ ...defaultTrafficOptions(), rewrites: { ...defaultTrafficOptions().rewrites, setHeaders: [['x-env', 'shadow']] } });
  const admission = new Admission(ledger, policy, 'x-shadowtap');
  const mirror = new Mirror({ ledger, admission, output, notice: () => {}, flow: null });
  const get = fakeRequest('/a');
  const post = fakeRequest('/b', { method: 'POST' });
  const replay = fakeRequest('/c', { headers: ['Host', 'x', 'X-Shadowtap', '1'] });
  for (const r of [get, post, replay]) mirror.request(r);
  mirror.lost('incomplete');
  for (const r of [get, post, replay]) mirror.exchange(exchangeOf(r));

  assert.equal(output.requests.length, 1);
  assert.equal(output.requests[0].captured, get);
  assert.notEqual(output.requests[0].sent, get, 'the rewritten copy is sent');
  assert.deepEqual(output.requests[0].sent.headers.slice(-2), ['x-env', 'shadow']);
  assert.deepEqual(output.exchanges.map((e) => e.request.url), ['/a'], 'only the mirrored request\'s exchange');
  assert.equal(admission.ownReplaysIgnored, 1);
  assert.deepEqual(ledger.snapshot(), { seen: 3, replayed: 0, notReplayed: { unsafeMethod: 1, incomplete: 1 }, pending: 1 });
  output.requests[0].settle('replayed');
  assert.deepEqual(ledger.snapshot(), { seen: 3, replayed: 1, notReplayed: { unsafeMethod: 1, incomplete: 1 }, pending: 0 });
});

test('mirror: a file source pauses while the output is full and resumes when a request settles', () => {
  const ledger = new RequestLedger();
  const output = new HeldOutput();
  const flow: string[] = [];
  const mirror = new Mirror({ ledger, admission: new Admission(ledger, null, null), output, notice: () => {}, flow: { pause: () => flow.push('pause'), resume: () => flow.push('resume') } });
  mirror.request(fakeRequest('/1'));
  assert.deepEqual(flow, []);
  mirror.request(fakeRequest('/2'));
  assert.deepEqual(flow, ['pause']);
  const first = output.requests.shift()!;
  first.settle('replayed');
  assert.deepEqual(flow, ['pause', 'resume']);
  output.requests[0].settle('shadowError');
  assert.deepEqual(flow, ['pause', 'resume'], 'no resume without a pause');
  assert.deepEqual(ledger.snapshot(), { seen: 2, replayed: 1, notReplayed: { shadowError: 1 }, pending: 0 });
});
