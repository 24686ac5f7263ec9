// Opens the packet source a command asked for: a live interface or a capture file, filtered.
import { captureFilters } from './filter';
import { PacketSource, openFile, openLive } from './index';
import type { ReorderLimits } from './reorder';

export interface SourceSpec {
  /** Live interface, or undefined when reading a file. */
  interface?: string;
  file?: string;
  ports: number[];
  filter?: string;
  snaplen: number;
  promiscuous: boolean;
  bufferBytes: number;
  /** Live: packet batches waiting for the JS thread at most (bytes); beyond, dropped and counted. */
  queueBytes?: number;
  timeoutMs: number;
  /** Also captured (wire timing): the replay targets' own connections. */
  alsoCapture?: Array<{ address: string; port: number }>;
  /** Live: warn after this long without a matching packet (0 or absent: never). */
  warnIdleMs?: number;
  /** A file: packets put in timestamp order within this window (absent, or 0 packets: file order). */
  reorder?: ReorderLimits;
}

/** A source with the BPF filter it was opened with (undefined: everything). */
export type OpenedSource = PacketSource & { readonly filter: string | undefined };

export function openSource(spec: SourceSpec): OpenedSource {
  const [best, plain] = captureFilters(spec.ports, spec.filter, spec.alsoCapture);
  try {
    return Object.assign(openWith(spec, best), { filter: best });
  } catch (err) {
    // libpcap refuses "vlan" on links without VLAN tags (cooked v2, loopback, raw IP).
    if (plain === undefined || !/VLAN/i.test((err as Error).message)) throw err;
    return Object.assign(openWith(spec, plain), { filter: plain });
  }
}

function openWith(spec: SourceSpec, filter: string | undefined): PacketSource {
  if (spec.file !== undefined) return openFile(spec.file, filter, spec.reorder ?? null);
  return openLive({
    device: spec.interface as string,
    filter,
    snaplen: spec.snaplen,
    promiscuous: spec.promiscuous,
    bufferSize: spec.bufferBytes,
    maxQueuedBytes: spec.queueBytes,
    timeoutMs: spec.timeoutMs,
  });
}
