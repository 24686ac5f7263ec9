// Composes source → stages → outputs: packets become exchanges (packets.ts), exchanges reach
// an output through the ledger and the traffic policy (mirror.ts).
export { PacketPipeline } from './packets';
export type { DecodeStats, PipelineStats } from './packets';
export { Mirror } from './mirror';
export type { MirrorOptions, OwnTraffic } from './mirror';
export { pcapFeed, recordingFeed } from './feed';
export type { Feed, Timed } from './feed';
export { MinHeap } from './heap';
