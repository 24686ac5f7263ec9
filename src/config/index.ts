// One validated configuration object per command, built from flags. Stages never read
// flags or the environment; they receive the parts of this object that concern them.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isIPv6 } from 'node:net';
import { routeInterface } from '../capture/route';
import type { SourceSpec } from '../capture/source';
import { checkWritableFile } from '../report';
import { parseLogTarget } from '../report/logship';
import type { CompareOptions, RouteOverride } from '../compare';
import { ProtoSchema, defaultCompareOptions } from '../compare';
import type { HttpOptions } from '../http';
import type { Thresholds } from '../report/analysis';
import { defaultThresholds } from '../report/analysis';
import type { ReplayOptions, ShadowProtocol } from '../replay';
import type { ReassemblyOptions } from '../tcp';
import { RedactOptions, RuleError, SAFE_METHODS, TrafficOptions, defaultRedactOptions, parseRule, parseSampleKey, readValueMap } from '../traffic';
import { liveCaptureOptions, liveSourceOptions, sourceOptions } from '../capture/options';
import { compareOptions } from '../compare/options';
import { httpOptions } from '../http/options';
import { recordingOptions } from '../recording/options';
import { adminOptions, logOptions, logShipOptions, resultIdsOptions, stopOptions, summaryOptions, thresholdOptions } from '../report/options';
import { pacingOptions, replayOptions, workerOptions } from '../replay/options';
import { tcpOptions } from '../tcp/options';
import { MemoryPlan, planMemory } from '../accounting/memory';
import { memoryOptions } from '../accounting/options';
import { redactOptions, trafficOptions } from '../traffic/options';
import { ConfigError, EXIT, EnvironmentError } from './error';
import { Flags, readOption } from './options';

export { ConfigError, EXIT, EnvironmentError };
export type { Flags };

/** Where packets come from (capture's own description of a source). */
export type SourceConfig = SourceSpec;

export interface ReadConfig {
  source: SourceConfig;
  /** --max-memory-mb shared out: the caps below are already within it. */
  memory: MemoryPlan;
  summaryJson?: string;
  tcp: Partial<ReassemblyOptions>;
  http: Partial<HttpOptions>;
}

export interface RunConfig extends ReadConfig {
  replay: Partial<ReplayOptions> & { targets: string[] };
  /** Null when comparison is off (--no-compare). */
  compare: CompareOptions | null;
  /** The baseline target (also in replay.targets), or null. */
  baseline: string | null;
  /** Directory for results.json and samples.jsonl. */
  outDir?: string;
  /** Time shadow (and baseline) exchanges from the capture as well (their traffic is captured). */
  wireTiming: boolean;
  /** Why wire timing is off when it was left to decide (--wire-timing auto), for the log. */
  wireTimingNote: string | null;
  traffic: TrafficOptions;
  redact: RedactOptions;
  statsIntervalMs: number;
  drainTimeoutMs: number;
  logLevel: string;
  /** --admin: where /metrics, /healthz and /readyz are served; null (--admin off) or absent: nowhere. */
  admin?: { host: string; port: number } | null;
  /** --log-to: a collector that also receives every log line (syslog+tcp://HOST:PORT). */
  logTo?: LogToConfig;
  stopAfter: StopAfter;
  /** Replay worker threads (0: replay and comparison on the capture thread). */
  workers: number;
}

const MiB = 1 << 20;

function ports(flags: Flags): number[] {
  return readOption(flags, sourceOptions.port).flatMap((x) => x.split(',')).map((p) => {
    const n = Number(p.trim());
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ConfigError('--port', `not a TCP port: ${JSON.stringify(p)}`);
    return n;
  });
}

