// Sends captured requests to the shadow targets as bytes, over keep-alive connections (or, with
// preserveConnections, one connection per captured connection: lanes).
// The capture path never waits here: submit() either queues (bounded by count and bytes)
// or refuses at once, and every submission ends in exactly one outcome.

import type { HttpRequest } from '../http';
import { H2Head, h2Head, wantsH2 } from './h2';
import { Fanout, Job } from './job';
import { requestHead, shadowHeaders, unreplayableReason, unsendableHeaders } from './request';
import { Target } from './target';
import { ReplayDone, ReplayOptions, TargetStats, defaultReplayOptions } from './types';

export * from './types';
export type { H2Stats, ShadowProtocol } from './h2';
export type { WireWatch } from './connection';
export { headerList, requestHead, shadowHeaders, unreplayableReason, unsendableHeaders } from './request';

export class Replayer {
  private readonly targets: Target[];
  private readonly options: ReplayOptions;
  private closing = false;

  constructor(options: Partial<ReplayOptions> & { targets: string[] }) {
    this.options = { ...defaultReplayOptions, ...options };
    if (this.options.targets.length === 0) throw new Error('at least one shadow target is needed');
    this.targets = this.options.targets.map((t, i) => new Target(t, this.options, i));
  }

  /** Replays `req` to every target; `done` is called exactly once with the outcome. */
  submit(req: HttpRequest, done: ReplayDone): void {
    if (this.closing) return done('shutdown', [], req);
    if (req.bodyTruncated) return done('bodyTooLarge', [], req);
    if (unreplayableReason(req) !== null) return done('unreplayable', [], req);
    if (wantsH2(req, this.options.shadowProtocol)) return this.submitH2(req, done);
    // The lists differ only in Host (a valid host:port): the first one speaks for all.
    const lists = this.targets.map((t) => shadowHeaders(req.headers, this.options.keepHost ? null : t.host, this.options.marker));
    if (unsendableHeaders(lists[0]) !== null) return done('unreplayable', [], req);
    const fanout = new Fanout(req, this.targets.length, done);
    const bodyLength = req.body === null ? 0 : req.body.length;
    for (let i = 0; i < this.targets.length; i++) {
      const target = this.targets[i];
      this.offer(target, new Job(fanout, i, requestHead(req.method, req.url, lists[i], bodyLength, target.host)));
    }
  }

  /** `req` to every target over HTTP/2. */
  private submitH2(req: HttpRequest, done: ReplayDone): void {
    const { keepHost, marker } = this.options;
    // The heads differ only in :authority (a valid host:port): the first one speaks for all.
    const heads: H2Head[] = [];
    for (const t of this.targets) {
      const head = h2Head(req, keepHost ? null : t.host, t.scheme, t.host, marker);
      if (typeof head === 'string') return done('unreplayable', [], req);
      heads.push(head);
    }
    const fanout = new Fanout(req, this.targets.length, done);
    for (let i = 0; i < this.targets.length; i++) this.offer(this.targets[i], new Job(fanout, i, '', heads[i]));
  }

  /** Queues or sends the job; a refusal is its answer at once. */
  private offer(target: Target, job: Job): void {
    const refused = target.offer(job);
    if (refused !== null) job.finish({
      target: target.stats.target, statusCode: null, headers: null, body: null, bodySize: 0,
      latencyUs: 0, outcome: refused, error: refused === 'rateLimited' ? 'beyond the rate ceiling' : 'queue full',
    });
  }

  /** Requests queued or in flight, over all targets. */
  get busy(): number {
    let n = 0;
    for (const t of this.targets) n += t.busy;
    return n;
  }

  /** True when every target's queue is below its limits. */
  get hasRoom(): boolean {
    return this.targets.every((t) => t.hasRoom);
  }

  stats(): TargetStats[] {
    return this.targets.map((t) => ({ ...t.stats, byStatusClass: { ...t.stats.byStatusClass }, h2: { ...t.h2Stats } }));
  }

  /** Stops accepting, waits up to timeoutMs for queued and in-flight requests, then ends
   * the rest with 'shutdown' and closes the connections and lanes. */
  private draining: Promise<void> | null = null;

  /** Idempotent: a second call gets the first drain. */
  drain(timeoutMs: number): Promise<void> {
    this.draining ??= this.drainOnce(timeoutMs);
    return this.draining;
  }

  /** Stop waiting for what is in flight (a second SIGINT/SIGTERM): a drain under way, or the
   * next one, gives up at once; what had not answered ends as shutdown. */
  hurry(): void {
    this.hurried = true;
    this.cutShort?.();
  }

  private hurried = false;
  private cutShort: (() => void) | null = null;

  private async drainOnce(timeoutMs: number): Promise<void> {
    this.closing = true;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      this.cutShort = resolve;
      timer = setTimeout(resolve, this.hurried ? 0 : timeoutMs);
    });
    await Promise.race([Promise.all(this.targets.map((t) => t.whenIdle())), deadline]);
    clearTimeout(timer);
    for (const t of this.targets) {
      t.abandonQueued('shutdown');
      t.aborting = t.busy > 0;
    }
    await Promise.all(this.targets.map((t) => t.close(t.aborting)));
    await Promise.all(this.targets.map((t) => t.whenIdle()));
  }
}
