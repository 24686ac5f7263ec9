// `shadowtap replay`: send a recording (or a pcap/pcapng file) to the shadow(s) at the pace it
// was captured: request i goes out (t_i − t_0) / speed after the pass started.

import type { ReplayFileConfig } from '../config';
import { ConfigError } from '../config';
import type { HttpRequest, HttpSink } from '../http';
import { headerValue } from '../http';
import { RecordingReader, connectionOf, sniffFile, toHttpRequest } from '../recording';
import type { ConnectionInfo } from '../tcp';
import { Replayer, ReplayOutcome, ShadowResponse } from '../replay';
import { Redactor, TrafficPolicy } from '../traffic';
import { LogLimiter, Logger, RequestLedger, ShadowTroubleLog, createLogger, logShippingSummary, writeJsonFile } from '../report';
import { PacketPipeline, PipelineStats } from './pipeline';
import { openSource } from './source';

/** A request with the capture time of its first byte and the connection it came on. */
interface Timed {
  t: number;
  conn: string;
  req: HttpRequest;
  /** Read order: breaks ties in `t` (a connection's requests never go back in time). */
  seq: number;
}

/** Requests are read this far ahead and sent in capture-time order within the window: a
 * recording lists them as their exchanges completed, a pcap as their last bytes arrived. */
const WINDOW_REQUESTS = 1000;
const WINDOW_BYTES = 64 << 20;
/** Recorded connections remembered at once (the oldest is forgotten beyond). */
const MAX_CONNECTIONS = 100_000;
/** A request sent this much after its due time counts as late. */
const LATE_MS = 10;

