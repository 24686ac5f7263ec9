// One validated configuration object per command, built from flags. Stages never read
// flags or the environment; they receive the parts of this object that concern them.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isIPv6 } from 'node:net';
import { routeInterface } from '../capture/route';
import { parseLogTarget } from '../report/logship';
import type { CompareOptions, RouteOverride } from '../compare';
import { defaultCompareOptions } from '../compare';
import type { HttpOptions } from '../http';
import type { Thresholds } from '../report/analysis';
import { defaultThresholds } from '../report/analysis';
import type { ReplayOptions } from '../replay';
import type { ReassemblyOptions } from '../tcp';
import { RedactOptions, RuleError, SAFE_METHODS, TrafficOptions, defaultRedactOptions, parseRule, parseSampleKey, readValueMap } from '../traffic';

export class ConfigError extends Error {
  constructor(readonly key: string, message: string) {
    super(`${key}: ${message}`);
  }
}

export interface SourceConfig {
  /** Live interface, or undefined when reading a file. */
  interface?: string;
  file?: string;
  ports: number[];
  filter?: string;
  snaplen: number;
  promiscuous: boolean;
  bufferBytes: number;
  timeoutMs: number;
  /** Also captured (--wire-timing): the replay targets' own connections. */
  alsoCapture?: Array<{ address: string; port: number }>;
}

export interface ReadConfig {
  source: SourceConfig;
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
}

/** Raw option values as commander hands them over. */
export type Flags = Record<string, unknown>;

function int(flags: Flags, key: string, flag: string, def: number, min: number, max: number): number {
  const v = flags[key];
  if (v === undefined) return def;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(flag, `expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return n;
}

function ports(flags: Flags): number[] {
  return strings(flags.port).flatMap((x) => x.split(',')).map((p) => {
    const n = Number(p.trim());
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ConfigError('--port', `not a TCP port: ${JSON.stringify(p)}`);
    return n;
  });
}

function source(flags: Flags): SourceConfig {
  const iface = flags.interface as string | undefined;
  const file = flags.file as string | undefined;
  if ((iface === undefined) === (file === undefined)) {
    throw new ConfigError('--interface', 'give exactly one of --interface or --file');
  }
  const p = ports(flags);
  const filter = flags.filter as string | undefined;
  if (iface !== undefined && p.length === 0 && filter === undefined) {
    throw new ConfigError('--port', 'live capture needs --port or --filter (mirroring every TCP flow is rarely meant)');
  }
  return {
    interface: iface,
    file,
    ports: p,
    filter,
    snaplen: int(flags, 'snaplen', '--snaplen', 262144, 64, 262144),
    promiscuous: flags.promisc === true,
    bufferBytes: int(flags, 'bufferMb', '--buffer-mb', 64, 1, 4096) << 20,
    timeoutMs: int(flags, 'pcapTimeoutMs', '--pcap-timeout-ms', 10, 1, 1000),
  };
}

function tcp(flags: Flags, src: SourceConfig): Partial<ReassemblyOptions> {
  return {
    idleTimeoutMs: int(flags, 'idleTimeout', '--idle-timeout', 60, 1, 86400) * 1000,
    maxConnections: int(flags, 'maxConnections', '--max-connections', 100_000, 16, 10_000_000),
    maxBufferedPerDirection: int(flags, 'maxBufferMb', '--max-buffer-mb', 4, 1, 1024) << 20,
    maxBufferedTotal: int(flags, 'maxTotalBufferMb', '--max-total-buffer-mb', 256, 1, 65536) << 20,
    serverPorts: new Set(src.ports),
  };
}

export function readConfig(flags: Flags): ReadConfig {
  const src = source(flags);
  return {
    source: src,
    summaryJson: flags.summaryJson as string | undefined,
    tcp: tcp(flags, src),
    http: {
      keepRequestBodies: false,
      keepResponseBodies: false,
      hashBodies: true,
      maxBodyBytes: int(flags, 'maxBodyMb', '--max-body-mb', 16, 0, 4096) << 20,
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
 * that can work — comparison on, a live capture, the marker header, and every target an IP
 * literal whose route leaves through the captured interface. `why` says what stood in the way.
 */
function wireTimingChoice(raw: unknown, comparing: boolean, iface: string | undefined, marked: boolean, targets: string[]): { wireTiming: boolean; why: string | null } {
  const when = raw === true || raw === 'on' ? 'on' : raw === false || raw === 'off' ? 'off' : raw === undefined || raw === 'auto' ? 'auto' : null;
  if (when === null) throw new ConfigError('--wire-timing', `expected on, off or auto, got ${JSON.stringify(raw)}`);
  if (when === 'off') return { wireTiming: false, why: null };
  const obstacle = !comparing ? 'needs the comparison (not with --no-compare)'
    : iface === undefined ? 'needs a live capture: a file holds no shadow traffic'
      : !marked ? 'needs the marker header (it tells the replays apart)' : null;
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

function originUrl(raw: string, flag: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(flag, `not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(flag, `needs http:// or https://, got ${raw}`);
  if (url.pathname !== '/' || url.search !== '') throw new ConfigError(flag, `give an origin only (no path): ${raw}`);
  return url.origin;
}

/** A flag's values as strings: none, one, or a repeatable flag's list. */
const strings = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);

