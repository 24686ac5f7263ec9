// Opens the packet source a command asked for: a live interface or a capture file, filtered.
import { captureFilters } from './filter';
import { PacketSource, openFile, openLive } from './index';

export interface SourceSpec {
  /** Live interface, or undefined when reading a file. */
  interface?: string;
  file?: string;
  ports: number[];
  filter?: string;
  snaplen: number;
  promiscuous: boolean;
  bufferBytes: number;
  timeoutMs: number;
  /** Also captured (wire timing): the replay targets' own connections. */
  alsoCapture?: Array<{ address: string; port: number }>;
}

export function openSource(spec: SourceSpec): PacketSource {
  const [best, plain] = captureFilters(spec.ports, spec.filter, spec.alsoCapture);
  try {
    return openWith(spec, best);
  } catch (err) {
    // libpcap refuses "vlan" on links without VLAN tags (cooked v2, loopback, raw IP).
    if (plain === undefined || !/VLAN/i.test((err as Error).message)) throw err;
    return openWith(spec, plain);
  }
}

function openWith(spec: SourceSpec, filter: string | undefined): PacketSource {
  if (spec.file !== undefined) return openFile(spec.file, filter);
  return openLive({
    device: spec.interface as string,
    filter,
    snaplen: spec.snaplen,
    promiscuous: spec.promiscuous,
    bufferSize: spec.bufferBytes,
    timeoutMs: spec.timeoutMs,
  });
}
