// `shadowtap replay`: send a recording (or a pcap/pcapng file) to the shadow(s) at the pace it
// was captured: request i goes out (t_i − t_0) / speed after the pass started.

import { RequestLedger } from '../accounting';
import type { ReplayFileConfig } from '../config';
import { ConfigError } from '../config';
import type { HttpRequest } from '../http';
import { headerValue } from '../http';
import { Feed, MinHeap, Timed, pcapFeed, recordingFeed } from '../pipeline';
import { RecordingReader, sniffFile } from '../recording';
import { Replayer, ReplayOutcome, ShadowResponse } from '../replay';
import { ConnectionNotices, Logger, ShadowTroubleLog, createLogger, logShippingSummary } from '../report';
import { Redactor, TrafficPolicy } from '../traffic';
import { Lifecycle } from './lifecycle';
import { Progress } from './progress';

/** Requests are read this far ahead and sent in capture-time order within the window: a
 * recording lists them as their exchanges completed, a pcap as their last bytes arrived. */
const WINDOW_REQUESTS = 1000;
const WINDOW_BYTES = 64 << 20;
/** Recorded connections remembered at once (the oldest is forgotten beyond). */
const MAX_CONNECTIONS = 100_000;
/** A request sent this much after its due time counts as late. */
const LATE_MS = 10;

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
    feed = pcapFeed(cfg, ledger, new ConnectionNotices(log).notice, abandon);
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
  const lifecycle = new Lifecycle({
    log, statsIntervalMs: cfg.statsIntervalMs, summaryJson: cfg.summaryJson, summary,
    stop: (why) => {
      stopping = true;
      log.info({ why }, 'stopping: no more requests are sent');
      cancelSleep?.();
      notify();
    },
  });
  let perPass: number | null = null;
  if (reader !== null && process.stderr.isTTY) perPass = await reader.countRequests();
  const progress = new Progress(() => sent, () => (perPass === null ? null : perPass * cfg.loop));
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
  lifecycle.finish();
  return failure === null ? 0 : 1;
}
