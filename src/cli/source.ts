import { PacketSource, openFile, openLive } from '../capture';
import type { SourceConfig } from '../config';
import { captureFilter } from './pipeline';

export function openSource(cfg: SourceConfig): PacketSource {
  const filter = captureFilter(cfg.ports, cfg.filter);
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
