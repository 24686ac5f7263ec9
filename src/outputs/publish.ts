// The fleet agent's output: each selected exchange, once production's answer is in, goes to the
// broker as a message (src/fleet/message.ts) with its fleet-unique id as the message id. Capture
// never waits: messages wait in a bounded buffer (bytes) for the broker to store them; beyond
// it they are dropped (publishDropped); one the broker refuses, or has not stored within the
// timeout (an outage longer than the buffer covers), is given up (publishFailed). While the
// broker is away nothing is sent; publishing resumes on reconnection, oldest first, and a
// message sent again after a lost acknowledgement is dropped by the broker as a duplicate.

import type { Exchange, HttpRequest } from '../model';
import { encodeExchange } from '../fleet/message';
import { PublishRejected } from '../fleet/transport';
import type { Publisher } from '../fleet/transport';
import type { Output, Settle } from './index';

export interface PublishOutputOptions {
  publisher: Publisher;
  /** This agent's name and run id: exchange ids are host/run/id. */
  host: string;
  run: string;
  maxBufferBytes: number;
  /** From capture to stored, at most. */
  timeoutMs: number;
  /** Publishes awaiting acknowledgement at once. */
  inFlight: number;
  /** A publish that failed (rate-limited by the caller). */
  onFailure: (why: string, id: string) => void;
}

/** One attempt waits this long for the broker's acknowledgement (less when the deadline is nearer). */
const ATTEMPT_MS = 5000;
/** No message is smaller (the envelope and a bodiless exchange's JSON). */
const SMALLEST_MESSAGE = 200;
/** A failed attempt is retried after this pause (the broker may be restarting). */
const RETRY_MS = 250;

interface Pending {
  id: string;
  data: Buffer;
  deadline: number;
  settled: boolean;
}

export interface PublishStats {
  published: number;
  /** Stored already (a retry whose first acknowledgement was lost): published once. */
  brokerDuplicates: number;
  dropped: number;
  failed: number;
  retries: number;
  bufferedBytes: number;
  peakBufferedBytes: number;
  bufferLimitBytes: number;
  queued: number;
  inFlight: number;
  ready: boolean;
  connected: boolean;
  reconnects: number;
  disconnects: number;
}

export class PublishOutput implements Output {
  /** Live capture never waits for the broker. */
  readonly hasRoom = true;
  private settle: Settle = () => {};
  /** A request rewritten by the traffic policy, until its exchange comes. */
  private readonly sentOf = new WeakMap<HttpRequest, HttpRequest>();
  private queue: Pending[] = [];
  private head = 0;
  /** Sent and not acknowledged in time: sent again before the queue. */
  private readonly retry: Pending[] = [];
  private readonly flying = new Set<Pending>();
  private inFlight = 0;
  private bufferedBytes = 0;
  private peakBufferedBytes = 0;
  private published = 0;
  private brokerDuplicates = 0;
  private dropped = 0;
  private failed = 0;
  private retries = 0;
  private closing = false;
  private readonly sweeper: NodeJS.Timeout;
  private idle: (() => void) | null = null;

  constructor(private readonly options: PublishOutputOptions) {
    options.publisher.onReady(() => this.pump());
    // Messages that waited past their deadline (the broker away too long) are given up.
    this.sweeper = setInterval(() => this.expire(), 500);
    this.sweeper.unref();
  }

  request(captured: HttpRequest, sent: HttpRequest, settle: Settle): void {
    this.settle = settle;
    if (sent !== captured) this.sentOf.set(captured, sent);
  }

  exchange(ex: Exchange): void {
    const sent = this.sentOf.get(ex.request) ?? ex.request;
    // A full buffer (the broker away) drops without the cost of encoding first.
    if (this.bufferedBytes + SMALLEST_MESSAGE > this.options.maxBufferBytes) return this.drop();
    const message = encodeExchange(ex, sent, this.options.host, this.options.run);
    if (message === null) return this.settle('bodyTooLarge');
    if (this.closing || this.bufferedBytes + message.data.length > this.options.maxBufferBytes) return this.drop();
    this.bufferedBytes += message.data.length;
    if (this.bufferedBytes > this.peakBufferedBytes) this.peakBufferedBytes = this.bufferedBytes;
    this.queue.push({ id: message.id, data: message.data, deadline: performance.now() + this.options.timeoutMs, settled: false });
    this.pump();
  }