function source(flags: Flags): SourceConfig {
  const iface = readOption(flags, liveSourceOptions.interface);
  const file = readOption(flags, sourceOptions.file);
  if ((iface === undefined) === (file === undefined)) {
    throw new ConfigError('--interface', 'give exactly one of --interface or --file');
  }
  const p = ports(flags);
  const filter = readOption(flags, sourceOptions.filter);
  if (iface !== undefined && p.length === 0 && filter === undefined) {
    throw new ConfigError('--port', 'live capture needs --port or --filter (mirroring every TCP flow is rarely meant)');
  }
  return {
    interface: iface,
    file,
    ports: p,
    filter,
    snaplen: readOption(flags, liveCaptureOptions.snaplen),
    promiscuous: readOption(flags, liveCaptureOptions.promisc),
    bufferBytes: readOption(flags, liveCaptureOptions.bufferMb) * MiB,
    timeoutMs: readOption(flags, liveCaptureOptions.pcapTimeoutMs),
    warnIdleMs: iface === undefined ? 0 : readOption(flags, liveCaptureOptions.warnIdle) * 1000,
    reorder: { packets: readOption(flags, sourceOptions.reorderPackets), bytes: readOption(flags, sourceOptions.reorderMb) * MiB },
  };
}

function tcp(flags: Flags, src: SourceConfig, memory: MemoryPlan): Partial<ReassemblyOptions> {
  return {
    idleTimeoutMs: readOption(flags, tcpOptions.idleTimeout) * 1000,
    maxConnections: Math.min(readOption(flags, tcpOptions.maxConnections), memory.maxConnections),
    maxBufferedPerDirection: readOption(flags, tcpOptions.maxBufferMb) * MiB,
    maxBufferedTotal: Math.min(readOption(flags, tcpOptions.maxTotalBufferMb) * MiB, memory.shares.reorder),
    serverPorts: new Set(src.ports),
  };
}

/** --summary-json is written at exit: a path that cannot be written fails now, not then. */
export function summaryPath(flags: Flags): string | undefined {
  const path = readOption(flags, summaryOptions.summaryJson);
  if (path === undefined) return undefined;
  try {
    checkWritableFile(path);
  } catch (err) {
    throw new ConfigError('--summary-json', (err as Error).message);
  }
  return path;
}

export function readConfig(flags: Flags): ReadConfig {
  const src = source(flags);
  const memory = planMemory(readOption(flags, memoryOptions.maxMemoryMb), src.interface === undefined ? 0 : src.bufferBytes / MiB);
  if (src.interface !== undefined) {
    src.bufferBytes = Math.min(src.bufferBytes, memory.captureRingBytes);
    src.queueBytes = memory.captureQueueBytes;
  } else if (src.reorder !== undefined) {
    src.reorder.bytes = Math.min(src.reorder.bytes, Math.floor(memory.budgetBytes / 16)); // as a live capture's queue
  }
  return {
    source: src,
    memory,
    summaryJson: summaryPath(flags),
    tcp: tcp(flags, src, memory),
    http: {
      maxMessageBytes: memory.shares.messages,
      keepRequestBodies: false,
      keepResponseBodies: false,
      hashBodies: true,
      maxBodyBytes: readOption(flags, httpOptions.maxBodyMb) * MiB,
    },
  };
}

/** The address and port of a target origin, for a capture filter: the host must be an IP
 * literal (or localhost), since a filter cannot follow a name. */
function targetAddress(origin: string): { address: string; port: number } {
  const url = new URL(origin);
  let host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') host = '127.0.0.1';
  if (isIP(host) === 0) throw new ConfigError('--wire-timing', `needs shadow and baseline addresses as IP literals, got ${url.host}`);
  const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  return { address: host, port };
}

/**
 * --wire-timing on|off|auto (the default): auto times the shadows from the capture whenever
 * the comparison is kept (--out) and that can work — a live capture, and every target an IP
 * literal whose route leaves through the captured interface (the replays' packets are told apart
 * by the target's address and port: no marker needed). `why` says what stood in the way.
 */
