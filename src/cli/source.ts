import { PacketSource, openFile, openLive } from '../capture';
import type { SourceConfig } from '../config';
import { captureFilters } from './pipeline';

export function openSource(cfg: SourceConfig): PacketSource {
  const [best, plain] = captureFilters(cfg.ports, cfg.filter, cfg.alsoCapture);
  try {
    return openWith(cfg, best);
  } catch (err) {
    // libpcap refuses "vlan" on links without VLAN tags (cooked v2, loopback, raw IP).
    if (plain === undefined || !/VLAN/i.test((err as Error).message)) throw err;
    return openWith(cfg, plain);
  }
}

function openWith(cfg: SourceConfig, filter: string | undefined): PacketSource {
  if (cfg.file !== undefined) return openFile(cfg.file, filter);
  return openLive({
    device: cfg.interface as string,
    filter,
    snaplen: cfg.snaplen,
    promiscuous: cfg.promiscuous,
    bufferSize: cfg.bufferBytes,
    timeoutMs: cfg.timeoutMs,
  });
}