  private drop(): void {
    this.dropped++;
    this.settle('publishDropped');
  }

  /** Sends what waits while the broker is ready and acknowledgements are not too many: retries first. */
  private pump(): void {
    const publisher = this.options.publisher;
    while (this.retry.length > 0 && this.inFlight < this.options.inFlight && publisher.ready) this.send(this.retry.shift()!);
    while (this.head < this.queue.length && this.inFlight < this.options.inFlight && publisher.ready) {
      const p = this.queue[this.head];
      this.queue[this.head++] = undefined as unknown as Pending;
      this.send(p);
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.checkIdle();
  }

  private send(p: Pending): void {
    this.inFlight++;
    this.flying.add(p);
    const wait = Math.max(1, Math.min(ATTEMPT_MS, p.deadline - performance.now()));
    this.options.publisher.publish(p.data, p.id, wait).then((stored) => {
      this.landed(p);
      if (stored.duplicate) this.brokerDuplicates++;
      this.finish(p, 'replayed');
      this.pump();
    }, (err: Error) => {
      this.landed(p);
      if (p.settled) return;
      if (err instanceof PublishRejected || performance.now() >= p.deadline || this.closing) {
        this.options.onFailure(err.message, p.id);
        this.finish(p, 'publishFailed');
      } else {
        // Not acknowledged (yet): the same id again a moment later; the broker drops a copy it already holds.
        this.retries++;
        this.retry.push(p);
        this.retryLater();
        return;
      }
      this.pump();
    });
  }

  private retryTimer: NodeJS.Timeout | null = null;

  private retryLater(): void {
    if (this.retryTimer !== null) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.pump();
    }, RETRY_MS);
  }

  private landed(p: Pending): void {
    this.inFlight--;
    this.flying.delete(p);
  }

  private finish(p: Pending, outcome: 'replayed' | 'publishFailed' | 'shutdown'): void {
    if (p.settled) return;
    p.settled = true;
    this.bufferedBytes -= p.data.length;
    if (outcome === 'replayed') this.published++;
    else if (outcome === 'publishFailed') this.failed++;
    this.settle(outcome);
  }

  /** Waiting messages past their deadline are given up (the queue is in deadline order). */
  private expire(): void {
    const now = performance.now();
    const late = (p: Pending): void => {
      this.options.onFailure('not stored in time (the broker away)', p.id);
      this.finish(p, 'publishFailed');
    };
    while (this.retry.length > 0 && this.retry[0].deadline <= now) late(this.retry.shift()!);
    while (this.head < this.queue.length && this.queue[this.head].deadline <= now) {
      const p = this.queue[this.head];
      this.queue[this.head++] = undefined as unknown as Pending;
      late(p);
    }
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.idle !== null && this.inFlight === 0 && this.retry.length === 0 && this.head >= this.queue.length) this.idle();
  }

  /** Publishes what waits within `timeoutMs`; what is left then ends as shutdown. */
  async drain(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.idle = resolve;
      timer = setTimeout(resolve, timeoutMs);
      this.checkIdle();
    });
    clearTimeout(timer);
    this.closing = true;
    clearInterval(this.sweeper);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    for (const p of [...this.retry, ...this.queue.slice(this.head), ...this.flying]) this.finish(p, 'shutdown');
    this.retry.length = 0;
    this.queue = [];
    this.head = 0;
    await this.options.publisher.close();
  }

  stats(): { publish: PublishStats } {
    const t = this.options.publisher.stats();
    return {
      publish: {
        published: this.published, brokerDuplicates: this.brokerDuplicates, dropped: this.dropped, failed: this.failed, retries: this.retries,
        bufferedBytes: this.bufferedBytes, peakBufferedBytes: this.peakBufferedBytes, bufferLimitBytes: this.options.maxBufferBytes,
        queued: this.queue.length - this.head + this.retry.length, inFlight: this.inFlight, ready: this.options.publisher.ready, ...t,
      },
    };
  }
}