class MinHeap {
  private readonly a: Timed[] = [];
  get size(): number {
    return this.a.length;
  }
  private static less(x: Timed, y: Timed): boolean {
    return x.t < y.t || (x.t === y.t && x.seq < y.seq);
  }
  push(x: Timed): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!MinHeap.less(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  pop(): Timed | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && MinHeap.less(a[l], a[m])) m = l;
        if (r < a.length && MinHeap.less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

/** One pass over the input. */
interface Feed {
  items(): AsyncGenerator<Timed>;
  /** Stage counters of a pcap input (null for a recording). */
  stats(): (PipelineStats & { capture: unknown }) | null;
}

function recordingFeed(file: string): Feed & { reader: RecordingReader } {
  const reader = RecordingReader.open(file);
  let seq = 0;
  return {
    reader,
    async *items() {
      // One ConnectionInfo per recorded connection: the replayer's lanes go by it.
      const conns = new Map<number, ConnectionInfo>();
      for await (const r of reader.requests()) {
        let conn = conns.get(r.conn);
        if (conn === undefined) {
          conn = connectionOf(r);
          conns.set(r.conn, conn);
          if (conns.size > MAX_CONNECTIONS) conns.delete(conns.keys().next().value as number);
        }
        yield { t: r.t, conn: String(r.conn), req: toHttpRequest(r, conn), seq: seq++ };
      }
    },
    stats: () => null,
  };
}

/** `abandon` takes each request read from the capture but never handed on, because the pass
 * stopped first (SIGINT/SIGTERM, a read error): it must still be accounted for. */
function pcapFeed(cfg: ReplayFileConfig, ledger: RequestLedger, log: Logger, abandon: (item: Timed) => void): Feed {
  let last: (PipelineStats & { capture: unknown }) | null = null;
  const notices = new LogLimiter(20);
  return {
    stats: () => last,
    async *items() {
      const queue: Timed[] = [];
      let head = 0;
      let seq = 0;
      let ended = false;
      let failure: Error | undefined;
      let paused = false;
      let wake: (() => void) | null = null;
      let stopped = false;
      const poke = (): void => {
        const w = wake;
        wake = null;
        w?.();
      };
      const source = openSource(cfg.source);
      const sink: HttpSink = {
        request: (req) => {
          const item = { t: req.startUs, conn: String(req.conn.id), req, seq: seq++ };
          if (stopped) return abandon(item); // the capture's last batch, after the pass stopped
          queue.push(item);
          if (!paused && queue.length - head >= 4 * WINDOW_REQUESTS) {
            paused = true;
            source.pause();
          }
          poke();
        },
        exchange: () => {},
        lost: (reason) => ledger.seenAndNotReplayed(reason),
        notice: (kind, conn, detail) => {
          if (notices.allow()) log.warn({ kind, conn: conn.id, detail }, `connection ${conn.id}: ${kind}`);
        },
      };
      const pipeline = new PacketPipeline(sink, { tcp: cfg.tcp, http: cfg.http });
      source.start(
        (batch, count) => pipeline.batch(source.linkType, batch, count),
        (err) => {
          pipeline.finish();
          last = { capture: source.stats(), ...pipeline.stats() };
          ended = true;
          failure = err;
          poke();
        },
      );
      try {
        for (;;) {
          if (head < queue.length) {
            const item = queue[head];
            queue[head++] = undefined as unknown as Timed;
            if (head > 4096 && head * 2 > queue.length) {
              queue.splice(0, head);
              head = 0;
            }
            if (paused && queue.length - head < WINDOW_REQUESTS) {
              paused = false;
              source.resume();
            }
            yield item;
          } else if (ended) {
            if (failure) throw failure;
            return;
          } else {
            await new Promise<void>((resolve) => { wake = resolve; });
          }
        }
      } finally {
        stopped = true;
        source.close();
        // Read ahead and never yielded: the queue's requests are seen, and not replayed.
        for (let i = head; i < queue.length; i++) abandon(queue[i]);
        queue.length = 0;
        head = 0;
      }
    },
  };
}

/** A \r-rewritten progress line on stderr (only when stderr is a terminal). */
class Progress {
  private readonly timer: NodeJS.Timeout | null;
  private readonly started = performance.now();
  constructor(private readonly sent: () => number, private readonly total: () => number | null) {
    this.timer = process.stderr.isTTY ? setInterval(() => this.render(), 200) : null;
  }
  render(): void {
    if (this.timer === null) return;
    const sent = this.sent();
    const total = this.total();
    const elapsed = ((performance.now() - this.started) / 1000).toFixed(1);
    let line: string;
    if (total !== null && total > 0) {
      const f = Math.min(1, sent / total);
      const width = 30;
      const done = Math.round(f * width);
      line = `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${(f * 100).toFixed(0).padStart(3)}%  ${sent}/${total} sent  ${elapsed}s`;
    } else {
      line = `${sent} sent  ${elapsed}s`;
    }
    process.stderr.write(`\r${line}\x1b[K`);
  }
  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.render();
    process.stderr.write('\n');
  }
}

export async function replayFile(cfg: ReplayFileConfig, log: Logger = createLogger(cfg.logLevel, cfg.logTo)): Promise<number> {
  let kind: string;
  try {
    kind = sniffFile(cfg.file);
  } catch (err) {
    throw new ConfigError('--file', (err as Error).message);
  }
  if (kind === 'unknown') throw new ConfigError('--file', `${cfg.file}: neither a shadowtap recording nor a pcap/pcapng file`);
  const ledger = new RequestLedger();
  const ownMarker = cfg.replay.marker ? cfg.replay.marker.name.toLowerCase() : null;
  let ownReplaysIgnored = 0;
  /** A request read but never handed to the replayer (nor to the read-ahead): the pass stopped. */
  const abandon = (item: Timed): void => {
    if (ownMarker !== null && headerValue(item.req.headers, ownMarker) !== null) ownReplaysIgnored++;
    else ledger.seenAndNotReplayed('shutdown');
  };
  let feed: Feed;
  let reader: RecordingReader | null = null;
  if (kind === 'recording') {
    try {
      const f = recordingFeed(cfg.file);
      reader = f.reader;
      feed = f;
    } catch (err) {
      throw new ConfigError('--file', (err as Error).message);
    }
  } else {
    feed = pcapFeed(cfg, ledger, log, abandon);
  }

  // A file never drops for a full queue; each recorded connection gets a shadow connection of
  // its own carrying its requests in order (lanes).
  const replayer = new Replayer({ ...cfg.replay, whenFull: 'wait', preserveConnections: true });
  const policy = new TrafficPolicy(cfg.traffic);
  const redactor = new Redactor();
  const shadowTrouble = new ShadowTroubleLog(log, (text) => redactor.text(text));
  let sent = 0;
  let late = 0;
  let maxLateMs = 0;
  const passes: Array<{ requests: number; recordedSpanMs: number; sendSpanMs: number }> = [];

  // Per recorded connection: a request waits for its predecessor's answer, so the shadow sees
  // a connection's requests in their recorded order whatever the pool does.
  const conns = new Map<string, Array<{ item: Timed; due: number }>>();
  let held = 0;
  let onProgress: (() => void) | null = null; // room in the queue, a held request sent, all settled
  const notify = (): void => {
    const f = onProgress;
    onProgress = null;
    f?.();
  };
  const waitProgress = (): Promise<void> => new Promise((resolve) => { onProgress = resolve; });

  const submit = (item: Timed, due: number): void => {
    const lateMs = performance.now() - due;
    if (lateMs > LATE_MS) late++;
    if (lateMs > maxLateMs) maxLateMs = lateMs;
    sent++;
    replayer.submit(item.req, done);
  };
  const connOf = new WeakMap<HttpRequest, string>();
  const done = (outcome: ReplayOutcome, responses: ShadowResponse[], req: HttpRequest): void => {
    ledger.settle(outcome);
    shadowTrouble.note(outcome, responses);
    const key = connOf.get(req) as string;
    const waiting = conns.get(key);
    if (waiting !== undefined) {
      if (stopping) {
        for (let i = 0; i < waiting.length; i++) ledger.settle('shutdown');
        held -= waiting.length;
        conns.delete(key);
      } else {
        const next = waiting.shift();
        if (next === undefined) conns.delete(key);
        else {
          held--;
          submit(next.item, next.due);
        }
      }
    }
    notify();
  };
  /** Sends a request (seen when it entered the read-ahead), or holds it behind its connection's. */
  const dispatch = (item: Timed, due: number): void => {
    connOf.set(item.req, item.conn);
    const waiting = conns.get(item.conn);
    if (waiting !== undefined) {
      waiting.push({ item, due });
      held++;
      return;
    }
    conns.set(item.conn, []);
    submit(item, due);
  };

  let stopping = false;
  let cancelSleep: (() => void) | null = null;
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => {
    const timer = setTimeout(() => { cancelSleep = null; resolve(); }, ms);
    cancelSleep = () => { clearTimeout(timer); cancelSleep = null; resolve(); };
  });
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info({ why: sig }, 'stopping: no more requests are sent');
    cancelSleep?.();
    notify();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let perPass: number | null = null;
  if (reader !== null && process.stderr.isTTY) perPass = await reader.countRequests();
  const progress = new Progress(() => sent, () => (perPass === null ? null : perPass * cfg.loop));
  const summary = () => ({
    file: cfg.file,
    kind,
    ...(reader !== null ? { recording: { id: reader.header.recording, redacted: reader.header.redacted, parts: reader.files } } : {}),
    speed: cfg.speed,
    loop: cfg.loop,
    ...ledger.snapshot(),
    sent,
    pacing: { late, lateThresholdMs: LATE_MS, maxLateMs: Math.round(maxLateMs), passes },
    ownReplaysIgnored,
    traffic: policy.stats,
    shadows: replayer.stats(),
    ...(feed.stats() ?? {}),
    ...logShippingSummary(),
  });
  const statsTimer = cfg.statsIntervalMs > 0
    ? setInterval(() => log.info({ stats: summary() }, 'stats'), cfg.statsIntervalMs)
    : undefined;
  log.info({ file: cfg.file, kind, shadows: cfg.replay.targets, speed: cfg.speed, loop: cfg.loop }, 'replay started');

