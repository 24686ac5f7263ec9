// Mutual TLS and a password to the broker: a JetStream server that wants TLS, a client
// certificate from the test's own CA and a user's password; a worker given --broker-ca,
// --broker-cert and --broker-key, and its user and password in its --config file, consumes from
// it (and never logs the password), while a client without a certificate is turned away.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { connect } from '@nats-io/transport-node';
import { DiscardPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { haveTool, startCli, type CliHandle } from '../support/tools';
import { drainedBacklog, noNatsServer, startNats, type NatsServer } from './nats-support';

const SUBJECT = 'shadowtap.exchanges';
const PASSWORD = 'pw-6c1d93e0aa47';

/** A CA, and the server and client certificates it signed (the server's for 127.0.0.1 and localhost, the name the client checks). */
function pki(dir: string): { ca: string; server: [string, string]; client: [string, string] } {
  const f = (n: string): string => path.join(dir, n);
  const ssl = (...args: string[]): void => { execFileSync('openssl', args, { stdio: 'ignore' }); };
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=fleet-test-ca');
  for (const [name, ext] of [['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth'], ['client', 'extendedKeyUsage=clientAuth']] as const) {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=fleet-test-${name}`);
    fs.writeFileSync(f(`${name}.ext`), `${ext}\n`);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '2', '-extfile', f(`${name}.ext`));
  }
  return { ca: f('ca.pem'), server: [f('server.pem'), f('server.key')], client: [f('client.pem'), f('client.key')] };
}

test('worker: mutual TLS (--broker-ca, --broker-cert, --broker-key) and a password from the config file', { timeout: 60_000 }, async (t) => {
  const why = noNatsServer || (haveTool('openssl') ? null : 'openssl is not installed');
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-fleet-tls-'));
  let nats: NatsServer | undefined;
  let worker: CliHandle | undefined;
  let shadowHits = 0;
  const shadow = http.createServer((_req, res) => { shadowHits++; res.end('{}'); });
  await new Promise<void>((r) => shadow.listen(0, '127.0.0.1', r));
  t.after(async () => {
    await worker?.stop('SIGKILL', 5000).catch(() => undefined);
    shadow.close();
    await nats?.stop('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const certs = pki(dir);
  nats = await startNats(dir, 'nats', [`tls { cert_file: "${certs.server[0]}", key_file: "${certs.server[1]}", ca_file: "${certs.ca}", verify: true }`,
    `authorization { users: [ { user: worker, password: "${PASSWORD}" } ] }`]);

  // Without a client certificate the server turns the client away.
  await assert.rejects(connect({ servers: nats.url, tls: { caFile: certs.ca }, user: 'worker', pass: PASSWORD, reconnect: false, timeout: 5000 }));
  // Nor without the password.
  await assert.rejects(connect({ servers: nats.url, tls: { caFile: certs.ca, certFile: certs.client[0], keyFile: certs.client[1] }, reconnect: false, timeout: 5000 }));

  const nc = await connect({ servers: nats.url, tls: { caFile: certs.ca, certFile: certs.client[0], keyFile: certs.client[1] }, user: 'worker', pass: PASSWORD });
  t.after(() => nc.close());
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'SHADOWTAP', subjects: [SUBJECT], storage: StorageType.File, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old });
  const js = jetstream(nc);
  for (let n = 1; n <= 3; n++) {
    const message = {
      format: 'shadowtap-exchange', version: 1, id: `h/r/${n}`, host: 'h', run: 'r',
      exchange: { t: 1_700_000_000_000_000, conn: 1, client: '10.0.0.1:1', server: '10.0.0.2:80', index: n, method: 'GET', url: `/x/${n}`, headers: ['Host', 'a'],
        body: null, bodyRedacted: false, response: { status: 200, headers: ['Content-Length', '2'], bodySize: 2, sha256: null, body: Buffer.from('{}').toString('base64') },
        responseMissing: null },
    };
    await js.publish(SUBJECT, Buffer.from(JSON.stringify(message)), { msgID: message.id });
  }

  const shadowUrl = `http://127.0.0.1:${(shadow.address() as AddressInfo).port}`;
  const config = path.join(dir, 'worker.yaml');
  fs.writeFileSync(config, `broker-user: worker\nbroker-password: "${PASSWORD}"\n`, { mode: 0o600 });
  worker = startCli(['worker', '--config', config, '--from', nats.url, '--broker-ca', certs.ca, '--broker-cert', certs.client[0], '--broker-key', certs.client[1],
    '--shadow', shadowUrl, '--out', path.join(dir, 'w'), '--admin', 'off', '--stats-interval', '0', '--summary-json', path.join(dir, 'w.json')]);
  assert.deepEqual(await drainedBacklog(nc, 'SHADOWTAP', 'shadowtap-workers', 30_000), { pending: 0, unacked: 0 }, worker.stderr() + worker.stdout());
  assert.equal(await worker.stop('SIGTERM', 30_000), 0, worker.stderr());
  assert.ok(!(worker.stdout() + worker.stderr()).includes(PASSWORD), 'the logs never show the password');
  const s = JSON.parse(fs.readFileSync(path.join(dir, 'w.json'), 'utf8')) as { received: number; replayed: number };
  assert.equal(s.received, 3);
  assert.equal(s.replayed, 3);
  assert.equal(shadowHits, 3);
});
