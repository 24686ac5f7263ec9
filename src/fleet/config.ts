// The configuration of fleet mode's two commands, from their flags: `run --publish` (the agent:
// capture, select, publish) and `worker` (consume, replay, compare).

import { accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { compareOptions } from '../compare/options';
import type { CompareOptions } from '../compare';
import { ConfigError, Flags, ReadConfig, RunConfig, adminFlag, compare, logFlags, readConfig, redactConfig, replayFlags, summaryPath, traffic, withBaseline, withinCompareShare, withinShare } from '../config';
import { readOption } from '../config/options';
import { planMemory } from '../accounting/memory';
import type { MemoryPlan } from '../accounting/memory';
import { memoryOptions } from '../accounting/options';
import { logOptions } from '../report/options';
import { replayOptions } from '../replay/options';
import type { ReplayOptions } from '../replay';
import type { RedactOptions, TrafficOptions } from '../traffic';
import { brokerOptions, fleetWorkerOptions, publishOptions, streamOptions } from './options';
import type { BrokerOptions, ConsumerOptions, StreamOptions } from './transport';

const MiB = 1 << 20;

/** nats://HOST:PORT[,…]: each a nats:// or tls:// URL without credentials (which ps would show). */
function servers(raw: string, flag: string): string[] {
  const list = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) throw new ConfigError(flag, 'expected nats://HOST:PORT');
  for (const s of list) {
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      throw new ConfigError(flag, `not a URL: ${JSON.stringify(s)}`);
    }
    if (url.protocol !== 'nats:' && url.protocol !== 'tls:') throw new ConfigError(flag, `expected nats://HOST:PORT or tls://HOST:PORT, got ${url.protocol}//${url.host}`);
    if (url.username !== '' || url.password !== '') {
      throw new ConfigError(flag, `no credentials in the URL (the command line is visible to every user): give --broker-user with SHADOWTAP_BROKER_PASSWORD, SHADOWTAP_BROKER_TOKEN or --broker-creds: ${url.protocol}//…@${url.host}`);
    }
    if (url.pathname !== '' && url.pathname !== '/') throw new ConfigError(flag, `give HOST:PORT only: ${url.protocol}//${url.host}${url.pathname}`);
  }
  return list;
}

function readable(flags: Flags, row: typeof brokerOptions[keyof typeof brokerOptions]): string | undefined {
  const file = readOption(flags, row) as string | undefined;
  if (file === undefined) return undefined;
  try {
    accessSync(file, constants.R_OK);
  } catch (e) {
    throw new ConfigError(row.long, `cannot read ${file}: ${(e as Error).message}`);
  }
  return file;
}

/** How to reach the broker: its servers, TLS and at most one kind of credentials. */
export function brokerConfig(flags: Flags, flag: string, raw: string, name: string): BrokerOptions {
  const list = servers(raw, flag);
  const caFile = readable(flags, brokerOptions.brokerCa);
  const certFile = readable(flags, brokerOptions.brokerCert);
  const keyFile = readable(flags, brokerOptions.brokerKey);
  if ((certFile === undefined) !== (keyFile === undefined)) throw new ConfigError('--broker-cert', 'give --broker-cert and --broker-key together');
  const wantsTls = caFile !== undefined || certFile !== undefined || list.some((s) => s.startsWith('tls:'));
  const token = readOption(flags, brokerOptions.brokerToken);
  const user = readOption(flags, brokerOptions.brokerUser);
  const password = readOption(flags, brokerOptions.brokerPassword);
  const credsFile = readable(flags, brokerOptions.brokerCreds);
  if ((user === undefined) !== (password === undefined)) throw new ConfigError('--broker-user', 'give --broker-user and its password (SHADOWTAP_BROKER_PASSWORD) together');
  const kinds = [token, user, credsFile].filter((x) => x !== undefined).length;
  if (kinds > 1) throw new ConfigError('--broker-token', 'give one kind of broker credentials: a token, a user and password, or a creds file');
  return {
    servers: list, name,
    tls: wantsTls ? { ...(caFile !== undefined ? { caFile } : {}), ...(certFile !== undefined ? { certFile, keyFile } : {}) } : null,
    auth: token !== undefined ? { token } : user !== undefined ? { user, password: password! } : credsFile !== undefined ? { credsFile } : null,
  };
}

function subjectName(flags: Flags): { stream: string; subject: string } {
  const stream = readOption(flags, streamOptions.stream);
  const subject = readOption(flags, streamOptions.subject);
  if (!/^[A-Za-z0-9_-]+$/.test(stream)) throw new ConfigError('--stream', `letters, digits, _ and - only: ${JSON.stringify(stream)}`);
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(subject)) throw new ConfigError('--subject', `dot-separated tokens of letters, digits, _ and -: ${JSON.stringify(subject)}`);
  return { stream, subject };
}

/** How a fleet process logs, stops and is watched: as `run`. */
type Operation = Pick<RunConfig, 'statsIntervalMs' | 'drainTimeoutMs' | 'logLevel' | 'logTo' | 'stopAfter' | 'admin'>;

export interface AgentConfig extends ReadConfig, Operation {
  broker: BrokerOptions;
  stream: StreamOptions;
  publish: { maxBufferBytes: number; timeoutMs: number; inFlight: number; host: string };
  traffic: TrafficOptions;
  /** Masks what the logs say of requests (the stream itself carries them whole). */
  redact: RedactOptions;
}

