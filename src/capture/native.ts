/**
 * Loader and type declarations for the libpcap addon built from native/
 * (`npx node-gyp rebuild -C native` → native/build/Release/shadowtap_pcap.node).
 */
import * as fs from 'fs';
import * as path from 'path';

/** Options of the native LiveHandle (see native/src/pcap_binding.cc). */
export interface NativeLiveOptions {
  device: string;
  filter?: string;
  /** Bytes captured per packet, 64..262144 (default 262144). */
  snaplen?: number;
  promiscuous?: boolean;
  /** Kernel ring size in bytes (default 64 MiB). */
  bufferSize?: number;
  /** Packet-buffer timeout: upper bound on delivery latency, 1 ms to 60 s (default 10 ms; 0 is
   * refused: libpcap would wait for a full ring block and deliver nothing). */
  timeoutMs?: number;
  immediate?: boolean;
  /** Capture only packets the interface receives (libpcap's PCAP_D_IN): right for loopback,
   * where every packet is also seen as sent; wrong elsewhere (a host's own answers are sent). */
  inboundOnly?: boolean;
  /** Target batch size (default 1 MiB, raised to at least snaplen + 16). */
  batchBytes?: number;
  /** Memory held by batches waiting for the JS thread (each counts its whole buffer) before the capture thread stops reading and packets wait in the kernel's ring (default 256 MiB). */
  maxQueuedBytes?: number;
  /**
   * Batches smaller than this many bytes are delivered as copies, larger ones as external Buffers
   * over the batch memory (pooled, returned when the Buffer is collected). Default: always copy
   * (measured cheaper overall, see bench/capture.ts); 0 = never copy. For measurement.
   */
  copyBelowBytes?: number;
}

export interface NativeLiveStats {
  /** Packets handed to JS (or queued for it). */
  packets: number;
  /** Sum of the wire lengths of `packets`. */
  bytes: number;
  /** Packets taken from libpcap but dropped because too much was queued for JS (only while
   * stopping, or when memory for a batch could not be had: otherwise packets wait in the ring). */
  queueDropped: number;
  /** pcap_stats() counters, read afresh by every stats() call while the handle is open; final after onEnd. */
  kernelReceived: number;
  kernelDropped: number;
  ifDropped: number;
  /** Batches handed to JS. */
  batches: number;
  /** Memory held by batches queued for the JS thread (whole buffers). */
  queuedBytes: number;
  /** Times the capture thread stopped reading because JS was behind (packets waited in the ring). */
  holds: number;
}

export interface NativeLiveHandle {
  /** DLT_* value of pcap_datalink() (1 = Ethernet, 113 = Linux SLL, 276 = Linux SLL2). */
  readonly linkType: number;
  readonly snaplen: number;
  readonly device: string;
  /** pcap_activate() warning text, if it returned one. */
  readonly warning: string | undefined;
  readonly closed: boolean;
  /**
   * Starts the capture thread. onBatch gets JS-owned Buffers; onEnd is called once,
   * on the JS thread, after the thread stopped (close() or a capture error) and every
   * batch it produced was delivered.
   */
  start(onBatch: (batch: Buffer, count: number) => void, onEnd?: (err?: Error) => void): void;
  stats(): NativeLiveStats;
  /** true: JS has enough waiting, packets stay in the kernel's ring; false: read on. */
  hold(on: boolean): void;
  /**
   * Asks the capture thread to stop and returns at once (never waits for it). The thread reads
   * what the kernel already took (up to about twice timeoutMs after the last packet), closes the
   * pcap handle; then onEnd is called. Not started: closes the handle now. Idempotent.
   */
  close(): void;
}

export interface NativeOfflineHandle {
  readonly linkType: number;
  readonly snaplen: number;
  /** Number of records written by the last readInto(). */
  readonly lastCount: number;
  readonly closed: boolean;
  /**
   * Fills buf with whole records; returns the bytes written, 0 at end of file.
   * Throws if the next record alone does not fit, or on a read error (records read
   * before the error are returned first; the error is thrown by the next call).
   */
  readInto(buf: Uint8Array): number;
  stats(): { packets: number; bytes: number };
  close(): void;
}


export interface NativeAddon {
  OfflineHandle: new (path: string, filter?: string) => NativeOfflineHandle;
  LiveHandle: new (opts: NativeLiveOptions) => NativeLiveHandle;
  libVersion(): string;
  /**
   * sd_notify(3): sends `state` as one datagram to $NOTIFY_SOCKET (path or @abstract).
   * False when $NOTIFY_SOCKET is unset; throws when it is set but sending failed.
   * (See native/src/sd_notify.cc; src/cli/systemd.ts wraps it.)
   */
  sdNotify(state: string): boolean;
  RECORD_HEADER_BYTES: number;
}

const ADDON_RELATIVE = path.join('native', 'build', 'Release', 'shadowtap_pcap.node');

/** Walks up from `start` to the directory whose package.json is named "shadowtap". */
export function findRepoRoot(start: string = __dirname): string {
  let dir = path.resolve(start);
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        if (JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'shadowtap') return dir;
      } catch {
        /* not ours; keep walking */
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(`shadowtap: cannot find the repository root (package.json named "shadowtap") above ${start}`);
    }
    dir = parent;
  }
}

/** Absolute path of the addon; SHADOWTAP_PCAP_ADDON overrides it. */
export function addonPath(): string {
  return process.env.SHADOWTAP_PCAP_ADDON || path.join(findRepoRoot(), ADDON_RELATIVE);
}

let cached: NativeAddon | undefined;

export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const p = addonPath();
  if (!fs.existsSync(p)) {
    throw new Error(`shadowtap: capture addon not built (${p} missing); run: npx node-gyp rebuild -C native`);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  cached = require(p) as NativeAddon;
  return cached;
}
