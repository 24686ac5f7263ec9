// `shadowtap run`: capture production traffic and mirror every request to the shadow(s).

import type { RunConfig } from '../config';
import type { HttpSink } from '../http';
import { Replayer, ReplayOutcome, ShadowResponse } from '../replay';
import { LogLimiter, Logger, RequestLedger, createLogger, writeJsonFile } from '../report';
import { PacketPipeline } from './pipeline';
import { openSource } from './source';

export function run(cfg: RunConfig, log: Logger = createLogger(cfg.logLevel)): Promise<number> {
  const ledger = new RequestLedger();
  const source = openSource(cfg.source);
  // A live capture never waits for the shadow (a full queue drops, counted); a file does.
  const replayer = new Replayer({ ...cfg.replay, whenFull: source.live ? 'drop' : 'wait' });
  let waitingForRoom = false;
  // One line per connection and kind of trouble, and no more than 20 such lines a second.
  const notices = new LogLimiter(20);
  const shadowTrouble = new LogLimiter(5);

  const settle = (outcome: ReplayOutcome, responses: ShadowResponse[]): void => {
    ledger.settle(outcome);
    if ((outcome === 'shadowError' || outcome === 'shadowTimeout') && shadowTrouble.allow()) {
      const failed = responses.find((r) => r.outcome === outcome);
      log.warn({ outcome, target: failed?.target, error: failed?.error, suppressedBefore: shadowTrouble.suppressed },
        `shadow ${outcome === 'shadowTimeout' ? 'timed out' : 'failed'}`);
    }
    if (waitingForRoom && replayer.hasRoom) {
      waitingForRoom = false;
      source.resume();
    }
  };
  const sink: HttpSink = {
    request: (req) => {
      ledger.seenPending();
      replayer.submit(req, settle);
      if (!source.live && !replayer.hasRoom && !waitingForRoom) {
        waitingForRoom = true;
        source.pause();
      }
    },
    exchange: () => {},
    lost: (reason) => ledger.seenAndNotReplayed(reason),
    notice: (kind, conn, detail) => {
      if (!notices.allow()) return;
      log.warn({
        kind, conn: conn.id, client: `${conn.client.address}:${conn.client.port}`,
        server: `${conn.server.address}:${conn.server.port}`, detail, suppressedBefore: notices.suppressed,
      }, `connection ${conn.id}: ${kind}`);
    },
  };
  const pipeline = new PacketPipeline(sink, { tcp: cfg.tcp, http: cfg.http });

  const summary = () => ({
    ...ledger.snapshot(),
    capture: source.stats(),
    ...pipeline.stats(),
    shadows: replayer.stats(),
    logLinesSuppressed: notices.suppressed + shadowTrouble.suppressed,
  });
  const statsTimer = cfg.statsIntervalMs > 0
    ? setInterval(() => log.info({ stats: summary() }, 'stats'), cfg.statsIntervalMs)
    : undefined;

  return new Promise((resolve) => {
    let stopping = false;
    const stop = (why: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ why }, 'stopping: closing capture');
      source.close();
    };
    const onSignal = (sig: NodeJS.Signals) => stop(sig);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    source.start(
      (batch, count) => pipeline.batch(source.linkType, batch, count),
      (err) => {
        if (err) log.error({ err: err.message }, 'capture failed');
        pipeline.finish();
        log.info({ pending: ledger.pending }, 'draining replay queue');
        replayer.drain(cfg.drainTimeoutMs).then(() => {
          if (statsTimer) clearInterval(statsTimer);
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          const final = summary();
          if (cfg.summaryJson !== undefined) writeJsonFile(cfg.summaryJson, final);
          log.info({ stats: final }, 'summary');
          resolve(err ? 1 : 0);
        });
      },
    );
    log.info({
      interface: cfg.source.interface ?? null,
      file: cfg.source.file ?? null,
      linkType: source.linkType,
      shadows: cfg.replay.targets,
    }, 'capture started');
  });
}
