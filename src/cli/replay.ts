// `shadowtap replay`: send a recording (or a pcap/pcapng file) to the shadow(s) at the pace it
// was captured: request i goes out (t_i − t_0) / speed after the pass started.

import { RequestLedger } from '../accounting';
import { ConfigError, ReplayFileConfig } from '../config';
import { Admission, Feed, Pacer, Timed, pcapFeed, recordingFeed } from '../pipeline';
import { RecordingReader, sniffFile } from '../recording';
import { Replayer } from '../replay';
import { ConnectionNotices, Logger, ShadowTroubleLog, createLogger, logShippingSummary } from '../report';
import { Redactor, TrafficPolicy } from '../traffic';
import { Lifecycle, ownMarker } from './lifecycle';
import { Progress, sentLine } from './progress';

function openFeed(cfg: ReplayFileConfig, ledger: RequestLedger, log: Logger, abandon: (item: Timed) => void): { kind: string; feed: Feed; reader: RecordingReader | null } {
  try {
    const kind = sniffFile(cfg.file);
    if (kind === 'unknown') throw new Error(`${cfg.file}: neither a shadowtap recording nor a pcap/pcapng file`);
    if (kind !== 'recording') return { kind, feed: pcapFeed(cfg, ledger, new ConnectionNotices(log).notice, abandon), reader: null };
    const f = recordingFeed(cfg.file);
    return { kind, feed: f, reader: f.reader };
  } catch (err) {
    throw new ConfigError('--file', (err as Error).message);
  }
}

export async function replayFile(cfg: ReplayFileConfig, log: Logger = createLogger(cfg.logLevel, cfg.logTo)): Promise<number> {
  const ledger = new RequestLedger();
  const admission = new Admission(ledger, new TrafficPolicy(cfg.traffic), ownMarker(cfg.replay.marker));
  /** A request read but never handed on (nor to the read-ahead): the pass stopped. */
  const abandon = (item: Timed): void => {
    if (admission.isOwnReplay(item.req)) admission.ownReplaysIgnored++;
    else ledger.seenAndNotReplayed('shutdown');
  };
  const { kind, feed, reader } = openFeed(cfg, ledger, log, abandon);
  // A file never drops for a full queue; each recorded connection gets a shadow connection of
  // its own carrying its requests in order (lanes).
  const replayer = new Replayer({ ...cfg.replay, whenFull: 'wait', preserveConnections: true });
  const redactor = new Redactor();
  const shadowTrouble = new ShadowTroubleLog(log, (text) => redactor.text(text));
  const pacer = new Pacer(replayer, ledger, cfg, (req) => admission.admit(req), (outcome, responses) => shadowTrouble.note(outcome, responses));
  const summary = () => ({
    file: cfg.file, kind,
    ...(reader !== null ? { recording: { id: reader.header.recording, redacted: reader.header.redacted, parts: reader.files, tornLines: reader.tornLines } } : {}),
    speed: cfg.speed, loop: cfg.loop, ...ledger.snapshot(), sent: pacer.sent, pacing: pacer.stats,
    ownReplaysIgnored: admission.ownReplaysIgnored, traffic: admission.policy?.stats, shadows: replayer.stats(),
    ...(feed.stats() ?? {}), ...logShippingSummary(),
  });
  const lifecycle = new Lifecycle({
    log, statsIntervalMs: cfg.statsIntervalMs, summaryJson: cfg.summaryJson, summary, stopAfter: cfg.stopAfter, hurry: () => replayer.hurry(),
    stop: (why) => {
      log.info({ why }, 'stopping: no more requests are sent');
      pacer.stop();
    },
  });
  let perPass: number | null = null;
  if (reader !== null && process.stderr.isTTY) perPass = await reader.countRequests();
  const progress = new Progress((elapsed) => sentLine(pacer.sent, perPass === null ? null : perPass * cfg.loop, elapsed));
  log.info({ file: cfg.file, kind, shadows: cfg.replay.targets, speed: cfg.speed, loop: cfg.loop }, 'replay started');
  const failure = await pacer.run(feed, abandon, (n) => { perPass ??= n; });
  if (failure !== null) log.error({ err: failure.message }, 'cannot read the input');
  await replayer.drain(cfg.drainTimeoutMs);
  progress.stop();
  lifecycle.finish();
  return failure === null ? 0 : 1;
}
