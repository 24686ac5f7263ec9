// SIGHUP re-reads the config file: a changed filter changes what is mirrored from the next
// request on, over the same captured connections; a broken file is rejected and the running
// configuration stays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { startProduction, startShadow } from '../support/servers';
import { captureSkipReason, startCli } from '../support/tools';

test('SIGHUP with a changed filter changes what is mirrored without losing flows; a broken config is rejected', { timeout: 90_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const prod = await startProduction();
  const shadow = await startShadow();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-reload-'));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  t.after(async () => {
    agent.destroy();
    await prod.close();
    await shadow.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const configFile = path.join(dir, 'shadowtap.yaml');
  const summaryPath = path.join(dir, 'summary.json');
  const config = (rule: string) => [
    'interface: lo', `port: ${prod.port}`, `shadow: [http://127.0.0.1:${shadow.port}]`, 'stats-interval: 0',
    `summary-json: ${summaryPath}`, `rule: ["${rule}"]`, 'admin: "127.0.0.1:0"',
    // Production's connections only: with wire timing the replays to the shadow would be
    // captured (and counted in tcp/http) too.
    'wire-timing: "off"',
  ].join('\n');
  fs.writeFileSync(configFile, config('deny path:^/b/'));
  const cli = startCli(['run', '--config', configFile]);
  assert.ok(await cli.waitForLine(/capture started/, 30_000), cli.stderr());
  const adminLine = await cli.waitForLine(/admin server on/, 30_000);
  assert.ok(adminLine, cli.stdout());
  const metricsUrl = `http://${JSON.parse(adminLine).address}/metrics`;
  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(metricsUrl)).text();
    const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
    assert.ok(m, `${name} missing from /metrics`);
    return Number(m[1]);
  };

  let n = 0;
  const phase = async (): Promise<void> => {
    await Promise.all(Array.from({ length: 100 }, () => {
      const i = n++;
      return new Promise<void>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: prod.port, path: `/${i % 2 === 0 ? 'a' : 'b'}/${i}`, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        }).on('error', reject);
      });
    }));
    // Wait until shadowtap has seen every request so far and settled each (replayed ones have
    // been answered by the shadow, so it has recorded them): then the counts are final.
    const deadline = Date.now() + 30_000;
    while (!((await metric('shadowtap_requests_seen_total')) >= n && (await metric('shadowtap_requests_pending')) === 0)) {
      assert.ok(Date.now() < deadline, `shadowtap saw ${await metric('shadowtap_requests_seen_total')} of ${n} requests within 30 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const mirrored = (prefix: string) => shadow.requests.filter((r) => r.url.startsWith(prefix)).length;

  await phase();
  assert.deepEqual([mirrored('/a/'), mirrored('/b/')], [50, 0]);

  fs.writeFileSync(configFile, config('deny path:^/a/'));
  cli.child.kill('SIGHUP');
  assert.ok(await cli.waitForLine(/configuration reloaded/, 30_000), cli.stdout());
  await phase();
  assert.deepEqual([mirrored('/a/'), mirrored('/b/')], [50, 50]);

  fs.writeFileSync(configFile, `${config('deny path:^/a/')}\nprot: 1\n`);
  cli.child.kill('SIGHUP');
  assert.ok(await cli.waitForLine(/reload rejected/, 30_000), cli.stdout());
  assert.match(cli.stdout(), /prot: unknown option/);
  await phase();
  assert.deepEqual([mirrored('/a/'), mirrored('/b/')], [50, 100], 'the running configuration stayed');

  assert.equal(await cli.stop('SIGTERM'), 0, cli.stderr());
  const s = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
  assert.equal(s.seen, 300);
  assert.equal(s.replayed, 150);
  assert.deepEqual(s.notReplayed, { filtered: 150 });
  assert.deepEqual(s.traffic.filteredBy, { 'deny path:^/b/': 50, 'deny path:^/a/': 100 });
  assert.equal(s.reloads, 1);
  // The same four client connections carried all 300 requests, before and after the reload.
  assert.equal(s.tcp.connectionsOpened, 4);
  assert.equal(s.http.requests, 300);
});
