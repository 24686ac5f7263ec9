// `shadowtap run`: capture production traffic and mirror every request to the shadow(s).

import { ConfigError, RunConfig } from '../config';
import { CompareStage } from '../compare';
import { HttpRequest, HttpSink, headerValue } from '../http';
import { Replayer, ReplayOutcome, ShadowResponse } from '../replay';
import { LogLimiter, Logger, RequestLedger, ShadowTroubleLog, createLogger, logShippingSummary, writeJsonFile } from '../report';
import { AdminServer, ShadowtapMetrics, formatAddress } from '../report/metrics';
import { OutputDir } from '../report/outdir';
import { Redactor, TrafficPolicy } from '../traffic';
import { PacketPipeline } from './pipeline';
import { openSource } from './source';
import { systemd } from './systemd';

export const WIRE_ID_HEADER = 'x-shadowtap-id';

/**
 * --wire-timing: each replay carries an id header; its exchange with the shadow, captured on
 * the way, is timed from kernel timestamps like production's and credited to the production
 * request it replays. Ids are remembered for the last 100,000 requests.
 */
class WireTiming {
  private next = 1;
  private readonly byId = new Map<string, HttpRequest>();
  private readonly idOf = new WeakMap<HttpRequest, string>();

  constructor(private readonly compare: CompareStage, private readonly targets: Array<{ address: string; port: number }>) {}

  /** The request as sent, with its id; `original` is the captured production request. */
  tag(shadowRequest: HttpRequest, original: HttpRequest): HttpRequest {
    const id = String(this.next++);
    this.byId.set(id, original);
    if (this.byId.size > 100_000) this.byId.delete(this.byId.keys().next().value as string);
    return { ...shadowRequest, headers: [...shadowRequest.headers, WIRE_ID_HEADER, id] };
  }

  /** One of our own replays, seen in the capture. */
  captured(req: HttpRequest): void {
    const id = headerValue(req.headers, WIRE_ID_HEADER);
    if (id !== null) this.idOf.set(req, id);
  }

  /** Its answer, seen in the capture. */
  answered(req: HttpRequest, res: { endUs: number }): void {
    const id = this.idOf.get(req);
    const original = id === undefined ? undefined : this.byId.get(id);
    if (original === undefined) return;
    const server = req.conn.server;
    const target = this.targets.findIndex((t) => t.port === server.port && sameAddress(t.address, server.address));
    if (target >= 0) this.compare.wire(original, target, res.endUs - req.startUs);
  }
}

function sameAddress(a: string, b: string): boolean {
  return a === b || (a.includes(':') && b.includes(':') && new URL(`http://[${a}]`).hostname === new URL(`http://[${b}]`).hostname);
}

/** Deep equality of configuration values (Sets, Maps and RegExps included). */
function same(a: unknown, b: unknown): boolean {
  const plain = (_k: string, v: unknown): unknown =>
    v instanceof Set ? ['Set', ...v] : v instanceof Map ? ['Map', ...v] : v instanceof RegExp ? `RegExp ${v}` : v;
  return JSON.stringify(a, plain) === JSON.stringify(b, plain);
}

function openOutput(dir: string, redactor: Redactor): OutputDir {
  try {
    return new OutputDir(dir, redactor);
  } catch (err) {
    throw new ConfigError('--out', (err as Error).message);
  }
}