function wireTimingChoice(raw: unknown, comparing: boolean, kept: boolean, iface: string | undefined, targets: string[]): { wireTiming: boolean; why: string | null } {
  const when = raw === true || raw === 'on' ? 'on' : raw === false || raw === 'off' ? 'off' : raw === undefined || raw === 'auto' ? 'auto' : null;
  if (when === null) throw new ConfigError('--wire-timing', `expected on, off or auto, got ${JSON.stringify(raw)}`);
  // auto: only where latency is judged (the comparison kept with --out), since it doubles what is captured.
  if (when === 'off' || (when === 'auto' && !kept)) return { wireTiming: false, why: null };
  const obstacle = !comparing ? 'needs the comparison (not with --no-compare)'
    : iface === undefined ? 'needs a live capture: a file holds no shadow traffic' : null;
  if (obstacle !== null) {
    if (when === 'on') throw new ConfigError('--wire-timing', obstacle);
    return { wireTiming: false, why: comparing ? obstacle : null };
  }
  for (const t of targets) {
    let address: string;
    try {
      address = targetAddress(t).address;
    } catch (e) {
      if (when === 'on') throw e;
      return { wireTiming: false, why: `${t} is not an IP address, which a capture filter needs` };
    }
    if (when === 'on') continue;
    const dev = routeInterface(address);
    if (iface !== 'any' && dev !== iface) {
      return { wireTiming: false, why: `${t} is reached ${dev === null ? 'by no known route' : `over ${dev}`}, not over the captured ${iface}` };
    }
  }
  return { wireTiming: true, why: null };
}

