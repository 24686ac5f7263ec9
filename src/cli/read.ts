// `shadowtap read`: one JSON line per HTTP exchange found in a capture file or a recording.

import { RequestLedger } from '../accounting';
import { ConfigError, ReadConfig } from '../config';
import { PrintOutput } from '../outputs';
import { Admission, Mirror, PacketPipeline, printRecording } from '../pipeline';
import { RecordingError, sniffFile } from '../recording';
import { writeJsonFile } from '../report';
import { openCapture } from './preflight';

export { exchangeLine } from '../outputs';

/** A recording: its exchanges as they were recorded (no capture pipeline). */
async function readRecording(cfg: ReadConfig, out: NodeJS.WritableStream): Promise<number> {
  const ledger = new RequestLedger();
  try {
    const reader = await printRecording(cfg.source.file as string, ledger, out);
    if (cfg.summaryJson !== undefined) writeJsonFile(cfg.summaryJson, { ...ledger.snapshot(), recording: { id: reader.header.recording, parts: reader.files, tornLines: reader.tornLines } });
    process.stderr.write(`shadowtap read: ${ledger.seen} requests in the recording${reader.tornLines > 0 ? ` (${reader.tornLines} torn last line skipped)` : ''}\n`);
    return 0;
  } catch (err) {
    throw err instanceof RecordingError ? new ConfigError('--file', err.message) : err;
  }
}

function isRecording(file: string | undefined): boolean {
  try {
    return file !== undefined && sniffFile(file) === 'recording';
  } catch {
    return false; // opening the capture says what is wrong
  }
}

/** Packets the file had out of time order, when any (see --reorder-packets). */
function outOfOrderNote(capture: { outOfOrder: number; lateBeyondWindow: number }): string {
  if (capture.outOfOrder === 0) return '';
  const late = capture.lateBeyondWindow;
  return `; ${capture.outOfOrder} packets out of time order${late > 0 ? `, ${late} of them beyond the reorder window (--reorder-packets), delivered late` : ', put back in order'}`;
}

export function read(cfg: ReadConfig, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  if (isRecording(cfg.source.file)) return readRecording(cfg, out);
  const ledger = new RequestLedger();
  const output = new PrintOutput(out);
  const mirror = new Mirror({ ledger, admission: new Admission(ledger, null, null), output, notice: () => {}, flow: null });
  const pipeline = new PacketPipeline(mirror, cfg);
  const source = openCapture(cfg.source);
  return new Promise((resolve) => {
    // A read can hand over several batches (the reorder window's): one wait for 'drain' at a time.
    let waiting = false;
    source.start(
      (batch, count) => {
        pipeline.batch(source.linkType, batch, count);
        if (!output.flush() && !waiting) {
          waiting = true;
          source.pause();
          out.once('drain', () => {
            waiting = false;
            source.resume();
          });
        }
      },
      (err) => {
        pipeline.finish();
        output.flush();
        const summary = { ...ledger.snapshot(), capture: source.stats(), ...pipeline.stats(), error: err?.message ?? null };
        let unwritten: string | null = null;
        try {
          if (cfg.summaryJson !== undefined) writeJsonFile(cfg.summaryJson, summary);
        } catch (e) {
          unwritten = (e as Error).message;
        }
        process.stderr.write(`shadowtap read: ${summary.seen} requests seen, ${pipeline.http.stats.requests} complete` +
          `${outOfOrderNote(summary.capture)}` +
          `${err ? `; stopped early: ${err.message}` : ''}${unwritten !== null ? `; cannot write --summary-json: ${unwritten}` : ''}\n`);
        resolve(err ? 1 : 0); // the line above says why
      },
    );
  });
}
