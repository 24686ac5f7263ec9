// `shadowtap read`: one JSON line per HTTP exchange found in a capture file.

import { RequestLedger } from '../accounting';
import type { ReadConfig } from '../config';
import { PrintOutput } from '../outputs';
import { Admission, Mirror, PacketPipeline } from '../pipeline';
import { writeJsonFile } from '../report';
import { openCapture } from './preflight';

export { exchangeLine } from '../outputs';

export function read(cfg: ReadConfig, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const ledger = new RequestLedger();
  const output = new PrintOutput(out);
  const mirror = new Mirror({ ledger, admission: new Admission(ledger, null, null), output, notice: () => {}, flow: null });
  const pipeline = new PacketPipeline(mirror, cfg);
  const source = openCapture(cfg.source);
  return new Promise((resolve) => {
    source.start(
      (batch, count) => {
        pipeline.batch(source.linkType, batch, count);
        if (!output.flush()) {
          source.pause();
          out.once('drain', () => source.resume());
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
          `${err ? `; stopped early: ${err.message}` : ''}${unwritten !== null ? `; cannot write --summary-json: ${unwritten}` : ''}\n`);
        resolve(err ? 1 : 0); // the line above says why
      },
    );
  });
}
