// `shadowtap run`: capture production traffic and mirror every request to the shadow(s).

import { RequestLedger } from '../accounting';
import { openSource } from '../capture';
import { CompareStage } from '../compare';
import { ConfigError, RunConfig } from '../config';
import { ReplayOutput } from '../outputs';
import { Mirror, PacketPipeline } from '../pipeline';
import { ConnectionNotices, Logger, ShadowTroubleLog, createLogger, logShippingSummary } from '../report';
import { AdminServer, ShadowtapMetrics, formatAddress } from '../report/metrics';
import { OutputDir } from '../report/outdir';
import { Redactor, TrafficPolicy } from '../traffic';
import { Lifecycle } from './lifecycle';
import { planReload } from './reload';
import { systemd } from './systemd';

function openOutputDir(dir: string, redactor: Redactor): OutputDir {
  try {
    return new OutputDir(dir, redactor);
  } catch (err) {
    throw new ConfigError('--out', (err as Error).message);
  }
}

/** `reread` re-reads the configuration (file and environment under the same flags) for SIGHUP. */
export function run(cfg: RunConfig, log: Logger = createLogger(cfg.logLevel, cfg.logTo), reread?: () => RunConfig): Promise<number> {
  const ledger = new RequestLedger();
  const source = openSource(cfg.source);
  const redactor = new Redactor(cfg.redact);
  const shadowTrouble = new ShadowTroubleLog(log, (text) => redactor.text(text));
  const notices = new ConnectionNotices(log, (text) => redactor.text(text));
  const outDir = cfg.outDir !== undefined ? openOutputDir(cfg.outDir, redactor) : null;
  const compare = cfg.compare !== null ? new CompareStage(cfg.replay.targets, cfg.baseline, cfg.compare, outDir) : null;
  let admin: AdminServer | null = null;
  const output = new ReplayOutput({
    replay: cfg.replay, whenFull: source.live ? 'drop' : 'wait', compare, wireTargets: cfg.wireTiming ? cfg.source.alsoCapture ?? null : null,
    observe: (outcome, responses) => { admin?.metrics.observeResponses(responses); shadowTrouble.note(outcome, responses); },
  });
  const mirror = new Mirror({
    ledger, output, policy: new TrafficPolicy(cfg.traffic), ownMarker: cfg.replay.marker ? cfg.replay.marker.name.toLowerCase() : null,
    ownTraffic: output, notice: notices.notice, flow: source.live ? null : source,
  });
  const pipeline = new PacketPipeline(mirror, { tcp: cfg.tcp, http: cfg.http });
  let reloads = 0;
  const summary = () => ({
    ...ledger.snapshot(), capture: source.stats(), ...pipeline.stats(), ...output.stats(), reloads,
    ...(compare !== null ? { compare: { ...compare.counters, pendingJoins: compare.pendingJoins, queued: compare.queued } } : {}),
    traffic: mirror.policy?.stats, ownReplaysIgnored: mirror.ownReplaysIgnored,
    logLinesSuppressed: notices.suppressed + shadowTrouble.suppressed, ...logShippingSummary(),
  });
  // --admin: /metrics reads summary() at scrape time; /readyz follows the capture. A failed bind is logged, not fatal.
  if (cfg.admin) {
    const at = cfg.admin;
    admin = new AdminServer(new ShadowtapMetrics({ stats: summary, comparison: () => compare?.shadowTotals() ?? [] }, { targets: cfg.replay.targets }));
    admin.listen(at).then(
      (a) => log.info({ address: formatAddress(a) }, `admin server on http://${formatAddress(a)}: /metrics /healthz /readyz`),
      (err: Error) => log.error({ err: err.message, address: formatAddress(at) }, 'admin server failed to listen: no /metrics, /healthz, /readyz'));
  }
  const writeResults = (complete: boolean): void => {
    if (outDir === null || compare === null) return;
    try {
      outDir.writeResults(compare.results({ ...ledger.snapshot(), shadows: output.shadowStats() }, complete));
    } catch (err) {
      log.error({ err: (err as Error).message, dir: cfg.outDir }, 'cannot write comparison results');
    }
  };
  // Results on disk stay at most a few seconds behind the run.
  const resultsTimer = outDir !== null ? setInterval(() => writeResults(false), 5000) : undefined;
  writeResults(false);

  let captureEnded = false;
  const reload = (): void => {
    if (lifecycle.stopping || captureEnded) return; // draining: nothing is going to be mirrored any more
    if (reread === undefined) return log.warn('SIGHUP: nothing to reload (no --config file or environment)');
    systemd.reloading('reloading the configuration');
    let plan;
    try {
      plan = planReload(cfg, reread());
    } catch (err) {
      log.error({ err: (err as Error).message }, 'reload rejected: the running configuration stays');
      systemd.ready('reload rejected: the running configuration stays');
      return;
    }
    mirror.policy = new TrafficPolicy(plan.cfg.traffic, Math.random, mirror.policy?.stats);
    redactor.options = plan.cfg.redact;
    mirror.ownMarker = plan.cfg.replay.marker ? plan.cfg.replay.marker.name.toLowerCase() : null;
    // What the old replayer has in flight ends within its own timeout; queued requests go out meanwhile.
    if (plan.replayChanged) output.reload(plan.cfg.replay, Math.max(plan.cfg.drainTimeoutMs, (cfg.replay.timeoutMs ?? 10_000) + 1000));
    cfg = plan.cfg;
    reloads++;
    if (plan.kept.length > 0) log.warn({ kept: plan.kept }, `reload: these settings need a restart and were kept: ${plan.kept.join(', ')}`);
    log.info({ applied: plan.applied, shadows: cfg.replay.targets, reloads }, `configuration reloaded (applied: ${plan.applied.join(', ') || 'nothing changed'})`);
    systemd.ready(`configuration reloaded (${reloads})`);
  };
  const lifecycle = new Lifecycle({
    log, statsIntervalMs: cfg.statsIntervalMs, summaryJson: cfg.summaryJson, summary, reload,
    stop: (why) => {
      log.info({ why }, 'stopping: closing capture');
      systemd.stopping(`stopping (${why}): draining the replay queue`);
      admin?.markStopping();
      source.close();
    },
  });

  return new Promise((resolve) => {
    source.start((batch, count) => pipeline.batch(source.linkType, batch, count), (err) => {
      captureEnded = true;
      if (err) log.error({ err: err.message }, 'capture failed');
      admin?.markStopping();
      if (!lifecycle.stopping) systemd.stopping(err ? `capture failed: ${err.message}` : 'capture ended: draining the replay queue');
      pipeline.finish();
      log.info({ pending: ledger.pending }, 'draining replay queue');
      void output.drain(cfg.drainTimeoutMs).then(() => {
        if (resultsTimer) clearInterval(resultsTimer);
        compare?.flush();
        writeResults(true);
        outDir?.close();
        lifecycle.finish();
        void admin?.close();
        resolve(err ? 1 : 0);
      });
    });
    log.info({ interface: cfg.source.interface ?? null, file: cfg.source.file ?? null, linkType: source.linkType,
      shadows: cfg.replay.targets, wireTiming: cfg.wireTiming }, 'capture started');
    if (cfg.wireTimingNote !== null) {
      log.info({ why: cfg.wireTimingNote }, `shadows timed as shadowtap's client only (${cfg.wireTimingNote}): their latency is judged against a --baseline, if any`);
    }
    admin?.markReady();
    // systemd (Type=notify): ready now, watchdog pings from here on; no-ops outside systemd.
    if (!systemd.ready(`capturing on ${cfg.source.interface ?? cfg.source.file}, mirroring to ${cfg.replay.targets.join(' ')}`) && systemd.lastError() !== null) {
      log.warn({ err: systemd.lastError() }, 'cannot notify systemd');
    }
  });
}
