// `shadowtap worker --from nats://HOST:4222 --shadow URL --out DIR`: one of N fleet workers
// sharing a durable consumer: each exchange an agent published is replayed to the shadow(s) and
// compared with production's recorded answer as `replay --out` does; DIR is a normal result
// directory (report, verdict), plus exchanges.ids (the exchanges it holds).

import { RequestLedger } from '../accounting';
import type { WorkerConfig } from '../fleet/config';
import { RecentIds } from '../fleet/ids';
import { addConsumeMetrics } from '../fleet/metrics';
import { NatsConsumer } from '../fleet/nats';
import { safeServer } from '../fleet/transport';
import { FleetWorker } from '../fleet/worker';
import { RecordedComparison } from '../pipeline';
import { Replayer } from '../replay';
import { LogLimiter, Logger, ShadowTroubleLog, createLogger, logShippingSummary } from '../report';
import { AdminServer, ShadowtapMetrics, startAdmin } from '../report/metrics';
import { Redactor } from '../traffic';
import { Lifecycle } from './lifecycle';
import { systemd } from './systemd';

const NO_CAPTURE = {
  capture: { packets: 0, bytes: 0, kernelReceived: 0, kernelDropped: 0, ifDropped: 0, queueDropped: 0 },
  tcp: { connectionsOpened: 0, connectionsMidstream: 0, connectionsActive: 0, closed: {}, gaps: 0, gapBytes: 0, bufferedBytes: 0 },
  http: { requests: 0, responses: 0, parseErrors: 0 },
};

export async function worker(cfg: WorkerConfig, log: Logger = createLogger(cfg.logLevel, cfg.logTo)): Promise<number> {
  const ledger = new RequestLedger();
  const broker = cfg.broker.servers.map(safeServer);
  const consumer = new NatsConsumer(cfg.broker, cfg.consumer, (level, msg, fields) => log[level]({ ...fields, broker }, msg));
  const replayer = new Replayer(cfg.replay);
  const redactor = new Redactor(cfg.redact);
  const shadowTrouble = new ShadowTroubleLog(log, (text) => redactor.text(text));
  let fleet: FleetWorker | null = null;
  const comparison = new RecordedComparison({
    targets: cfg.replay.targets, baseline: cfg.baseline, compare: cfg.compare, redacted: false, outDir: cfg.outDir, redact: cfg.redact,
    // exchanges.ids lists each exchange compared by its fleet id: `report DIR…` finds one two workers counted.
    recordIds: true, idOf: (sent) => fleet?.idOf(sent) ?? `unknown/${sent.id}`,
    accounting: () => ({ ...ledger.snapshot(), ...fleet?.counts, shadows: replayer.stats() }),
    source: { kind: 'fleet', stream: cfg.consumer.stream, consumer: cfg.consumer.durable },
    onError: (err) => log.error({ err: err.message, dir: cfg.outDir }, 'cannot write the comparison'),
  });
  let admin: AdminServer | null = null;
  const badMessages = new LogLimiter(5);
  fleet = new FleetWorker({
    consumer, ledger, replayer, comparison, finished: new RecentIds(cfg.dedupeIds),
    ackIntervalMs: cfg.ackIntervalMs, ackBatch: Math.max(1, Math.floor(cfg.consumer.maxWaiting / 2)),
    observe: (outcome, responses) => { admin?.metrics.observeResponses(responses); shadowTrouble.note(outcome, responses); },
    onBadMessage: (err) => { if (badMessages.allow()) log.warn({ err: err.message }, 'not an exchange: acknowledged, counted as badMessage'); },
  });
  const w = fleet;
  const summary = () => ({
    ...ledger.snapshot(), ...w.stats(), shadows: replayer.stats(), ...NO_CAPTURE,
    compare: comparison.summary,
    logLinesSuppressed: badMessages.suppressed, ...logShippingSummary(),
  });
  if (cfg.admin) {
    const metrics = new ShadowtapMetrics({ stats: summary, comparison: () => comparison.stage.shadowTotals() }, { targets: cfg.replay.targets });
    addConsumeMetrics(metrics.registry, () => w.stats());
    admin = startAdmin(cfg.admin, metrics, log);
  }
  const lifecycle = new Lifecycle({
    log, statsIntervalMs: cfg.statsIntervalMs, summaryJson: cfg.summaryJson, summary, stopAfter: cfg.stopAfter, seen: () => ledger.seen,
    // SIGHUP (the unit's reload) must not end the process: nothing is reloaded yet.
    reload: () => log.warn('SIGHUP: worker reloads nothing; restart it to change its settings'),
    hurry: () => replayer.hurry(),
    stop: (why) => {
      log.info({ why }, 'stopping: no more exchanges are taken');
      systemd.stopping(`stopping (${why}): finishing the exchanges under way`);
      admin?.markStopping();
      void w.stop();
    },
  });
  log.info({ broker, stream: cfg.consumer.stream, consumer: cfg.consumer.durable, shadows: cfg.replay.targets, out: cfg.outDir }, 'worker started');
  systemd.ready(`consuming ${cfg.consumer.stream} as ${cfg.consumer.durable}`);
  admin?.markReady();
  let failed = false;
  await w.run().catch((err: Error) => {
    failed = true;
    log.error({ err: err.message }, 'consuming failed');
  });
  await replayer.drain(cfg.drainTimeoutMs);
  w.finish();
  comparison.finish();
  await consumer.close();
  lifecycle.finish();
  await admin?.close();
  return failed ? 1 : 0;
}