export function originUrl(raw: string, flag: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(flag, `not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(flag, `needs http:// or https://, got ${raw}`);
  if (url.pathname !== '/' || url.search !== '') throw new ConfigError(flag, `give an origin only (no path): ${raw}`);
  // URL.origin drops them: say so rather than replay without them.
  if (url.username !== '' || url.password !== '') {
    throw new ConfigError(flag, `credentials in the URL are not sent; give them as a header instead (--set-header 'Authorization: Basic …'): ${url.protocol}//…@${url.host}`);
  }
  return url.origin;
}

/** A JSON path option: '$.a.b', '$.items[*].ts', 'header.x-foo', 'status' or 'body'. */
function fieldPath(raw: string, flag: string): string {
  if (raw === 'status' || raw === 'body' || raw === 'grpc-status' || raw === 'grpc-message' || raw === 'grpc-framing' || /^header\.[!#$%&'*+.^_`|~0-9a-z-]+$/.test(raw) || /^\$([.[].*)?$/.test(raw)) return raw;
  throw new ConfigError(flag, `not a field path ('$.a.b', '$.items[*].c', 'header.<name>', 'status', 'body', 'grpc-status', 'grpc-message', 'grpc-framing'): ${JSON.stringify(raw)}`);
}

function routes(flags: Flags): RouteOverride[] {
  return readOption(flags, compareOptions.route).map((raw) => {
    const m = /^(?:([A-Za-z]+)\s+)?(\/\S*)$/.exec(raw.trim());
    if (m === null) throw new ConfigError('--route', `expected "[METHOD] /path/:param/*", got ${JSON.stringify(raw)}`);
    return m[1] === undefined ? { pattern: m[2] } : { method: m[1].toUpperCase(), pattern: m[2] };
  });
}

/** The --proto files' services, or null without any; a file that does not load is the option's error. */
function protoSchema(files: string[]): ProtoSchema | null {
  if (files.length === 0) return null;
  try {
    return ProtoSchema.load(files);
  } catch (err) {
    throw new ConfigError('--proto', (err as Error).message);
  }
}

export function compare(flags: Flags): CompareOptions | null {
  if (!readOption(flags, compareOptions.compare)) return null;
  const c = defaultCompareOptions();
  const ignorePaths = new Set(readOption(flags, compareOptions.ignoreField).map((p) => fieldPath(p, '--ignore-field')));
  const ignoreHeaders = new Set(c.diff.ignoreHeaders);
  for (const h of readOption(flags, compareOptions.ignoreHeader)) ignoreHeaders.add(h.toLowerCase());
  const tolerance = new Map<string, number>();
  for (const raw of readOption(flags, compareOptions.tolerance)) {
    const eq = raw.lastIndexOf('=');
    const n = Number(raw.slice(eq + 1));
    if (eq < 0 || !(n >= 0)) throw new ConfigError('--tolerance', `expected PATH=NUMBER (PATH may be *), got ${JSON.stringify(raw)}`);
    const path = raw.slice(0, eq);
    tolerance.set(path === '*' ? '*' : fieldPath(path, '--tolerance'), n);
  }
  return {
    ...c,
    diff: {
      ...c.diff,
      ignorePaths,
      ignoreHeaders,
      numericTolerance: tolerance,
      unorderedArrays: new Set(readOption(flags, compareOptions.unorderedArray).map((p) => fieldPath(p, '--unordered-array'))),
      protoSchema: protoSchema(readOption(flags, compareOptions.proto)),
    },
    routes: routes(flags),
    maxEndpoints: readOption(flags, compareOptions.maxEndpoints),
    latencyWarmup: readOption(flags, compareOptions.latencyWarmup),
    cpuShare: readOption(flags, compareOptions.compareCpu) / 100,
  };
}

/** Thresholds for report and verdict; rates are given in percent on the command line. */
export function thresholdsConfig(flags: Flags): Thresholds {
  const t = thresholdOptions;
  const confidence = readOption(flags, t.latencyConfidence);
  if (confidence >= 100) throw new ConfigError(t.latencyConfidence.long, `expected a percentage from 50 to 99.99, got ${confidence}`);
  return {
    minDiffs: readOption(flags, t.minDiffs),
    minExcess: readOption(flags, t.minExcess) / 100,
    minRelativeExcess: readOption(flags, t.minRelativeExcess) / 100,
    latencyReference: readOption(flags, t.latencyReference) as Thresholds['latencyReference'],
    minNoiseSamples: readOption(flags, t.minNoiseSamples),
    minRequests: readOption(flags, t.minRequests),
    maxMismatchRate: readOption(flags, t.maxMismatch) / 100,
    maxErrorIncrease: readOption(flags, t.maxErrorIncrease) / 100,
    minLatencySamples: readOption(flags, t.minLatencySamples),
    latencyConfidence: confidence / 100,
    maxLatencyRatio: readOption(flags, t.maxLatencyRatio),
    minLatencyDeltaMs: readOption(flags, t.minLatencyDeltaMs),
  };
}

function marker(flags: Flags): ReplayOptions['marker'] {
  if (flags.marker === false) return null;
  const raw = readOption(flags, replayOptions.marker);
  const colon = raw.indexOf(':');
  const name = (colon < 0 ? raw : raw.slice(0, colon)).trim();
  const value = colon < 0 ? '1' : raw.slice(colon + 1).trim();
  if (!headerName.test(name)) throw new ConfigError('--marker', `not a header name: ${JSON.stringify(name)}`);
  return { name, value };
}

/** `--rule`-style parsing with the flag named in the error. */
function parsed<T>(flag: string, raw: string, parse: (x: string) => T): T {
  try {
    return parse(raw);
  } catch (e) {
    if (e instanceof RuleError) throw new ConfigError(flag, e.message);
    throw e;
  }
}

const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function headerNameFlag(flag: string, raw: string): string {
  if (!headerName.test(raw)) throw new ConfigError(flag, `not a header name: ${JSON.stringify(raw)}`);
  return raw;
}

function nameValue(flag: string, raw: string, sep: string): [string, string] {
  const at = raw.indexOf(sep);
  if (at <= 0) throw new ConfigError(flag, `expected NAME${sep}VALUE, got ${JSON.stringify(raw)}`);
  return [headerNameFlag(flag, raw.slice(0, at).trim()), raw.slice(at + sep.length).trim()];
}

export function traffic(flags: Flags): TrafficOptions {
  let methods: ReadonlySet<string> | null = SAFE_METHODS;
  if (readOption(flags, trafficOptions.allowWrites)) {
    if (flags.methods !== undefined) throw new ConfigError('--allow-writes', 'give --allow-writes or --methods, not both');
    methods = null;
  } else if (flags.methods !== undefined) {
    const list = [readOption(flags, trafficOptions.methods) ?? ''].flatMap((m) => m.split(',')).map((m) => m.trim().toUpperCase()).filter((m) => m !== '');
    for (const m of list) if (!/^[A-Z-]+$/.test(m)) throw new ConfigError('--methods', `not a method: ${JSON.stringify(m)}`);
    if (list.length === 0) throw new ConfigError('--methods', 'an empty list mirrors nothing');
    methods = new Set(list);
  }
  const defaultAction = readOption(flags, trafficOptions.defaultAction) as TrafficOptions['defaultAction'];
  const sample = readOption(flags, trafficOptions.sample);
  const sampleBy = readOption(flags, trafficOptions.sampleBy);
  const paths = readOption(flags, trafficOptions.rewritePath).map((raw): [RegExp, string] => {
    const at = raw.indexOf('=>');
    if (at <= 0) throw new ConfigError('--rewrite-path', `expected REGEX=>REPLACEMENT, got ${JSON.stringify(raw)}`);
    try {
      return [new RegExp(raw.slice(0, at)), raw.slice(at + 2)];
    } catch (e) {
      throw new ConfigError('--rewrite-path', (e as Error).message);
    }
  });
  const valueMaps = new Map<string, Map<string, string>>();
  for (const raw of readOption(flags, trafficOptions.mapHeader)) {
    const [name, file] = nameValue('--map-header', raw, '=');
    valueMaps.set(name.toLowerCase(), parsed('--map-header', file, readValueMap));
  }
  return {
    methods,
    rules: readOption(flags, trafficOptions.rule).map((r) => parsed('--rule', r, parseRule)),
    defaultAction,
    samplePercent: sample,
    sampleBy: sampleBy === undefined ? null : parsed('--sample-by', sampleBy, parseSampleKey),
    rewrites: {
      setHeaders: readOption(flags, trafficOptions.setHeader).map((raw) => nameValue('--set-header', raw, ':')),
      removeHeaders: new Set(readOption(flags, trafficOptions.removeHeader).map((h) => headerNameFlag('--remove-header', h).toLowerCase())),
      renameHeaders: new Map(readOption(flags, trafficOptions.renameHeader).map((raw) => {
        const [from, to] = nameValue('--rename-header', raw, ':');
        return [from.toLowerCase(), headerNameFlag('--rename-header', to)];
      })),
      paths,
      headerValueMaps: valueMaps,
      forwardClient: readOption(flags, trafficOptions.forwardClient),
    },
  };
}

export function redactConfig(flags: Flags): RedactOptions {
  const d = defaultRedactOptions();
  let hashKey: Buffer | null = null;
  const keyFile = readOption(flags, redactOptions.redactKeyFile);
  if (keyFile !== undefined) {
    try {
      hashKey = readFileSync(keyFile);
    } catch (e) {
      throw new ConfigError('--redact-key-file', (e as Error).message);
    }
    if (hashKey.length < 16) throw new ConfigError('--redact-key-file', 'the key must be at least 16 bytes');
  }
  return {
    ...d,
    headers: new Set([...d.headers, ...readOption(flags, redactOptions.redactHeader).map((h) => headerNameFlag('--redact-header', h).toLowerCase())]),
    queryParams: new Set(readOption(flags, redactOptions.redactQuery)),
    bodyPaths: new Set(readOption(flags, redactOptions.redactField).map((p) => {
      if (!/^\$([.[].*)?$/.test(p)) throw new ConfigError('--redact-field', `not a JSON path ('$.a.b', '$.items[*].c'): ${JSON.stringify(p)}`);
      return p;
    })),
    hashKey,
    pii: readOption(flags, redactOptions.redactPii),
  };
}

/** --admin HOST:PORT (IPv6 in brackets: [::1]:9464; port 0: any free port) or off. */
export function adminFlag(raw: unknown): { host: string; port: number } | null {
  const text = String(raw ?? adminOptions.admin.default).trim();
  if (text === 'off') return null;
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port > 65535 || (m[1] !== undefined && !isIPv6(m[1]))) {
    throw new ConfigError('--admin', `expected HOST:PORT ([::1]:9464 for IPv6) or off, got ${JSON.stringify(raw)}`);
  }
  return { host: m[1] ?? m[2], port };
}

export interface LogToConfig {
  /** The collector, normalised (syslog+tcp://HOST:PORT). */
  url: string;
  /** Lines queued for it at most (--log-queue); beyond, dropped and counted. */
  maxLines: number;
}

/** --log-to syslog+tcp://HOST:PORT, validated here so a typo fails at start (exit 2). */
function logToFlag(flags: Flags): { logTo?: LogToConfig } {
  const maxLines = readOption(flags, logShipOptions.logQueue);
  const target = readOption(flags, logShipOptions.logTo);
  if (target === undefined) return {};
  try {
    return { logTo: { url: parseLogTarget(target).url, maxLines } };
  } catch (e) {
    throw new ConfigError('--log-to', (e as Error).message);
  }
}

/** The replay flags `run` and `replay` share: the shadows and how requests reach them. */
export function replayFlags(flags: Flags): Partial<ReplayOptions> & { targets: string[] } {
  const shadows = readOption(flags, replayOptions.shadow);
  if (shadows.length === 0) throw new ConfigError('--shadow', 'at least one shadow target is required');
  const targets = shadows.map((x) => originUrl(x, '--shadow'));
  const twice = targets.find((t, i) => targets.indexOf(t) !== i);
  if (twice !== undefined) throw new ConfigError('--shadow', `${twice} is given twice`);
  return {
    targets,
    concurrency: readOption(flags, replayOptions.concurrency),
    queueSize: readOption(flags, replayOptions.queueSize),
    queueBytes: readOption(flags, replayOptions.queueMb) * MiB,
    timeoutMs: readOption(flags, replayOptions.timeoutMs),
    keepHost: readOption(flags, replayOptions.keepHost),
    marker: marker(flags),
    ratePerSecond: flags.rate === undefined ? null : readOption(flags, replayOptions.rate),
    preserveConnections: readOption(flags, replayOptions.preserveConnections),
    pipeline: readOption(flags, replayOptions.pipeline),
    ca: shadowCa(flags),
    shadowProtocol: readOption(flags, replayOptions.shadowProtocol) as ShadowProtocol,
  };
}

/** --shadow-ca: the PEM file's text, read now so that a wrong path fails at start. */
function shadowCa(flags: Flags): string | null {
  const file = readOption(flags, replayOptions.shadowCa);
  if (file === undefined) return null;
  let pem: string;
  try {
    pem = readFileSync(file, 'latin1');
  } catch (e) {
    throw new ConfigError('--shadow-ca', `cannot read ${file}: ${(e as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError('--shadow-ca', `${file} holds no PEM certificate`);
  return pem;
}

/** The replay queues' bytes, all targets together, within the budget's replay share. */
export function withinShare<T extends Partial<ReplayOptions>>(replay: T, memory: MemoryPlan, targets: number): T {
  const share = Math.floor(memory.shares.replay / Math.max(1, targets));
  return { ...replay, queueBytes: Math.min(replay.queueBytes ?? share, share) };
}

/** --duration and --max-requests: a run's own end (null: none). */
export interface StopAfter { durationMs: number | null; maxRequests: number | null }

/** The flags every long-running command shares: its counters, logs and own end. */
export function logFlags(flags: Flags): { statsIntervalMs: number; logLevel: string; logTo?: LogToConfig; stopAfter: StopAfter } {
  return {
    statsIntervalMs: readOption(flags, logOptions.statsInterval) * 1000,
    logLevel: readOption(flags, logOptions.logLevel),
    ...logToFlag(flags),
    stopAfter: {
      durationMs: flags.duration === undefined ? null : Math.round(readOption(flags, stopOptions.duration) * 1000),
      maxRequests: flags.maxRequests === undefined ? null : readOption(flags, stopOptions.maxRequests),
    },
  };
}

export interface RecordConfig extends ReadConfig {
  /** The recording file; rotated parts are output.1, output.2, … */
  output: string;
  /** Mask secrets in what is written (default); false: requests byte for byte. */
  redact: RedactOptions | null;
  maxFileBytes: number;
  maxFiles: number;
  /** Keep production's response bodies (the parts gzip-compressed). */
  bodies: boolean;
  statsIntervalMs: number;
  logLevel: string;
  logTo?: LogToConfig;
  stopAfter: StopAfter;
}

export function recordConfig(flags: Flags): RecordConfig {
  const base = readConfig(flags);
  const output = readOption(flags, recordingOptions.output);
  if (output === undefined || output === '') throw new ConfigError('--output', 'required');
  const bodies = readOption(flags, recordingOptions.bodies);
  if (!readOption(flags, recordingOptions.redact) && readOption(flags, redactOptions.redactPii)) throw new ConfigError('--redact-pii', 'not with --no-redact');
  return {
    ...base,
    // Whole request bodies (to record); production's response hashed, and kept up to --max-response-kb with --bodies.
    http: { ...base.http, keepRequestBodies: true, keepResponseBodies: bodies, hashBodies: true, maxResponseBodyBytes: readOption(flags, recordingOptions.maxResponseKb) << 10 },
    output,
    bodies,
    redact: readOption(flags, recordingOptions.redact) ? redactConfig(flags) : null,
    maxFileBytes: readOption(flags, recordingOptions.maxFileMb) * MiB,
    maxFiles: readOption(flags, recordingOptions.maxFiles),
    ...logFlags(flags),
  };
}

export interface ReplayFileConfig extends ReadConfig {
  file: string;
  traffic: TrafficOptions;
  /** Targets: the shadows, then the baseline when there is one. */
  replay: Partial<ReplayOptions> & { targets: string[] };
  /** `--out`: each answer compared with production's recorded one (null: no comparison). */
  compare: CompareOptions | null;
  baseline: string | null;
  outDir?: string;
  /** `--record-ids`: --out also lists the compared exchanges' ids (exchanges.ids). */
  recordIds: boolean;
  /** Masks the samples written to --out. */
  redact: RedactOptions;
  /** Pacing factor: 2 sends twice as fast as recorded; 0 sends as fast as the shadows take it. */
  speed: number;
  /** Passes over the file. */
  loop: number;
  drainTimeoutMs: number;
  statsIntervalMs: number;
  logLevel: string;
  logTo?: LogToConfig;
  stopAfter: StopAfter;
}

/** --baseline (null without one), never one of the shadows; `targets`: the shadows, then it. */
export function withBaseline(flags: Flags, shadows: string[]): { baseline: string | null; targets: string[] } {
  const flag = readOption(flags, compareOptions.baseline);
  const baseline = flag === undefined ? null : originUrl(flag, '--baseline');
  if (baseline !== null && shadows.includes(baseline)) throw new ConfigError('--baseline', 'the baseline must not also be a shadow');
  return { baseline, targets: baseline === null ? shadows : [...shadows, baseline] };
}

export function replayFileConfig(flags: Flags): ReplayFileConfig {
  if (flags.file === undefined) throw new ConfigError('--file', 'required');
  const base = readConfig(flags);
  const shadows = replayFlags(flags);
  const outDir = readOption(flags, compareOptions.out);
  const { baseline, targets } = withBaseline(flags, shadows.targets);
  if (baseline !== null && outDir === undefined) throw new ConfigError('--baseline', 'needs --out (the comparison)');
  const recordIds = readOption(flags, resultIdsOptions.recordIds) === true;
  if (recordIds && outDir === undefined) throw new ConfigError('--record-ids', 'needs --out (the ids are listed in its directory)');
  const cmp = outDir === undefined ? null : compare(flags);
  const responseKb = readOption(flags, compareOptions.compareBodyKb);
  return {
    ...base,
    http: { ...base.http, keepRequestBodies: true, keepResponseBodies: false, hashBodies: false },
    file: String(flags.file),
    traffic: traffic(flags),
    replay: { ...withinShare(shadows, base.memory, targets.length), targets, keepResponseBytes: cmp === null ? 0 : responseKb << 10 },
    compare: cmp === null ? null : withinCompareShare(cmp, base.memory, responseKb),
    baseline,
    outDir,
    recordIds,
    redact: redactConfig(flags),
    speed: readOption(flags, pacingOptions.speed),
    loop: readOption(flags, pacingOptions.loop),
    drainTimeoutMs: readOption(flags, replayOptions.drainTimeoutMs),
    ...logFlags(flags),
  };
}

/** The comparison within its memory share, bodies decoded up to 8 × what is kept. */
export function withinCompareShare(cmp: CompareOptions, memory: MemoryPlan, responseKb: number): CompareOptions {
  return {
    ...cmp,
    diff: { ...cmp.diff, maxBodyBytes: Math.max(16 << 20, (responseKb << 10) * 8) },
    // The comparison's share: half for exchanges waiting to be diffed, a quarter each for
    // those waiting for their other half and for the repeat cache.
    maxQueuedBytes: Math.min(cmp.maxQueuedBytes, memory.shares.compare / 2),
    maxPendingJoinBytes: Math.min(cmp.maxPendingJoinBytes, memory.shares.compare / 4),
    repeatBytes: Math.min(cmp.repeatBytes, memory.shares.compare / 4),
  };
}

export function runConfig(flags: Flags): RunConfig {
  const base = readConfig(flags);
  const base0 = replayFlags(flags);
  const { baseline, targets: allTargets } = withBaseline(flags, base0.targets);
  const cmp = compare(flags);
  if (cmp === null && (baseline !== null || flags.out !== undefined)) {
    throw new ConfigError('--no-compare', '--baseline and --out need the comparison');
  }
  const responseKb = readOption(flags, compareOptions.compareBodyKb);
  const logs = logFlags(flags);
  const shared = withinShare(base0, base.memory, allTargets.length);
  const { wireTiming, why: wireTimingNote } = wireTimingChoice(flags.wireTiming, cmp !== null, flags.out !== undefined, base.source.interface, allTargets);
  if (wireTiming) {
    const also = allTargets.map((t) => targetAddress(t));
    // The replays' packets are captured too, and located for their timing (never reassembled).
    base.source = { ...base.source, alsoCapture: also };
  }
  return {
    ...base,
    wireTiming,
    wireTimingNote,
    http: {
      ...base.http, keepRequestBodies: true, hashBodies: false,
      keepResponseBodies: cmp !== null, maxResponseBodyBytes: responseKb << 10,
    },
    compare: cmp === null ? null : withinCompareShare(cmp, base.memory, responseKb),
    baseline,
    outDir: readOption(flags, compareOptions.out),
    traffic: traffic(flags),
    redact: redactConfig(flags),
    replay: {
      ...shared,
      targets: allTargets,
      keepResponseBytes: cmp === null ? 0 : responseKb << 10,
    },
    drainTimeoutMs: readOption(flags, replayOptions.drainTimeoutMs),
    ...logs,
    admin: adminFlag(flags.admin),
    workers: readOption(flags, workerOptions.workers),
  };
}
