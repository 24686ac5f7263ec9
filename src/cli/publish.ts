// `shadowtap run --publish URL`: the fleet agent. Capture → http → traffic policy → publish each
// selected exchange to NATS JetStream; workers replay and compare (`shadowtap worker`).
// seen = published + Σ notPublished (the ledger's replayed slot holds the published ones).

import { randomBytes } from 'node:crypto';
import { RequestLedger } from '../accounting';
import type { AgentConfig } from '../fleet/config';
import { addPublishMetrics } from '../fleet/metrics';
import { NatsPublisher } from '../fleet/nats';
import { safeServer } from '../fleet/transport';
import { PublishOutput } from '../outputs';
import { Admission, Mirror, PacketPipeline } from '../pipeline';
import { ConnectionNotices, LogLimiter, Logger, createLogger, logShippingSummary } from '../report';
import { AdminServer, ShadowtapMetrics, startAdmin } from '../report/metrics';
import { Redactor, TrafficPolicy } from '../traffic';
import { Lifecycle, logMemoryBudget, warnWhenIdle } from './lifecycle';
import { openCapture } from './preflight';
import { systemd } from './systemd';

export function publishRun(cfg: AgentConfig, log: Logger = createLogger(cfg.logLevel, cfg.logTo)): Promise<number> {
  const ledger = new RequestLedger();
  const source = openCapture(cfg.source);
  const redactor = new Redactor(cfg.redact);
  const notices = new ConnectionNotices(log, (text) => redactor.text(text));
  const run = randomBytes(6).toString('hex');
  const publisher = new NatsPublisher(cfg.broker, cfg.stream, (level, msg, fields) => log[level]({ ...fields, broker: cfg.broker.servers.map(safeServer) }, msg));
  const failures = new LogLimiter(5);
  const output = new PublishOutput({
    publisher, host: cfg.publish.host, run, maxBufferBytes: cfg.publish.maxBufferBytes, timeoutMs: cfg.publish.timeoutMs, inFlight: cfg.publish.inFlight,
    onFailure: (why, id) => { if (failures.allow()) log.warn({ err: why, exchange: id }, 'publish failed (publishFailed)'); },
  });
  const admission = new Admission(ledger, new TrafficPolicy(cfg.traffic), null);
  const mirror = new Mirror({ ledger, admission, output, notice: notices.notice, flow: null });
  const pipeline = new PacketPipeline(mirror, cfg);
  const summary = () => {
    const l = ledger.snapshot();
    return {
      seen: l.seen, published: l.replayed, notPublished: l.notReplayed, pending: l.pending,
      // The names the metrics read (the ledger's slots).
      replayed: l.replayed, notReplayed: l.notReplayed, shadows: [],
      run: `${cfg.publish.host}/${run}`, capture: source.stats(), ...pipeline.stats(), ...output.stats(),
      traffic: admission.policy?.stats, logLinesSuppressed: notices.suppressed + failures.suppressed, ...logShippingSummary(),
    };
  };
  let admin: AdminServer | null = null;
  if (cfg.admin) {
    const metrics = new ShadowtapMetrics({ stats: summary });
    addPublishMetrics(metrics.registry, () => output.stats().publish);
    admin = startAdmin(cfg.admin, metrics, log);
  }
  const lifecycle = new Lifecycle({
    log, statsIntervalMs: cfg.statsIntervalMs, summaryJson: cfg.summaryJson, summary, stopAfter: cfg.stopAfter, seen: () => ledger.seen,
    // SIGHUP (the unit's reload) must not end the process: nothing is reloaded yet.
    reload: () => log.warn('SIGHUP: run --publish reloads nothing; restart it to change its settings'),
    stop: (why) => {
      log.info({ why }, 'stopping: closing capture');
      systemd.stopping(`stopping (${why}): publishing what is buffered`);
      admin?.markStopping();
      source.close();
    },
  });
  let stopIdleWarning = (): void => {};
  return new Promise((resolve) => {
    source.start((batch, count) => { pipeline.batch(source.linkType, batch, count); lifecycle.counted(); }, (err) => {
      stopIdleWarning();
      if (err) log.error({ err: err.message }, 'capture failed');
      admin?.markStopping();
      pipeline.finish();
      log.info({ pending: ledger.pending }, 'publishing what is buffered');
      void output.drain(cfg.drainTimeoutMs).then(() => {
        lifecycle.finish();
        void admin?.close();
        resolve(err ? 1 : 0);
      });
    });
    log.info({ interface: cfg.source.interface ?? null, filter: source.filter ?? null, linkType: source.linkType, broker: cfg.broker.servers.map(safeServer),
      stream: cfg.stream.stream, subject: cfg.stream.subject, run: `${cfg.publish.host}/${run}`, bufferMb: cfg.publish.maxBufferBytes / 2 ** 20 }, 'capture started: publishing');
    stopIdleWarning = warnWhenIdle(source, cfg.source, log);
    logMemoryBudget(cfg.memory, cfg.tcp.maxConnections ?? cfg.memory.maxConnections, log);
    systemd.ready(`capturing on ${cfg.source.interface}, publishing to ${cfg.stream.stream}`);
    admin?.markReady();
  });
}
