// `shadowtap run`: capture production traffic and mirror every request to the shadow(s).

import { ConfigError, RunConfig } from '../config';
import { CompareStage } from '../compare';
import type { HttpRequest, HttpSink } from '../http';
import { Replayer, ReplayOutcome, ShadowResponse } from '../replay';
import { LogLimiter, Logger, RequestLedger, createLogger, writeJsonFile } from '../report';
import { OutputDir } from '../report/outdir';
import { Redactor, TrafficPolicy } from '../traffic';
import { PacketPipeline } from './pipeline';
import { openSource } from './source';

function hasHeader(headers: string[], lowerName: string): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].length === lowerName.length && headers[i].toLowerCase() === lowerName) return true;
  }
  return false;
}

function openOutput(dir: string, redactor: Redactor): OutputDir {
  try {
    return new OutputDir(dir, redactor);
  } catch (err) {
    throw new ConfigError('--out', (err as Error).message);
  }
}

export function run(cfg: RunConfig, log: Logger = createLogger(cfg.logLevel)): Promise<number> {
  const ledger = new RequestLedger();
  const source = openSource(cfg.source);
  // A live capture never waits for the shadow (a full queue drops, counted); a file does.
  const replayer = new Replayer({ ...cfg.replay, whenFull: source.live ? 'drop' : 'wait' });
  let waitingForRoom = false;
  // One line per connection and kind of trouble, and no more than 20 such lines a second.
  const notices = new LogLimiter(20);
  const shadowTrouble = new LogLimiter(5);

  const redactor = new Redactor(cfg.redact);
  const policy = new TrafficPolicy(cfg.traffic);
  const output = cfg.outDir !== undefined ? openOutput(cfg.outDir, redactor) : null;
  const compare = cfg.compare !== null
    ? new CompareStage(cfg.replay.targets, cfg.baseline, cfg.compare, output)
    : null;

  const ownMarker = cfg.replay.marker ? cfg.replay.marker.name.toLowerCase() : null;
  let ownReplaysIgnored = 0;
  /** Requests not handed to the replay (own replays, filtered): their exchanges are not compared. */
  const notMirrored = new WeakSet<HttpRequest>();
  /** Rewritten copies sent to the shadows → the captured request they stand for. */
  const captured = new WeakMap<HttpRequest, HttpRequest>();

  const settle = (outcome: ReplayOutcome, responses: ShadowResponse[], req: HttpRequest): void => {
    ledger.settle(outcome);
    if (compare !== null) compare.replayed(captured.get(req) ?? req, responses);
    if ((outcome === 'shadowError' || outcome === 'shadowTimeout') && shadowTrouble.allow()) {
      const failed = responses.find((r) => r.outcome === outcome);
      const error = failed?.error ? redactor.text(failed.error) : null;
      log.warn({ outcome, target: failed?.target, error, suppressedBefore: shadowTrouble.suppressed },
        `shadow ${outcome === 'shadowTimeout' ? 'timed out' : 'failed'}`);
    }
    if (waitingForRoom && replayer.hasRoom) {
      waitingForRoom = false;
      source.resume();
    }
  };
  const sink: HttpSink = {
    request: (req) => {
      // shadowtap's own replays, captured on their way to a shadow that shares the port:
      // replaying them again would feed back without end.
      if (ownMarker !== null && hasHeader(req.headers, ownMarker)) {
        ownReplaysIgnored++;
        notMirrored.add(req);
        return;
      }
      const why = policy.decide(req);
      if (why !== null) {
        ledger.seenAndNotReplayed(why);
        notMirrored.add(req);
        return;
      }
      ledger.seenPending();
      const shadowRequest = policy.rewrite(req);
      if (shadowRequest !== req) captured.set(shadowRequest, req);
      replayer.submit(shadowRequest, settle);
      if (!source.live && !replayer.hasRoom && !waitingForRoom) {
        waitingForRoom = true;
        source.pause();
      }
    },
    exchange: (ex) => {
      if (notMirrored.delete(ex.request)) return;
      compare?.exchange(ex);
    },
    lost: (reason) => ledger.seenAndNotReplayed(reason),
    notice: (kind, conn, detail) => {
      if (!notices.allow()) return;
      log.warn({
        kind, conn: conn.id, client: `${conn.client.address}:${conn.client.port}`,
        server: `${conn.server.address}:${conn.server.port}`, detail: redactor.text(detail), suppressedBefore: notices.suppressed,
      }, `connection ${conn.id}: ${kind}`);
    },
  };
  const pipeline = new PacketPipeline(sink, { tcp: cfg.tcp, http: cfg.http });

  const summary = () => ({
    ...ledger.snapshot(),
    capture: source.stats(),
    ...pipeline.stats(),
    shadows: replayer.stats(),
    ...(compare !== null ? { compare: { ...compare.counters, pendingJoins: compare.pendingJoins, queued: compare.queued } } : {}),
    traffic: policy.stats,
    ownReplaysIgnored,
    logLinesSuppressed: notices.suppressed + shadowTrouble.suppressed,
  });
  const accounting = () => ({ ...ledger.snapshot(), shadows: replayer.stats() });
  const writeResults = (complete: boolean): void => {
    if (output === null || compare === null) return;
    try {
      output.writeResults(compare.results(accounting(), complete));
    } catch (err) {
      log.error({ err: (err as Error).message, dir: cfg.outDir }, 'cannot write comparison results');
    }
  };
  const statsTimer = cfg.statsIntervalMs > 0
    ? setInterval(() => log.info({ stats: summary() }, 'stats'), cfg.statsIntervalMs)
    : undefined;
  // Results on disk stay at most a few seconds behind the run.
  const resultsTimer = output !== null ? setInterval(() => writeResults(false), 5000) : undefined;
  writeResults(false);

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
          if (resultsTimer) clearInterval(resultsTimer);
          compare?.flush();
          writeResults(true);
          output?.close();
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
