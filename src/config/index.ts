// One validated configuration object per command, built from flags. Stages never read
// flags or the environment; they receive the parts of this object that concern them.

import type { HttpOptions } from '../http';
import type { ReplayOptions } from '../replay';
import type { ReassemblyOptions } from '../tcp';

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
}

export interface ReadConfig {
  source: SourceConfig;
  summaryJson?: string;
  tcp: Partial<ReassemblyOptions>;
  http: Partial<HttpOptions>;
}

export interface RunConfig extends ReadConfig {
  replay: Partial<ReplayOptions> & { targets: string[] };
  statsIntervalMs: number;
  drainTimeoutMs: number;
  logLevel: string;
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
  const raw = flags.port;
  if (raw === undefined) return [];
  const list = (Array.isArray(raw) ? raw : [raw]).flatMap((x) => String(x).split(','));
  return list.map((p) => {
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

function shadowUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('--shadow', `not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('--shadow', `needs http:// or https://, got ${raw}`);
  if (url.pathname !== '/' || url.search !== '') throw new ConfigError('--shadow', `give an origin only (no path): ${raw}`);
  return url.origin;
}

function marker(flags: Flags): ReplayOptions['marker'] {
  if (flags.marker === false) return null;
  const raw = typeof flags.marker === 'string' ? flags.marker : 'x-shadowtap: 1';
  const colon = raw.indexOf(':');
  const name = (colon < 0 ? raw : raw.slice(0, colon)).trim();
  const value = colon < 0 ? '1' : raw.slice(colon + 1).trim();
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new ConfigError('--marker', `not a header name: ${JSON.stringify(name)}`);
  return { name, value };
}

export function runConfig(flags: Flags): RunConfig {
  const base = readConfig(flags);
  const shadows = (flags.shadow as string[] | undefined) ?? [];
  if (shadows.length === 0) throw new ConfigError('--shadow', 'at least one shadow target is required');
  const logLevel = (flags.logLevel as string | undefined) ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError('--log-level', `unknown level ${logLevel}`);
  }
  return {
    ...base,
    http: { ...base.http, keepRequestBodies: true, hashBodies: false },
    replay: {
      targets: shadows.map(shadowUrl),
      concurrency: int(flags, 'concurrency', '--concurrency', 64, 1, 10_000),
      queueSize: int(flags, 'queueSize', '--queue-size', 10_000, 1, 10_000_000),
      queueBytes: int(flags, 'queueMb', '--queue-mb', 256, 1, 65536) << 20,
      timeoutMs: int(flags, 'timeoutMs', '--timeout-ms', 10_000, 1, 600_000),
      keepHost: flags.keepHost === true,
      marker: marker(flags),
    },
    statsIntervalMs: int(flags, 'statsInterval', '--stats-interval', 10, 0, 86400) * 1000,
    drainTimeoutMs: int(flags, 'drainTimeoutMs', '--drain-timeout-ms', 5000, 0, 600_000),
    logLevel,
  };
}
