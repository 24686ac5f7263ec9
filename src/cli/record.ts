// `shadowtap record`: capture production exchanges into a recording file, to replay later.

import { ConfigError, RecordConfig } from '../config';
import type { HttpSink } from '../http';
import { RecordingWriter } from '../recording';
import { LogLimiter, Logger, RequestLedger, createLogger, logShippingSummary, writeJsonFile } from '../report';
import { Redactor } from '../traffic/redact';
import { PacketPipeline } from './pipeline';
import { openSource } from './source';

function openWriter(cfg: RecordConfig): RecordingWriter {
  try {
    return new RecordingWriter({
      path: cfg.output,
      redactor: cfg.redact === null ? null : new Redactor(cfg.redact),
      maxFileBytes: cfg.maxFileBytes,
      maxFiles: cfg.maxFiles,
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EEXIST' ? 'exists (a recording is never overwritten)'
      : e.code === 'ENOENT' ? 'its directory does not exist' : e.message;
    throw new ConfigError('--output', `${cfg.output}: ${why}`);
  }
}

export function record(cfg: RecordConfig, log: Logger = createLogger(cfg.logLevel, cfg.logTo)): Promise<number> {
  const writer = openWriter(cfg);
  let source;
  try {
    source = openSource(cfg.source);
  } catch (err) {
    writer.close();
    throw err;
  }
  const src = source;
  // seen = recorded + Σ notRecorded; the ledger's 'replayed' bucket holds the recorded ones.
  const ledger = new RequestLedger();
  const notices = new LogLimiter(20);
  let writeError: Error | null = null;

  const sink: HttpSink = {
    request: () => ledger.seenPending(),
    exchange: (ex) => {
      if (writeError !== null) return ledger.settle('writeError');
      try {
        ledger.settle(writer.write(ex) ? 'replayed' : 'bodyTooLarge');
      } catch (err) {
        writeError = err as Error;
        ledger.settle('writeError');
        log.error({ err: writeError.message, output: cfg.output }, 'cannot write the recording: stopping');
        src.close();
      }
    },
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

  const summary = () => {
    const l = ledger.snapshot();
    return {
      seen: l.seen,
      recorded: l.replayed,
      notRecorded: l.notReplayed,
      pending: l.pending,
      recording: { ...writer.stats, redacted: cfg.redact !== null },
      capture: src.stats(),
      ...pipeline.stats(),
      logLinesSuppressed: notices.suppressed,
      ...logShippingSummary(),
    };
  };
  const statsTimer = cfg.statsIntervalMs > 0
    ? setInterval(() => log.info({ stats: summary() }, 'stats'), cfg.statsIntervalMs)
    : undefined;

  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log.info({ why: sig }, 'stopping: closing capture');
      src.close();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    src.start(
      (batch, count) => pipeline.batch(src.linkType, batch, count),
      (err) => {
        if (err) log.error({ err: err.message }, 'capture failed');
        pipeline.finish(); // what is half-received is counted as incomplete; the rest is written
        if (statsTimer) clearInterval(statsTimer);
        try {
          writer.close();
        } catch (e) {
          writeError ??= e as Error;
          // Lines still buffered never reached the file: recorded → writeError, so that the
          // summary's `recorded` is what the file holds (and seen = recorded + Σ notRecorded).
          const lost = writer.stats.unwritten;
          if (lost > 0) {
            ledger.replayed -= lost;
            ledger.notReplayed.writeError = (ledger.notReplayed.writeError ?? 0) + lost;
          }
          log.error({ err: (e as Error).message, output: cfg.output, requestsLost: lost }, 'cannot write the recording');
        }
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        const final = summary();
        if (cfg.summaryJson !== undefined) writeJsonFile(cfg.summaryJson, final);
        log.info({ stats: final }, 'summary');
        resolve(err || writeError ? 1 : 0);
      },
    );
    log.info({
      interface: cfg.source.interface ?? null, file: cfg.source.file ?? null, linkType: src.linkType,
      output: cfg.output, redacted: cfg.redact !== null,
    }, 'recording started');
  });
}
