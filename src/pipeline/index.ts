// Composes source → stages → outputs: packets become exchanges (packets.ts), exchanges reach
// an output through the ledger and the traffic policy (mirror.ts); a file or recording is
// replayed at its captured pace (feed.ts, pacer.ts).
export { PacketPipeline } from './packets';
export type { DecodeStats, MarkedServers, PipelineStats } from './packets';
export { Admission, Mirror } from './mirror';
export type { MirrorOptions } from './mirror';
export { pcapFeed, recordingFeed } from './feed';
export type { Feed, Timed } from './feed';
export { Pacer } from './pacer';
export { RecordedComparison } from './recorded-compare';
export { printRecording } from './read-recording';
export type { RecordedComparisonOptions } from './recorded-compare';