/** A JSON path option: '$.a.b', '$.items[*].ts', 'header.x-foo', 'status' or 'body'. */
function fieldPath(raw: string, flag: string): string {
  if (raw === 'status' || raw === 'body' || /^header\.[!#$%&'*+.^_`|~0-9a-z-]+$/.test(raw) || /^\$([.[].*)?$/.test(raw)) return raw;
  throw new ConfigError(flag, `not a field path ('$.a.b', '$.items[*].c', 'header.<name>', 'status', 'body'): ${JSON.stringify(raw)}`);
}

function routes(flags: Flags): RouteOverride[] {
  return strings(flags.route).map((raw) => {
    const m = /^(?:([A-Za-z]+)\s+)?(\/\S*)$/.exec(raw.trim());
    if (m === null) throw new ConfigError('--route', `expected "[METHOD] /path/:param/*", got ${JSON.stringify(raw)}`);
    return m[1] === undefined ? { pattern: m[2] } : { method: m[1].toUpperCase(), pattern: m[2] };
  });
}

function compare(flags: Flags): CompareOptions | null {
  if (flags.compare === false) return null;
  const c = defaultCompareOptions();
  const ignorePaths = new Set(strings(flags.ignoreField).map((p) => fieldPath(p, '--ignore-field')));
  const ignoreHeaders = new Set(c.diff.ignoreHeaders);
  for (const h of strings(flags.ignoreHeader)) ignoreHeaders.add(h.toLowerCase());
  const tolerance = new Map<string, number>();
  for (const raw of strings(flags.tolerance)) {
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
      unorderedArrays: new Set(strings(flags.unorderedArray).map((p) => fieldPath(p, '--unordered-array'))),
    },
    routes: routes(flags),
    maxEndpoints: int(flags, 'maxEndpoints', '--max-endpoints', c.maxEndpoints, 1, 100_000),
    latencyWarmup: int(flags, 'latencyWarmup', '--latency-warmup', c.latencyWarmup, 0, 1e9),
    cpuShare: int(flags, 'compareCpu', '--compare-cpu', c.cpuShare * 100, 1, 100) / 100,
  };
}

function fraction(flags: Flags, key: string, flag: string, def: number, max: number): number {
  const v = flags[key];
  if (v === undefined) return def;
  const n = Number(v);
  if (!(n >= 0 && n <= max)) throw new ConfigError(flag, `expected a number from 0 to ${max}, got ${JSON.stringify(v)}`);
  return n;
}

function latencyReference(v: unknown): Thresholds['latencyReference'] {
  if (v === undefined) return defaultThresholds.latencyReference;
  if (v === 'baseline' || v === 'production') return v;
  throw new ConfigError('--latency-reference', `expected baseline or production, got ${JSON.stringify(v)}`);
}

function latencyConfidence(flags: Flags): number {
  const percent = fraction(flags, 'latencyConfidence', '--latency-confidence', defaultThresholds.latencyConfidence * 100, 100);
  if (!(percent >= 50 && percent < 100)) throw new ConfigError('--latency-confidence', `expected a percentage from 50 to 99.99, got ${percent}`);
  return percent / 100;
}

/** Thresholds for report and verdict; rates are given in percent on the command line. */
export function thresholdsConfig(flags: Flags): Thresholds {
  const d = defaultThresholds;
  return {
    minDiffs: int(flags, 'minDiffs', '--min-diffs', d.minDiffs, 1, 1e9),
    minExcess: fraction(flags, 'minExcess', '--min-excess', d.minExcess * 100, 100) / 100,
    minRelativeExcess: fraction(flags, 'minRelativeExcess', '--min-relative-excess', d.minRelativeExcess * 100, 100) / 100,
    latencyReference: latencyReference(flags.latencyReference),
    minNoiseSamples: int(flags, 'minNoiseSamples', '--min-noise-samples', d.minNoiseSamples, 1, 1e9),
    minRequests: int(flags, 'minRequests', '--min-requests', d.minRequests, 1, 1e9),
    maxMismatchRate: fraction(flags, 'maxMismatch', '--max-mismatch', d.maxMismatchRate * 100, 100) / 100,
    maxErrorIncrease: fraction(flags, 'maxErrorIncrease', '--max-error-increase', d.maxErrorIncrease * 100, 100) / 100,
    minLatencySamples: int(flags, 'minLatencySamples', '--min-latency-samples', d.minLatencySamples, 1, 1e9),
    latencyConfidence: latencyConfidence(flags),
    maxLatencyRatio: fraction(flags, 'maxLatencyRatio', '--max-latency-ratio', d.maxLatencyRatio, 1e6),
    minLatencyDeltaMs: fraction(flags, 'minLatencyDeltaMs', '--min-latency-delta-ms', d.minLatencyDeltaMs, 1e9),
  };
}

function marker(flags: Flags): ReplayOptions['marker'] {
  if (flags.marker === false) return null;
  const raw = typeof flags.marker === 'string' ? flags.marker : 'x-shadowtap: 1';
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

function traffic(flags: Flags): TrafficOptions {
  let methods: ReadonlySet<string> | null = SAFE_METHODS;
  if (flags.allowWrites === true) {
    if (flags.methods !== undefined) throw new ConfigError('--allow-writes', 'give --allow-writes or --methods, not both');
    methods = null;
  } else if (flags.methods !== undefined) {
    const list = strings(flags.methods).flatMap((m) => m.split(',')).map((m) => m.trim().toUpperCase()).filter((m) => m !== '');
    for (const m of list) if (!/^[A-Z-]+$/.test(m)) throw new ConfigError('--methods', `not a method: ${JSON.stringify(m)}`);
    if (list.length === 0) throw new ConfigError('--methods', 'an empty list mirrors nothing');
    methods = new Set(list);
  }
  const defaultAction = (flags.defaultAction as string | undefined) ?? 'allow';
  if (defaultAction !== 'allow' && defaultAction !== 'deny') throw new ConfigError('--default-action', `allow or deny, got ${JSON.stringify(defaultAction)}`);
  const sample = flags.sample === undefined ? 100 : Number(flags.sample);
  if (!(sample >= 0 && sample <= 100)) throw new ConfigError('--sample', `a percentage from 0 to 100, got ${JSON.stringify(flags.sample)}`);
  const paths = strings(flags.rewritePath).map((raw): [RegExp, string] => {
    const at = raw.indexOf('=>');
    if (at <= 0) throw new ConfigError('--rewrite-path', `expected REGEX=>REPLACEMENT, got ${JSON.stringify(raw)}`);
    try {
      return [new RegExp(raw.slice(0, at)), raw.slice(at + 2)];
    } catch (e) {
      throw new ConfigError('--rewrite-path', (e as Error).message);
    }
  });
  const valueMaps = new Map<string, Map<string, string>>();
  for (const raw of strings(flags.mapHeader)) {
    const [name, file] = nameValue('--map-header', raw, '=');
    valueMaps.set(name.toLowerCase(), parsed('--map-header', file, readValueMap));
  }
  return {
    methods,
    rules: strings(flags.rule).map((r) => parsed('--rule', r, parseRule)),
    defaultAction,
    samplePercent: sample,
    sampleBy: flags.sampleBy === undefined ? null : parsed('--sample-by', String(flags.sampleBy), parseSampleKey),
    rewrites: {
      setHeaders: strings(flags.setHeader).map((raw) => nameValue('--set-header', raw, ':')),
      removeHeaders: new Set(strings(flags.removeHeader).map((h) => headerNameFlag('--remove-header', h).toLowerCase())),
      renameHeaders: new Map(strings(flags.renameHeader).map((raw) => {
        const [from, to] = nameValue('--rename-header', raw, ':');
        return [from.toLowerCase(), headerNameFlag('--rename-header', to)];
      })),
      paths,
      headerValueMaps: valueMaps,
      forwardClient: flags.forwardClient === true,
    },
  };
}

export function redactConfig(flags: Flags): RedactOptions {
  const d = defaultRedactOptions();
  let hashKey: Buffer | null = null;
  if (flags.redactKeyFile !== undefined) {
    try {
      hashKey = readFileSync(String(flags.redactKeyFile));
    } catch (e) {
      throw new ConfigError('--redact-key-file', (e as Error).message);
    }
    if (hashKey.length < 16) throw new ConfigError('--redact-key-file', 'the key must be at least 16 bytes');
  }
  return {
    ...d,
    headers: new Set([...d.headers, ...strings(flags.redactHeader).map((h) => headerNameFlag('--redact-header', h).toLowerCase())]),
    queryParams: new Set(strings(flags.redactQuery)),
    bodyPaths: new Set(strings(flags.redactField).map((p) => {
      if (!/^\$([.[].*)?$/.test(p)) throw new ConfigError('--redact-field', `not a JSON path ('$.a.b', '$.items[*].c'): ${JSON.stringify(p)}`);
      return p;
    })),
    hashKey,
  };
}

function logLevelFlag(flags: Flags): string {
  const logLevel = (flags.logLevel as string | undefined) ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError('--log-level', `unknown level ${logLevel}`);
  }
  return logLevel;
}

/** --admin HOST:PORT (IPv6 in brackets: [::1]:9464; port 0: any free port) or off. */
export function adminFlag(raw: unknown): { host: string; port: number } | null {
  if (raw === undefined) return { host: '127.0.0.1', port: 9464 };
  const text = String(raw).trim();
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
  const maxLines = int(flags, 'logQueue', '--log-queue', 10_000, 1, 10_000_000);
  if (flags.logTo === undefined) return {};
  try {
    return { logTo: { url: parseLogTarget(String(flags.logTo)).url, maxLines } };
  } catch (e) {
    throw new ConfigError('--log-to', (e as Error).message);
  }
}

/** The replay flags `run` and `replay` share: the shadows and how requests reach them. */
export function replayFlags(flags: Flags): Partial<ReplayOptions> & { targets: string[] } {
  const shadows = (flags.shadow as string[] | undefined) ?? [];
  if (shadows.length === 0) throw new ConfigError('--shadow', 'at least one shadow target is required');
  const targets = shadows.map((x) => originUrl(x, '--shadow'));
  const twice = targets.find((t, i) => targets.indexOf(t) !== i);
  if (twice !== undefined) throw new ConfigError('--shadow', `${twice} is given twice`);
  return {
    targets,
    concurrency: int(flags, 'concurrency', '--concurrency', 64, 1, 10_000),
    queueSize: int(flags, 'queueSize', '--queue-size', 10_000, 1, 10_000_000),
    queueBytes: int(flags, 'queueMb', '--queue-mb', 256, 1, 65536) * MiB,
    timeoutMs: int(flags, 'timeoutMs', '--timeout-ms', 10_000, 1, 600_000),
    keepHost: flags.keepHost === true,
    marker: marker(flags),
    ratePerSecond: flags.rate === undefined ? null : int(flags, 'rate', '--rate', 0, 1, 10_000_000),
    preserveConnections: flags.preserveConnections === true,
  };
}

const MiB = 1 << 20;

export interface RecordConfig extends ReadConfig {
  /** The recording file; rotated parts are output.1, output.2, … */
  output: string;
  /** Mask secrets in what is written (default); false: requests byte for byte. */
  redact: RedactOptions | null;
  maxFileBytes: number;
  maxFiles: number;
  statsIntervalMs: number;
  logLevel: string;
  logTo?: LogToConfig;
}

export function recordConfig(flags: Flags): RecordConfig {
  const base = readConfig(flags);
  const output = flags.output as string | undefined;
  if (output === undefined || output === '') throw new ConfigError('--output', 'required');
  return {
    ...base,
    // Whole request bodies (to record), production's response only hashed.
    http: { ...base.http, keepRequestBodies: true, keepResponseBodies: false, hashBodies: true },
    output,
    redact: flags.redact === false ? null : redactConfig(flags),
    maxFileBytes: int(flags, 'maxFileMb', '--max-file-mb', 256, 1, 1 << 20) * MiB,
    maxFiles: int(flags, 'maxFiles', '--max-files', 10, 1, 1_000_000),
    statsIntervalMs: int(flags, 'statsInterval', '--stats-interval', 10, 0, 86400) * 1000,
    logLevel: logLevelFlag(flags),
    ...logToFlag(flags),
  };
}

export interface ReplayFileConfig extends ReadConfig {
  file: string;
  traffic: TrafficOptions;
  replay: Partial<ReplayOptions> & { targets: string[] };
  /** Pacing factor: 2 sends twice as fast as recorded; 0 sends as fast as the shadows take it. */
  speed: number;
  /** Passes over the file. */
  loop: number;
  drainTimeoutMs: number;
  statsIntervalMs: number;
  logLevel: string;
  logTo?: LogToConfig;
}

export function replayFileConfig(flags: Flags): ReplayFileConfig {
  if (flags.file === undefined) throw new ConfigError('--file', 'required');
  const base = readConfig(flags);
  const speed = flags.speed === undefined ? 1 : Number(flags.speed);
  if (!(Number.isFinite(speed) && speed >= 0 && speed <= 1e6)) {
    throw new ConfigError('--speed', `expected a number from 0 (as fast as possible) to 1000000, got ${JSON.stringify(flags.speed)}`);
  }
  return {
    ...base,
    http: { ...base.http, keepRequestBodies: true, keepResponseBodies: false, hashBodies: false },
    file: String(flags.file),
    traffic: traffic(flags),
    replay: replayFlags(flags),
    speed,
    loop: int(flags, 'loop', '--loop', 1, 1, 1_000_000),
    drainTimeoutMs: int(flags, 'drainTimeoutMs', '--drain-timeout-ms', 5000, 0, 600_000),
    statsIntervalMs: int(flags, 'statsInterval', '--stats-interval', 10, 0, 86400) * 1000,
    logLevel: logLevelFlag(flags),
    ...logToFlag(flags),
  };
}

export function runConfig(flags: Flags): RunConfig {
  const base = readConfig(flags);
  const shared = replayFlags(flags);
  const targets = shared.targets;
  const baseline = flags.baseline === undefined ? null : originUrl(String(flags.baseline), '--baseline');
  if (baseline !== null && targets.includes(baseline)) throw new ConfigError('--baseline', 'the baseline must not also be a shadow');
  const cmp = compare(flags);
  if (cmp === null && (baseline !== null || flags.out !== undefined)) {
    throw new ConfigError('--no-compare', '--baseline and --out need the comparison');
  }
  const responseKb = int(flags, 'compareBodyKb', '--compare-body-kb', 1024, 0, 1 << 20);
  const logLevel = logLevelFlag(flags);
  const allTargets = baseline === null ? targets : [...targets, baseline];
  const { wireTiming, why: wireTimingNote } = wireTimingChoice(flags.wireTiming, cmp !== null, base.source.interface,
    shared.marker !== null && shared.marker !== undefined, allTargets);
  if (wireTiming) {
    const also = allTargets.map((t) => targetAddress(t));
    base.source = { ...base.source, alsoCapture: also };
    base.tcp = { ...base.tcp, serverPorts: new Set([...(base.tcp.serverPorts ?? []), ...also.map((a) => a.port)]) };
    // The replays are only timed: their bodies are neither kept nor hashed.
    base.http = { ...base.http, bodilessServers: new Set(also.map((a) => `${a.address}:${a.port}`)) };
  }
  return {
    ...base,
    wireTiming,
    wireTimingNote,
    http: {
      ...base.http, keepRequestBodies: true, hashBodies: false,
      keepResponseBodies: cmp !== null, maxResponseBodyBytes: responseKb << 10,
    },
    compare: cmp === null ? null : { ...cmp, diff: { ...cmp.diff, maxBodyBytes: Math.max(16 << 20, (responseKb << 10) * 8) } },
    baseline,
    outDir: flags.out as string | undefined,
    traffic: traffic(flags),
    redact: redactConfig(flags),
    replay: {
      ...shared,
      targets: allTargets,
      keepResponseBytes: cmp === null ? 0 : responseKb << 10,
    },
    statsIntervalMs: int(flags, 'statsInterval', '--stats-interval', 10, 0, 86400) * 1000,
    drainTimeoutMs: int(flags, 'drainTimeoutMs', '--drain-timeout-ms', 5000, 0, 600_000),
    logLevel,
    ...logToFlag(flags),
    admin: adminFlag(flags.admin),
  };
}
