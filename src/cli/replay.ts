// `shadowtap replay`: send a recording (or a pcap/pcapng file) to the shadow(s) at the pace it
// was captured: request i goes out (t_i − t_0) / speed after the pass started. With --out, each
// answer is compared with production's recorded one, as `run --out` does live.

import { RequestLedger } from '../accounting';
import { ConfigError, ReplayFileConfig } from '../config';
import { Admission, Feed, Pacer, RecordedComparison, Timed, pcapFeed, recordingFeed } from '../pipeline';
import { RecordingError, RecordingReader, sniffFile } from '../recording';
import { Replayer } from '../replay';
import { ConnectionNotices, Logger, ShadowTroubleLog, createLogger, logShippingSummary } from '../report';
import { Redactor, TrafficPolicy } from '../traffic';
import { Lifecycle, ownMarker } from './lifecycle';
import { Progress, sentLine } from './progress';

function openFeed(cfg: ReplayFileConfig, ledger: RequestLedger, log: Logger, abandon: (item: Timed) => void): { kind: string; feed: Feed; reader: RecordingReader | null } {
  try {
    const kind = sniffFile(cfg.file);
    if (kind === 'unknown') throw new Error(`${cfg.file}: neither a shadowtap recording nor a pcap/pcapng file`);
    if (cfg.outDir !== undefined && kind !== 'recording') throw new Error(`${cfg.file}: --out compares with production's recorded answers: it needs a recording made with record --bodies`);
    if (kind !== 'recording') return { kind, feed: pcapFeed(cfg, ledger, new ConnectionNotices(log).notice, abandon), reader: null };
    const f = recordingFeed(cfg.file, cfg.outDir !== undefined);
    if (cfg.outDir !== undefined && f.reader.header.bodies !== true) throw new Error(`${cfg.file}: recorded without --bodies: there is no production answer to compare with`);
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
  const redactor = new Redactor(cfg.redact);
  const shadowTrouble = new ShadowTroubleLog(log, (text) => redactor.text(text));
  const comparison = cfg.compare === null || cfg.outDir === undefined || reader === null ? null : new RecordedComparison({
    targets: cfg.replay.targets, baseline: cfg.baseline, compare: cfg.compare, redacted: reader.header.redacted, outDir: cfg.outDir, redact: cfg.redact, recordIds: cfg.recordIds,
    accounting: () => ({ ...ledger.snapshot(), shadows: replayer.stats() }),
    source: { kind: 'recording', recording: reader.header.recording, files: reader.files },
    onError: (err) => log.error({ err: err.message, dir: cfg.outDir }, 'cannot write the comparison'),
  });
  const admit = (req: Timed['req'], item: Timed): Timed['req'] | null => {
    const sent = admission.admit(req);
    if (sent !== null && item.production !== undefined) comparison?.admitted(item.production);
    return sent;
  };
  const pacing = comparison === null ? cfg : { ...cfg, comparisonHasRoom: () => comparison.hasRoom };
  const pacer = new Pacer(replayer, ledger, pacing, admit, (outcome, responses, sent) => {
    shadowTrouble.note(outcome, responses);
    comparison?.answered(sent, responses);
  });
  const summary = () => ({
    file: cfg.file, kind,
    ...(reader !== null ? { recording: { id: reader.header.recording, redacted: reader.header.redacted, parts: reader.files, tornLines: reader.tornLines } } : {}),
    speed: cfg.speed, loop: cfg.loop, ...ledger.snapshot(), sent: pacer.sent, pacing: pacer.stats,
    ownReplaysIgnored: admission.ownReplaysIgnored, traffic: admission.policy?.stats, shadows: replayer.stats(),
    ...(comparison !== null ? { compare: comparison.summary } : {}), ...(feed.stats() ?? {}), ...logShippingSummary(),
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
  log.info({ file: cfg.file, kind, shadows: cfg.replay.targets, speed: cfg.speed, loop: cfg.loop, out: cfg.outDir ?? null }, 'replay started');
  const failure = await pacer.run(feed, abandon, (n) => { perPass ??= n; });
  if (failure !== null) log.error({ err: failure.message }, 'cannot read the input');
  await replayer.drain(cfg.drainTimeoutMs);
  comparison?.finish();
  progress.stop();
  lifecycle.finish();
  // A damaged recording is bad input (exit 2, one line), like an unreadable one at the start.
  if (failure instanceof RecordingError) throw new ConfigError('--file', failure.message);
  return failure === null ? 0 : 1;
}
