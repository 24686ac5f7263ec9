// `shadowtap run`: capture production traffic and mirror every request to the shadow(s).

import { RequestLedger } from '../accounting';
import type { RunConfig } from '../config';
import { runReplayOutput } from '../outputs/threaded';
import { Admission, Mirror, PacketPipeline } from '../pipeline';
import type { ShadowResponse } from '../model';
import { ConnectionNotices, Logger, ShadowHealth, ShadowTroubleLog, createLogger, logShippingSummary } from '../report';
import { liveReport } from '../report/live';
import { AdminServer, ShadowtapMetrics, startAdmin } from '../report/metrics';
import { OutputDir, ResultsFile } from '../report/outdir';
import { Redactor, TrafficPolicy } from '../traffic';
import { Lifecycle, announceStart, ownMarker } from './lifecycle';
import { applyReload } from './reload';
import { systemd } from './systemd';
import { openCapture } from './preflight';
import { liveLine } from './progress';

/** `reread` re-reads the configuration (file and environment under the same flags) for SIGHUP. */
export function run(cfg: RunConfig, log: Logger = createLogger(cfg.logLevel, cfg.logTo), reread?: () => RunConfig): Promise<number> {
  const ledger = new RequestLedger();
  const source = openCapture(cfg.source);
  const redactor = new Redactor(cfg.redact);
  const shadowTrouble = new ShadowTroubleLog(log, (text) => redactor.text(text));
  const shadowHealth = new ShadowHealth(cfg.replay.targets, (text) => redactor.text(text));
  const notices = new ConnectionNotices(log, (text) => redactor.text(text));
  const outDir = cfg.outDir !== undefined ? OutputDir.open(cfg.outDir, redactor) : null;
  if (outDir !== null) outDir.onSampleError = (err) => log.error({ err: err.message, dir: cfg.outDir }, 'cannot write samples: no more are kept (counted as samplesDropped)');
  let admin: AdminServer | null = null;
  const observe = (outcome: string, responses: ShadowResponse[]): void => {
    admin?.metrics.observeResponses(responses); shadowTrouble.note(outcome, responses); shadowHealth.note(responses);
  };
  // --workers: replay and comparison on worker threads; 0: here, on the capture thread.
  const { output, compare } = runReplayOutput(cfg, { live: source.live, outDir, observe, log, captureBehind: () => source.lagging });
  const admission = new Admission(ledger, new TrafficPolicy(cfg.traffic), ownMarker(cfg.replay.marker));
  const mirror = new Mirror({ ledger, admission, output, notice: notices.notice, flow: source.live ? null : source });
  // Wire timing: the replays' packets are located for their timing, not reassembled.
  const marked = cfg.wireTiming && cfg.source.alsoCapture !== undefined ? { servers: cfg.source.alsoCapture, sink: output } : null;
  const pipeline = new PacketPipeline(mirror, { ...cfg, marked });
  let reloads = 0;
  const summary = () => ({
    ...ledger.snapshot(), capture: source.stats(), ...pipeline.stats(), ...output.stats(), reloads,
    ...(compare !== null ? { compare: compare.summary() } : {}),
    traffic: admission.policy?.stats, ownReplaysIgnored: admission.ownReplaysIgnored,
    logLinesSuppressed: notices.suppressed + shadowTrouble.suppressed, ...logShippingSummary(),
  });
  const comparison = compare === null ? null : (complete: boolean) => compare.results({ ...ledger.snapshot(), shadows: output.stats().shadows }, complete);
  // --admin: /metrics reads summary() at scrape time; /readyz follows the capture and the shadows; /report the comparison.
  if (cfg.admin) {
    admin = startAdmin(cfg.admin, new ShadowtapMetrics({ stats: summary, comparison: () => compare?.shadowTotals() ?? [] }, { targets: cfg.replay.targets }), log,
      { shadows: shadowHealth, report: comparison === null ? undefined : liveReport(() => comparison(false), cfg.outDir) });
  }
  const results = outDir !== null && comparison !== null
    ? new ResultsFile(outDir, comparison, (err) => log.error({ err: err.message, dir: cfg.outDir }, 'cannot write comparison results')) : null;

  let captureEnded = false;
  const reload = (): void => {
    if (lifecycle.stopping || captureEnded) return; // draining: nothing is going to be mirrored any more
    if (reread === undefined) return log.warn('SIGHUP: nothing to reload (no --config file or environment)');
    const next = applyReload(cfg, reread, log, { admission, redactor, output, shadowHealth }, reloads + 1);
    if (next === null) return;
    cfg = next;
    reloads++;
  };
  const lifecycle = new Lifecycle({
    log, statsIntervalMs: cfg.statsIntervalMs, summaryJson: cfg.summaryJson, summary, stopAfter: cfg.stopAfter, seen: () => ledger.seen, reload, hurry: () => output.hurry(),
    progress: (elapsed) => liveLine({ ...ledger.snapshot(), capture: source.stats() }, elapsed),
    stop: (why) => {
      log.info({ why }, 'stopping: closing capture');
      systemd.stopping(`stopping (${why}): draining the replay queue`);
      admin?.markStopping();
      source.close();
    },
  });

  let stopIdleWarning = (): void => {};
  return new Promise((resolve) => {
    source.start((batch, count) => { pipeline.batch(source.linkType, batch, count); lifecycle.counted(); }, (err) => {
      captureEnded = true;
      stopIdleWarning();
      if (err) log.error({ err: err.message }, 'capture failed');
      admin?.markStopping();
      if (!lifecycle.stopping) systemd.stopping(err ? `capture failed: ${err.message}` : 'capture ended: draining the replay queue');
      pipeline.finish();
      log.info({ pending: ledger.pending }, 'draining replay queue');
      void output.drain(cfg.drainTimeoutMs).then(() => {
        compare?.flush();
        results?.finish();
        lifecycle.finish();
        void admin?.close();
        resolve(err ? 1 : 0);
      });
    });
    stopIdleWarning = announceStart(log, cfg, source);
    admin?.markReady();
  });
}