/** The flags that only make sense when replaying from the capturing host. */
const notWithPublish = ['shadow', 'baseline', 'out'] as const;

/** `run --publish URL`: capture, select and publish; the replay happens on workers. */
export function agentConfig(flags: Flags): AgentConfig {
  for (const attr of notWithPublish) {
    const v = flags[attr];
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) throw new ConfigError(`--${attr}`, 'not with --publish: workers replay and compare (shadowtap worker)');
  }
  const base = readConfig(flags);
  if (base.source.interface === undefined) throw new ConfigError('--publish', 'needs a live capture (--interface)');
  const host = readOption(flags, publishOptions.fleetHost) ?? hostname();
  if (!/^[A-Za-z0-9_.-]+$/.test(host)) throw new ConfigError('--fleet-host', `letters, digits, '.', '_' and '-' only: ${JSON.stringify(host)}`);
  const responseKb = readOption(flags, compareOptions.compareBodyKb);
  // Exchanges waiting for the broker share what replay and comparison would hold on a mirroring host.
  const share = base.memory.shares.replay + base.memory.shares.compare;
  return {
    ...base,
    // Whole requests, and production's answers up to --compare-body-kb: what a worker compares with.
    http: { ...base.http, keepRequestBodies: true, keepResponseBodies: true, hashBodies: false, maxResponseBodyBytes: responseKb << 10 },
    broker: brokerConfig(flags, '--publish', readOption(flags, publishOptions.publish)!, `shadowtap agent ${host}`),
    stream: {
      ...subjectName(flags),
      maxBytes: readOption(flags, publishOptions.streamMaxMb) * MiB,
      maxAgeMs: readOption(flags, publishOptions.streamMaxAge) * 3_600_000,
      replicas: readOption(flags, publishOptions.streamReplicas),
      duplicateWindowMs: 120_000,
    },
    publish: {
      maxBufferBytes: Math.min(readOption(flags, publishOptions.publishBufferMb) * MiB, share),
      timeoutMs: readOption(flags, publishOptions.publishTimeoutMs),
      inFlight: readOption(flags, publishOptions.publishInFlight),
      host,
    },
    traffic: traffic(flags),
    redact: redactConfig(flags),
    drainTimeoutMs: readOption(flags, replayOptions.drainTimeoutMs),
    ...logFlags(flags),
    admin: adminFlag(flags.admin),
  };
}

export interface WorkerConfig extends Operation {
  broker: BrokerOptions;
  consumer: ConsumerOptions;
  memory: MemoryPlan;
  /** Targets: the shadows, then the baseline when there is one. */
  replay: Partial<ReplayOptions> & { targets: string[] };
  compare: CompareOptions;
  baseline: string | null;
  outDir: string;
  redact: RedactOptions;
  ackIntervalMs: number;
  dedupeIds: number;
  summaryJson?: string;
}

/** `worker --from URL --shadow URL --out DIR`: consume, replay, compare as `replay --out` does. */
export function workerConfig(flags: Flags): WorkerConfig {
  const from = readOption(flags, fleetWorkerOptions.from);
  if (from === undefined) throw new ConfigError('--from', 'required: the broker, nats://HOST:4222');
  const outDir = readOption(flags, compareOptions.out);
  if (outDir === undefined) throw new ConfigError('--out', 'required: the result directory this worker writes');
  const memory = planMemory(readOption(flags, memoryOptions.maxMemoryMb));
  const shadows = replayFlags(flags);
  const { baseline, targets } = withBaseline(flags, shadows.targets);
  const cmp = compare({ ...flags, compare: true });
  const responseKb = readOption(flags, compareOptions.compareBodyKb);
  const maxWaiting = readOption(flags, fleetWorkerOptions.maxWaiting);
  const summaryJson = summaryPath(flags);
  return {
    broker: brokerConfig(flags, '--from', from, `shadowtap worker ${hostname()}/${process.pid}`),
    consumer: {
      ...subjectName(flags),
      durable: readOption(flags, fleetWorkerOptions.consumer),
      ackWaitMs: readOption(flags, fleetWorkerOptions.ackWait) * 1000,
      maxAckPending: readOption(flags, fleetWorkerOptions.maxAckPending),
      maxWaiting,
    },
    memory,
    // A worker waits for its shadows rather than drop: what it holds is bounded by --max-waiting.
    replay: { ...withinShare(shadows, memory, targets.length), targets, keepResponseBytes: responseKb << 10, whenFull: 'wait' },
    // Comparing is a worker's whole job: no CPU share held back for production.
    compare: { ...withinCompareShare(cmp!, memory, responseKb), cpuShare: 1 },
    baseline,
    outDir,
    redact: redactConfig(flags),
    ackIntervalMs: readOption(flags, fleetWorkerOptions.ackIntervalMs),
    dedupeIds: readOption(flags, fleetWorkerOptions.dedupeIds),
    summaryJson,
    drainTimeoutMs: readOption(flags, replayOptions.drainTimeoutMs),
    ...logFlags(flags),
    statsIntervalMs: readOption(flags, logOptions.statsInterval) * 1000,
    admin: adminFlag(flags.admin),
  };
}
