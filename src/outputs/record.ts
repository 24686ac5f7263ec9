// `record`'s output: each exchange as a line of a recording file (redacted, rotated, 0600).

import type { Exchange, HttpRequest } from '../model';
import type { RecordingWriter } from '../recording';
import type { Output, Settle } from './index';

export class RecordOutput implements Output {
  readonly hasRoom = true;
  /** The first write error; from then on nothing more is written. */
  failure: Error | null = null;
  /** Requests counted as recorded whose lines never reached the file (a failed close). */
  unwritten = 0;
  /** Closing failed: `unwritten` requests are lost. */
  closeError: Error | null = null;
  private settle: Settle = () => {};

  /** `onFailure` runs once, at the first failed write (the command stops the capture). */
  constructor(private readonly writer: RecordingWriter, private readonly onFailure: (err: Error) => void) {}

  request(_captured: HttpRequest, _sent: HttpRequest, settle: Settle): void {
    this.settle = settle; // settled when its exchange is written
  }

  exchange(ex: Exchange): void {
    if (this.failure !== null) return this.settle('writeError');
    try {
      this.settle(this.writer.write(ex) ? 'replayed' : 'bodyTooLarge');
    } catch (err) {
      this.failure = err as Error;
      this.settle('writeError');
      this.onFailure(this.failure);
    }
  }

  drain(): Promise<void> {
    try {
      this.writer.close();
    } catch (e) {
      this.failure ??= e as Error;
      // Lines still buffered never reached the file.
      this.unwritten = this.writer.stats.unwritten;
      this.closeError = e as Error;
    }
    return Promise.resolve();
  }

  stats(): Record<string, unknown> {
    return { ...this.writer.stats };
  }
}
