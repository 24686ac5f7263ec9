import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { HttpRequest } from '../../src/http';
import { ReplayOutcome, Replayer } from '../../src/replay';
import { fakeRequest } from '../support/requests';

function request(method: string, url: string, headers: string[], body: Buffer | null = null): HttpRequest {
  return fakeRequest(url, { method, headers, body });
}

describe('replay: outcomes', () => {
  let server: http.Server;
  let origin = '';
  const got: string[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      got.push(req.url ?? '');
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('headers Node\'s http would refuse make a request unreplayable, not a shadow error, and nothing is sent', async () => {
    const replayer = new Replayer({ targets: [origin], timeoutMs: 2000 });
    const outcomes: Array<[string, ReplayOutcome]> = [];
    const cases: Array<[string, string[], boolean]> = [
      ['/name', ['Host', 'x', 'X@Y', '1'], false],
      ['/ctl', ['Host', 'x', 'X-A', 'a\x01b'], false],
      ['/two-hosts', ['Host', 'a', 'Host', 'b'], true],
      ['/fine', ['Host', 'x', 'X-Latin1', 'Jos\u00e9'], false],
    ];
    for (const [url, headers, keepHost] of cases) {
      const r = keepHost ? new Replayer({ targets: [origin], timeoutMs: 2000, keepHost: true }) : replayer;
      await new Promise<void>((resolve) => r.submit(request('GET', url, headers), (outcome) => {
        outcomes.push([url, outcome]);
        resolve();
      }));
      if (r !== replayer) await r.drain(1000);
    }
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.deepEqual(outcomes, [['/name', 'unreplayable'], ['/ctl', 'unreplayable'], ['/two-hosts', 'unreplayable'], ['/fine', 'replayed']]);
    assert.equal(stats.errors, 0);
    assert.equal(stats.sent, 1);
    assert.deepEqual(got, ['/fine']);
  });
});
