// `shadowtap record`: capture production exchanges into a recording file, to replay later.

import { RequestLedger } from '../accounting';
import { ConfigError, RecordConfig } from '../config';
import { RecordOutput } from '../outputs';
import { Admission, Mirror, PacketPipeline } from '../pipeline';
import { RecordingWriter } from '../recording';
import { ConnectionNotices, Logger, createLogger, logShippingSummary } from '../report';
import { Redactor } from '../traffic/redact';
import { Lifecycle, logMemoryBudget, warnWhenIdle } from './lifecycle';
import { openCapture } from './preflight';

function openWriter(cfg: RecordConfig): RecordingWriter {
  try {
    return new RecordingWriter({
      path: cfg.output, redactor: cfg.redact === null ? null : new Redactor(cfg.redact), maxFileBytes: cfg.maxFileBytes, maxFiles: cfg.maxFiles,
      bodies: cfg.bodies,
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
    source = openCapture(cfg.source);
  } catch (err) {
    writer.close();
    throw err;
  }
  const src = source;
  // seen = recorded + Σ notRecorded; the ledger's 'replayed' bucket holds the recorded ones.
  const ledger = new RequestLedger();
  const notices = new ConnectionNotices(log);
  const output = new RecordOutput(writer, (err) => {
    log.error({ err: err.message, output: cfg.output }, 'cannot write the recording: stopping');
    src.close();
  });
  const pipeline = new PacketPipeline(new Mirror({ ledger, admission: new Admission(ledger, null, null), output, notice: notices.notice, flow: null }),
    cfg);
  const summary = () => {
    const l = ledger.snapshot();
    return {
      seen: l.seen, recorded: l.replayed, notRecorded: l.notReplayed, pending: l.pending,
      recording: { ...writer.stats, redacted: cfg.redact !== null }, capture: src.stats(), ...pipeline.stats(),
      logLinesSuppressed: notices.suppressed, ...logShippingSummary(),
    };
  };
  const lifecycle = new Lifecycle({
    log, statsIntervalMs: cfg.statsIntervalMs, summaryJson: cfg.summaryJson, summary, stopAfter: cfg.stopAfter, seen: () => ledger.seen,
    stop: (why) => { log.info({ why }, 'stopping: closing capture'); src.close(); },
  });
  let stopIdleWarning = (): void => {};
  return new Promise((resolve) => {
    src.start((batch, count) => { pipeline.batch(src.linkType, batch, count); lifecycle.counted(); }, (err) => {
      stopIdleWarning();
      if (err) log.error({ err: err.message }, 'capture failed');
      pipeline.finish(); // what is half-received is counted as incomplete; the rest is written
      void output.drain().then(() => {
        if (output.closeError !== null) {
          // Lines still buffered never reached the file: the summary's `recorded` is what the file holds.
          if (output.unwritten > 0) ledger.revoke(output.unwritten, 'writeError');
          log.error({ err: output.closeError.message, output: cfg.output, requestsLost: output.unwritten }, 'cannot write the recording');
        }
        lifecycle.finish();
        resolve(err || output.failure ? 1 : 0);
      });
    });
    log.info({ interface: cfg.source.interface ?? null, file: cfg.source.file ?? null, filter: src.filter ?? null, linkType: src.linkType,
      output: cfg.output, redacted: cfg.redact !== null, bodies: cfg.bodies }, 'recording started');
    stopIdleWarning = warnWhenIdle(src, cfg.source, log);
    logMemoryBudget(cfg.memory, pipeline.reassembler.maxConnections, log);
  });
}
