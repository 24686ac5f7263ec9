// Real nats-server processes for the fleet tests: one JetStream server, or a three-node
// JetStream cluster, on loopback ports, with their store in a test directory. And a JetStream
// client for the tests' own checks (the consumer's pending and unacknowledged counts).

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstreamManager } from '@nats-io/jetstream';
import { freePort, haveTool, type CliHandle } from '../support/tools';

export const noNatsServer = haveTool('nats-server') ? false : 'nats-server is not installed';

/** Bodies up to 1 MiB travel base64-encoded (4/3) inside a JSON message. */
export const MAX_PAYLOAD = 8 << 20;

export interface NatsServer {
  name: string;
  port: number;
  url: string;
  log(): string;
  /** Stops it (SIGTERM, or SIGKILL) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and store. */
  restart(): Promise<void>;
}

function startProcess(conf: string, logFile: string): ChildProcess {
  const out = fs.openSync(logFile, 'a');
  const child = spawn('nats-server', ['-c', conf], { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  return child;
}

/** True once something accepts connections on 127.0.0.1:port. */
async function listening(port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function server(name: string, dir: string, port: number, confText: string): Promise<NatsServer> {
  const conf = path.join(dir, `${name}.conf`);
  const logFile = path.join(dir, `${name}.log`);
  fs.writeFileSync(conf, confText);
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    child = startProcess(conf, logFile);
    if (!(await listening(port, 15_000))) throw new Error(`nats-server ${name} did not listen on ${port}:\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
  };
  await start();
  return {
    name, port, url: `nats://127.0.0.1:${port}`,
    log: () => fs.readFileSync(logFile, 'utf8'),
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      const c = child;
      if (c === null || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill(signal);
      await exited;
      child = null;
    },
    restart: start,
  };
}

/** One JetStream server on a free loopback port. */
export async function startNats(dir: string, name = 'nats', extraConfig: string[] = []): Promise<NatsServer> {
  const port = await freePort();
  const store = path.join(dir, `${name}-store`);
  return server(name, dir, port, [
    `server_name: ${name}`, `listen: 127.0.0.1:${port}`, `max_payload: ${MAX_PAYLOAD}`,
    `jetstream { store_dir: "${store}" }`, ...extraConfig,
  ].join('\n'));
}

/** A three-node JetStream cluster on loopback ports. */
export async function startNatsCluster(dir: string): Promise<NatsServer[]> {
  const ports = [await freePort(), await freePort(), await freePort()];
  const routes = [await freePort(), await freePort(), await freePort()];
  return Promise.all(ports.map((port, i) => server(`n${i + 1}`, dir, port, [
    `server_name: n${i + 1}`, `listen: 127.0.0.1:${port}`, `max_payload: ${MAX_PAYLOAD}`,
    `jetstream { store_dir: "${path.join(dir, `n${i + 1}-store`)}" }`,
    `cluster { name: fleet-test, listen: 127.0.0.1:${routes[i]}, routes: [${routes.filter((_, j) => j !== i).map((r) => `nats-route://127.0.0.1:${r}`).join(', ')}] }`,
  ].join('\n'))));
}

/** A client for the test's own look at the stream. */
export function natsClient(servers: string[], token?: string): Promise<NatsConnection> {
  return connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 250, ...(token !== undefined ? { token } : {}) });
}

/** The durable consumer's backlog: messages not yet delivered, and delivered but not acknowledged. */
export async function consumerBacklog(nc: NatsConnection, stream: string, durable: string): Promise<{ pending: number; unacked: number; delivered: number }> {
  // No $JS.API.INFO: a worker's permissions do not allow it.
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const info = await jsm.consumers.info(stream, durable);
  return { pending: info.num_pending, unacked: info.num_ack_pending, delivered: info.delivered.stream_seq };
}

/** Waits (up to `timeoutMs`) until the consumer group has delivered and had acknowledged
 * everything; returns the last backlog seen. A cluster electing a leader may not answer for a
 * while: those requests are tried again. */
export async function drainedBacklog(nc: NatsConnection, stream: string, durable: string, timeoutMs: number): Promise<{ pending: number; unacked: number }> {
  let last = { pending: -1, unacked: -1 };
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 500))) {
    try {
      last = await consumerBacklog(nc, stream, durable);
    } catch {
      continue;
    }
    if (last.pending === 0 && last.unacked === 0) break;
  }
  return { pending: last.pending, unacked: last.unacked };
}

/** Messages in the stream. Asked again while a cluster elects a leader and does not answer. */
export async function streamMessages(nc: NatsConnection, stream: string, timeoutMs = 60_000): Promise<number> {
  for (const deadline = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 500))) {
    try {
      const jsm = await jetstreamManager(nc);
      return (await jsm.streams.info(stream)).state.messages;
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
  }
}

/** What a fleet test starts, each list filled as it goes; after the test, in this order, the
 * shadowtap processes are killed, the servers closed, the brokers killed and the directory
 * removed. */
export interface FleetRig {
  dir: string;
  procs: CliHandle[];
  servers: Array<{ close(): unknown }>;
  brokers: NatsServer[];
}

export function fleetRig(t: TestContext, prefix: string): FleetRig {
  const rig: FleetRig = { dir: fs.mkdtempSync(path.join(os.tmpdir(), prefix)), procs: [], servers: [], brokers: [] };
  t.after(async () => {
    for (const p of rig.procs) await p.stop('SIGKILL', 5000).catch(() => undefined);
    for (const a of rig.servers) await a.close();
    for (const n of rig.brokers) await n.stop('SIGKILL');
    fs.rmSync(rig.dir, { recursive: true, force: true });
  });
  return rig;
}
