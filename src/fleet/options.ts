// Fleet mode's flags: where `run --publish` sends exchanges, the stream it creates, how
// `worker` consumes them, and how both reach and authenticate with the broker. Credentials are
// `secret`: taken from the config file or SHADOWTAP_* variables only, never the command line.

import { optionTable } from '../config/options';

/** The stream and subject: both sides name the same ones. */
export const streamOptions = optionTable({
  stream: { flag: '--stream <name>', type: 'string', default: 'SHADOWTAP', help: 'the JetStream stream exchanges go to (run --publish creates it when missing)' },
  subject: { flag: '--subject <subject>', type: 'string', default: 'shadowtap.exchanges', help: 'the subject exchanges are published on (the stream\'s only subject)' },
});

export const publishOptions = optionTable({
  publish: { flag: '--publish <url>', type: 'string', readmeDefault: 'none',
    help: 'fleet agent: publish each selected exchange to NATS JetStream at nats://HOST:PORT (comma-separated for a cluster) instead of replaying it (no --shadow)',
    readme: 'fleet agent: publish each exchange the traffic policy selects to NATS JetStream (`nats://HOST:4222`, comma-separated for a cluster) instead of replaying it; no `--shadow` then (see [Fleet mode](#fleet-mode))' },
  publishBufferMb: { flag: '--publish-buffer-mb <n>', type: 'int', default: 64, min: 1, max: 65536,
    help: 'exchanges waiting to be stored by the broker hold this much at most (within the memory budget); beyond, dropped and counted (publishDropped)' },
  publishTimeoutMs: { flag: '--publish-timeout-ms <ms>', type: 'int', default: 30_000, min: 100, max: 3_600_000,
    help: 'an exchange the broker has not stored this long after capture (an outage, no acknowledgement) is given up, counted (publishFailed)' },
  publishInFlight: { flag: '--publish-in-flight <n>', type: 'int', default: 256, min: 1, max: 100_000, help: 'publishes awaiting the broker\'s acknowledgement at once' },
  streamMaxMb: { flag: '--stream-max-mb <n>', type: 'int', default: 10_240, min: 1, max: 1 << 30,
    help: 'a stream created by run --publish holds this much at most (the oldest exchanges go first)' },
  streamMaxAge: { flag: '--stream-max-age <hours>', type: 'number', default: 24, min: 0.001, max: 87_600,
    help: 'a stream created by run --publish keeps exchanges this long at most' },
  streamReplicas: { flag: '--stream-replicas <n>', type: 'int', default: 1, min: 1, max: 5,
    help: 'copies of a stream created by run --publish on a JetStream cluster (3 survives one node\'s loss)' },
  fleetHost: { flag: '--fleet-host <name>', type: 'string', readmeDefault: 'the host name',
    help: 'this agent\'s name in exchange ids (host/run/id) and the broker\'s connection list' },
});

export const fleetWorkerOptions = optionTable({
  from: { flag: '--from <url>', type: 'string', readmeDefault: '(required)', help: 'the NATS JetStream server(s) to consume exchanges from: nats://HOST:PORT (comma-separated for a cluster)' },
  consumer: { flag: '--consumer <name>', type: 'string', default: 'shadowtap-workers',
    help: 'the durable consumer: workers giving the same name share the stream\'s exchanges' },
  ackWait: { flag: '--ack-wait <seconds>', type: 'int', default: 60, min: 1, max: 86_400,
    help: 'an exchange not acknowledged this long after delivery (its worker died) is delivered again' },
  maxAckPending: { flag: '--max-ack-pending <n>', type: 'int', default: 2000, min: 1, max: 1_000_000,
    help: 'exchanges delivered and not yet acknowledged, over all workers, at most' },
  maxWaiting: { flag: '--max-waiting <n>', type: 'int', default: 500, min: 1, max: 100_000,
    help: 'exchanges this worker asks the broker for ahead of replaying them (all it holds unacknowledged is bounded by --max-ack-pending)' },
  ackIntervalMs: { flag: '--ack-interval-ms <ms>', type: 'int', default: 1000, min: 10, max: 60_000,
    help: 'results are flushed to --out, then the exchanges they cover acknowledged, this often (or every --max-waiting/2 exchanges)' },
  dedupeIds: { flag: '--dedupe-ids <n>', type: 'int', default: 200_000, min: 1000, max: 100_000_000,
    help: 'ids of exchanges finished remembered, to recognise a redelivery and never compare it twice' },
});

export const brokerOptions = optionTable({
  brokerCa: { flag: '--broker-ca <file>', type: 'string', help: 'PEM CA certificate(s) the broker\'s TLS certificate must chain to (TLS on)' },
  brokerCert: { flag: '--broker-cert <file>', type: 'string', help: 'PEM client certificate for the broker (mutual TLS; with --broker-key)' },
  brokerKey: { flag: '--broker-key <file>', type: 'string', help: 'PEM private key of --broker-cert' },
  brokerCreds: { flag: '--broker-creds <file>', type: 'string', help: 'NATS credentials file (user JWT and NKey seed)' },
  brokerUser: { flag: '--broker-user <name>', type: 'string', help: 'user name for the broker (with broker-password)' },
  brokerPassword: { flag: '--broker-password <password>', type: 'string', secret: true,
    help: 'password for --broker-user: config file or SHADOWTAP_BROKER_PASSWORD only' },
  brokerToken: { flag: '--broker-token <token>', type: 'string', secret: true,
    help: 'token for the broker: config file or SHADOWTAP_BROKER_TOKEN only' },
});