  let failure: Error | null = null;
  // The read-ahead: its requests are counted as seen (pending) as they enter it.
  let heap = new MinHeap();
  try {
    for (let pass = 0; pass < cfg.loop && !stopping; pass++) {
      heap = new MinHeap();
      let heapBytes = 0;
      let passStart = 0;
      let t0: number | null = null;
      let tLast = 0;
      let firstSend = 0;
      let lastSend = 0;
      let count = 0;
      const next = async (): Promise<void> => {
        const item = heap.pop() as Timed;
        heapBytes -= item.req.bodySize;
        if (t0 === null) {
          t0 = item.t; // pacing starts with the first request, not with reading
          passStart = performance.now();
        }
        if (item.t > tLast) tLast = item.t;
        let due = performance.now();
        if (cfg.speed > 0) {
          due = passStart + (item.t - t0) / 1000 / cfg.speed;
          const wait = due - performance.now();
          if (wait >= 1) await sleep(wait);
        }
        while (!stopping && !replayer.hasRoom) await waitProgress();
        if (stopping) {
          ledger.settle('shutdown'); // seen when it entered the read-ahead
          return;
        }
        lastSend = performance.now();
        if (count++ === 0) firstSend = lastSend;
        dispatch(item, due);
      };
      for await (const item of feed.items()) {
        if (stopping) {
          abandon(item);
          break;
        }
        if (ownMarker !== null && headerValue(item.req.headers, ownMarker) !== null) {
          ownReplaysIgnored++;
          continue;
        }
        const why = policy.decide(item.req);
        if (why !== null) {
          ledger.seenAndNotReplayed(why);
          continue;
        }
        item.req = policy.rewrite(item.req);
        ledger.seenPending();
        heap.push(item);
        heapBytes += item.req.bodySize;
        while (!stopping && (heap.size > WINDOW_REQUESTS || heapBytes > WINDOW_BYTES)) await next();
      }
      while (!stopping && heap.size > 0) await next();
      // The pass ends once its last request was sent (held ones included).
      while (!stopping && held > 0) await waitProgress();
      if (pass === 0 && perPass === null) perPass = count;
      passes.push({
        requests: count,
        recordedSpanMs: t0 === null ? 0 : Math.round((tLast - t0) / 1000),
        sendSpanMs: Math.round(lastSend - firstSend),
      });
    }
  } catch (err) {
    failure = err as Error;
    log.error({ err: failure.message }, 'cannot read the input');
    stopping = true;
  }

  // The read-ahead left when the pass stopped (signal, read error): seen, never sent.
  while (heap.size > 0) {
    heap.pop();
    ledger.settle('shutdown');
  }
  // Everything sent is answered (or times out) before the drain; a signal cuts the wait short.
  while (!stopping && ledger.pending > held) await waitProgress();
  if (held > 0) {
    for (const [, waiting] of conns) for (const _ of waiting) ledger.settle('shutdown');
    held = 0;
    conns.clear();
  }
  await replayer.drain(cfg.drainTimeoutMs);
  progress.stop();
  if (statsTimer) clearInterval(statsTimer);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  const final = summary();
  if (cfg.summaryJson !== undefined) writeJsonFile(cfg.summaryJson, final);
  log.info({ stats: final }, 'summary');
  return failure === null ? 0 : 1;
}