/** `reload` re-reads the configuration (file and environment under the same flags) for SIGHUP. */
export function run(cfg: RunConfig, log: Logger = createLogger(cfg.logLevel, cfg.logTo), reload?: () => RunConfig): Promise<number> {
  const ledger = new RequestLedger();
  const source = openSource(cfg.source);
  // A live capture never waits for the shadow (a full queue drops, counted); a file does.
  const whenFull = source.live ? 'drop' : 'wait';
  let replayer = new Replayer({ ...cfg.replay, whenFull });
  /** Replayers replaced by a reload, finishing what they had. */
  const retired: Replayer[] = [];
  let waitingForRoom = false;
  // One line per connection and kind of trouble, and no more than 20 such lines a second.
  const notices = new LogLimiter(20);

  const redactor = new Redactor(cfg.redact);
  const shadowTrouble = new ShadowTroubleLog(log, (text) => redactor.text(text));
  let policy = new TrafficPolicy(cfg.traffic);
  const output = cfg.outDir !== undefined ? openOutput(cfg.outDir, redactor) : null;
  const compare = cfg.compare !== null
    ? new CompareStage(cfg.replay.targets, cfg.baseline, cfg.compare, output)
    : null;

  let ownMarker = cfg.replay.marker ? cfg.replay.marker.name.toLowerCase() : null;
  let ownReplaysIgnored = 0;
  /** Requests not handed to the replay (own replays, filtered): their exchanges are not compared. */
  const notMirrored = new WeakSet<HttpRequest>();
  /** Rewritten copies sent to the shadows → the captured request they stand for. */
  const captured = new WeakMap<HttpRequest, HttpRequest>();

  const settle = (outcome: ReplayOutcome, responses: ShadowResponse[], req: HttpRequest): void => {
    ledger.settle(outcome);
    admin?.metrics.observeResponses(responses);
    if (compare !== null) compare.replayed(captured.get(req) ?? req, responses);
    shadowTrouble.note(outcome, responses);
    if (waitingForRoom && replayer.hasRoom) {
      waitingForRoom = false;
      source.resume();
    }
  };
  const wire = cfg.wireTiming && compare !== null && cfg.source.alsoCapture !== undefined
    ? new WireTiming(compare, cfg.source.alsoCapture) : null;
  const sink: HttpSink = {
    request: (req) => {
      // shadowtap's own replays, captured on their way to a shadow that shares the port:
      // replaying them again would feed back without end.
      if (ownMarker !== null && headerValue(req.headers, ownMarker) !== null) {
        ownReplaysIgnored++;
        notMirrored.add(req);
        if (wire !== null) wire.captured(req);
        return;
      }
      const why = policy.decide(req);
      if (why !== null) {
        ledger.seenAndNotReplayed(why);
        notMirrored.add(req);
        return;
      }
      ledger.seenPending();
      let shadowRequest = policy.rewrite(req);
      if (wire !== null) shadowRequest = wire.tag(shadowRequest, req);
      if (shadowRequest !== req) captured.set(shadowRequest, req);
      replayer.submit(shadowRequest, settle);
      if (!source.live && !replayer.hasRoom && !waitingForRoom) {
        waitingForRoom = true;
        source.pause();
      }
    },
    exchange: (ex) => {
      if (notMirrored.delete(ex.request)) {
        if (wire !== null && ex.response !== null) wire.answered(ex.request, ex.response);
        return;
      }
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
    ...(retired.length > 0 ? { retiredShadows: retired.map((r) => r.stats()) } : {}),
    reloads,
    ...(compare !== null ? { compare: { ...compare.counters, pendingJoins: compare.pendingJoins, queued: compare.queued } } : {}),
    traffic: policy.stats,
    ownReplaysIgnored,
    logLinesSuppressed: notices.suppressed + shadowTrouble.suppressed,
    ...logShippingSummary(),
  });
  // --admin: /metrics reads summary() at scrape time (nothing counted twice on the hot path
  // but shadow latency); /readyz follows the capture. A failed bind is logged, not fatal.
  const adminAt = cfg.admin ?? null;
  const admin = adminAt === null ? null
    : new AdminServer(new ShadowtapMetrics({ stats: summary, comparison: () => compare?.shadowTotals() ?? [] }, { targets: cfg.replay.targets }));
  if (admin !== null && adminAt !== null) {
    admin.listen(adminAt).then(
      (a) => log.info({ address: formatAddress(a) }, `admin server on http://${formatAddress(a)}: /metrics /healthz /readyz`),
      (err: Error) => log.error({ err: err.message, address: formatAddress(adminAt) }, 'admin server failed to listen: no /metrics, /healthz, /readyz'));
  }
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

  let reloads = 0;
  /** SIGHUP: traffic policy and replay settings (targets included) take effect for the next
   * request; captured connections, their parsers and requests in flight carry on. Settings the
   * capture or the comparison was opened with need a restart and are kept. */
  const applyReload = (read: () => RunConfig): void => {
    systemd.reloading('reloading the configuration');
    let next: RunConfig;
    try {
      next = read();
    } catch (err) {
      log.error({ err: (err as Error).message }, 'reload rejected: the running configuration stays');
      systemd.ready('reload rejected: the running configuration stays');
      return;
    }
    const kept: string[] = [];
    for (const [what, a, b] of [
      ['capture source and filter', cfg.source, next.source], ['reassembly limits', cfg.tcp, next.tcp], ['HTTP limits', cfg.http, next.http],
      ['--out', cfg.outDir, next.outDir], ['comparison settings', cfg.compare, next.compare], ['--baseline', cfg.baseline, next.baseline],
      ['log settings', [cfg.logLevel, cfg.logTo], [next.logLevel, next.logTo]], ['--admin', cfg.admin, next.admin],
      ['--stats-interval', cfg.statsIntervalMs, next.statsIntervalMs], ['--summary-json', cfg.summaryJson, next.summaryJson],
    ] as Array<[string, unknown, unknown]>) {
      if (!same(a, b)) kept.push(what);
    }
    let replay = next.replay;
    if (compare !== null && !same(cfg.replay.targets, next.replay.targets)) {
      kept.push('shadow targets (the comparison is per target: restart to compare others)');
      replay = { ...next.replay, targets: cfg.replay.targets };
    }
    const applied: string[] = [];
    if (!same(cfg.traffic, next.traffic)) applied.push('traffic policy');
    if (!same(cfg.redact, next.redact)) applied.push('redaction');
    if (cfg.drainTimeoutMs !== next.drainTimeoutMs) applied.push('--drain-timeout-ms');
    policy = new TrafficPolicy(next.traffic, Math.random, policy.stats);
    redactor.options = next.redact;
    ownMarker = replay.marker ? replay.marker.name.toLowerCase() : null;
    if (!same(cfg.replay, replay)) {
      applied.push('replay settings');
      const old = replayer;
      replayer = new Replayer({ ...replay, whenFull });
      retired.push(old);
      // What it has in flight ends within its own timeout; queued requests go out meanwhile.
      void old.drain(Math.max(next.drainTimeoutMs, (cfg.replay.timeoutMs ?? 10_000) + 1000));
    }
    cfg = { ...cfg, replay, traffic: next.traffic, redact: next.redact, drainTimeoutMs: next.drainTimeoutMs };
    reloads++;
    if (kept.length > 0) log.warn({ kept }, `reload: these settings need a restart and were kept: ${kept.join(', ')}`);
    log.info({ applied, shadows: replay.targets, reloads }, `configuration reloaded (applied: ${applied.join(', ') || 'nothing changed'})`);
    systemd.ready(`configuration reloaded (${reloads})`);
  };

  return new Promise((resolve) => {
    let stopping = false;
    let captureEnded = false;
    const stop = (why: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ why }, 'stopping: closing capture');
      systemd.stopping(`stopping (${why}): draining the replay queue`);
      admin?.markStopping();
      source.close();
    };
    const onSignal = (sig: NodeJS.Signals) => stop(sig);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const onReload = (): void => {
      if (stopping || captureEnded) return; // draining: nothing is going to be mirrored any more
      if (reload === undefined) {
        log.warn('SIGHUP: nothing to reload (no --config file or environment)');
        return;
      }
      applyReload(reload);
    };
    process.on('SIGHUP', onReload);

    source.start(
      (batch, count) => pipeline.batch(source.linkType, batch, count),
      (err) => {
        captureEnded = true;
        if (err) log.error({ err: err.message }, 'capture failed');
        admin?.markStopping();
        if (!stopping) systemd.stopping(err ? `capture failed: ${err.message}` : 'capture ended: draining the replay queue');
        pipeline.finish();
        log.info({ pending: ledger.pending }, 'draining replay queue');
        Promise.all([replayer, ...retired].map((r) => r.drain(cfg.drainTimeoutMs))).then(() => {
          if (statsTimer) clearInterval(statsTimer);
          if (resultsTimer) clearInterval(resultsTimer);
          compare?.flush();
          writeResults(true);
          output?.close();
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          process.off('SIGHUP', onReload);
          const final = summary();
          if (cfg.summaryJson !== undefined) writeJsonFile(cfg.summaryJson, final);
          log.info({ stats: final }, 'summary');
          void admin?.close();
          resolve(err ? 1 : 0);
        });
      },
    );
    log.info({
      interface: cfg.source.interface ?? null,
      file: cfg.source.file ?? null,
      linkType: source.linkType,
      shadows: cfg.replay.targets,
      wireTiming: cfg.wireTiming,
    }, 'capture started');
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
