// Before anything starts: the capture opens, every shadow's name resolves, and no shadow is
// production itself. `check-config --strict` runs the same checks without starting.

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { OpenedSource, SourceSpec, openSource } from '../capture';
import { existsSync } from 'node:fs';
import { ConfigError, EnvironmentError } from '../config/error';
import { sniffFile } from '../recording';
import { checkWritableDir, checkWritableFile } from '../report';

/** How long a shadow's name may take to resolve before preflight gives up on it. */
const LOOKUP_TIMEOUT_MS = 3000;

/** Opens the capture; libpcap's refusal becomes one line naming the flag and what to do. */
export function openCapture(spec: SourceSpec): OpenedSource {
  try {
    return openSource(spec);
  } catch (err) {
    throw captureProblem(spec, (err as Error).message);
  }
}

function captureProblem(spec: SourceSpec, message: string): Error {
  if (/invalid capture filter/i.test(message)) return new ConfigError(spec.filter !== undefined ? '--filter' : '--port', `${message} (see man pcap-filter)`);
  if (spec.file !== undefined) {
    const hint = /unknown file format|bad dump file format/i.test(message) ? ' (not a pcap or pcapng capture)' : '';
    return new ConfigError('--file', `${message}${hint}`);
  }
  if (/no such device/i.test(message)) return new EnvironmentError('--interface', `no interface "${spec.interface}" on this host (\`shadowtap devices\` lists them)`);
  if (/not up/i.test(message)) return new EnvironmentError('--interface', `${message}: bring it up first (ip link set ${spec.interface} up)`);
  if (/permission|not permitted|CAP_NET_RAW/i.test(message)) {
    return new EnvironmentError('--interface', /CAP_NET_RAW/.test(message) ? message : `${message}; live capture needs root or CAP_NET_RAW`);
  }
  return new EnvironmentError('--interface', message);
}

/** A target as the replay reaches it: the flag that named it, its host and port. */
export interface TargetRef { url: string; flag: string }

/** This host's own addresses (every interface's), and the wildcards that reach them. */
function ownAddresses(): Set<string> {
  const own = new Set(['0.0.0.0', '::']);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) own.add(a.address);
  return own;
}

async function resolve(host: string, ref: TargetRef): Promise<string[]> {
  if (isIP(host) !== 0) return [host];
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('no answer'), { code: `timeout after ${LOOKUP_TIMEOUT_MS / 1000} s` })), LOOKUP_TIMEOUT_MS);
  });
  try {
    const found = await Promise.race([lookup(host, { all: true }), late]);
    return found.map((a) => a.address);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new EnvironmentError(ref.flag, `${ref.url}: the name ${host} does not resolve (${code}); check the name, DNS or /etc/hosts`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Every target's name must resolve. With a live capture, a target is production itself when
 * it resolves to one of this host's interface addresses (or a wildcard) at a captured --port:
 * every request would reach production twice. (127.0.0.2 is not an interface address: a
 * shadow there at production's port is another listener, and is allowed.)
 */
export async function checkTargets(targets: TargetRef[], capture: Pick<SourceSpec, 'interface' | 'ports'> | null): Promise<void> {
  const own = capture?.interface !== undefined ? ownAddresses() : null;
  for (const ref of targets) {
    const url = new URL(ref.url);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    const addresses = await resolve(host, ref);
    if (own === null || !capture!.ports.includes(port)) continue;
    const mine = addresses.find((a) => own.has(a));
    if (mine !== undefined) {
      throw new ConfigError(ref.flag, `${ref.url} is production itself (${mine} is this host's address and ${port} a captured --port): ` +
        'every request would reach production twice; give the shadow\'s own address or port');
    }
  }
}

/** The targets of a run or replay, each with the flag that named it. */
export function targetRefs(targets: string[], baseline: string | null = null): TargetRef[] {
  return targets.map((url) => ({ url, flag: url === baseline ? '--baseline' : '--shadow' }));
}

/** What a command's configuration names on this host, as far as it shows without starting. */
export interface Preflighted {
  /** What is captured (a fleet worker captures nothing). */
  source?: SourceSpec;
  replay?: { targets: string[] };
  baseline?: string | null;
  outDir?: string;
  /** record's --output: a new file. */
  output?: string;
}

/** `check-config --strict`: the preflight of a start, then everything closed again. */
export async function preflightOnly(cfg: Preflighted): Promise<void> {
  if (cfg.replay !== undefined) await checkTargets(targetRefs(cfg.replay.targets, cfg.baseline ?? null), cfg.source ?? null);
  if (cfg.outDir !== undefined) wrap('--out', () => checkWritableDir(cfg.outDir!));
  if (cfg.source === undefined) return;
  if (cfg.output !== undefined) {
    if (existsSync(cfg.output)) throw new ConfigError('--output', `${cfg.output}: exists (a recording is never overwritten)`);
    wrap('--output', () => checkWritableFile(cfg.output!));
  }
  // A recording (replay --file) is no capture: replay itself tells the two apart.
  if (cfg.source.file !== undefined) {
    const file = cfg.source.file;
    let kind: string = 'unknown';
    wrap('--file', () => { kind = sniffFile(file); });
    if (kind === 'recording') return;
  }
  openCapture(cfg.source).close();
}

function wrap(flag: string, check: () => void): void {
  try {
    check();
  } catch (err) {
    throw new ConfigError(flag, (err as Error).message);
  }
}
