// A capture file or a recording as a stream of timed requests, for `replay`: each request with
// the capture time of its first byte and the connection it came on.

import type { RequestLedger } from '../accounting';
import { openSource } from '../capture';
import type { SourceSpec } from '../capture';
import type { HttpOptions, HttpRequest, HttpSink } from '../http';
import type { Exchange } from '../model';
import { RecordingReader, connectionOf, toExchange, toHttpRequest } from '../recording';
import type { ConnectionInfo, ReassemblyOptions } from '../tcp';
import { PacketPipeline, PipelineStats } from './packets';

/** A request with the capture time of its first byte and the connection it came on. */
export interface Timed {
  t: number;
  conn: string;
  req: HttpRequest;
  /** Read order: breaks ties in `t` (a connection's requests never go back in time). */
  seq: number;
  /** From a recording: the request with production's recorded answer. */
  production?: Exchange;
}

/** A pcap feed pauses the capture with this many requests read ahead of the sender, and
 * resumes it below a quarter of that. */
const READ_AHEAD_REQUESTS = 4000;
/** Recorded connections remembered at once (the oldest is forgotten beyond). */
const MAX_CONNECTIONS = 100_000;

/** One pass over the input. */
export interface Feed {
  items(): AsyncGenerator<Timed>;
  /** Stage counters of a pcap input (null for a recording). */
  stats(): (PipelineStats & { capture: unknown }) | null;
}

/** `withProduction`: each item carries production's recorded answer (for `replay --out`). */
export function recordingFeed(file: string, withProduction = false): Feed & { reader: RecordingReader } {
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
        const req = toHttpRequest(r, conn);
        if (!withProduction) {
          yield { t: r.t, conn: String(r.conn), req, seq: seq++ };
          continue;
        }
        yield { t: r.t, conn: String(r.conn), req, seq: seq++, production: toExchange(r, req) };
      }
    },
    stats: () => null,
  };
}

export interface PcapFeedOptions {
  source: SourceSpec;
  tcp: Partial<ReassemblyOptions>;
  http: Partial<HttpOptions>;
}

/** `abandon` takes each request read from the capture but never handed on, because the pass
 * stopped first (SIGINT/SIGTERM, a read error): it must still be accounted for. */
export function pcapFeed(cfg: PcapFeedOptions, ledger: RequestLedger, notice: HttpSink['notice'], abandon: (item: Timed) => void): Feed {
  let last: (PipelineStats & { capture: unknown }) | null = null;
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
          if (!paused && queue.length - head >= READ_AHEAD_REQUESTS) {
            paused = true;
            source.pause();
          }
          poke();
        },
        exchange: () => {},
        lost: (reason) => ledger.seenAndNotReplayed(reason),
        notice,
      };
      const pipeline = new PacketPipeline(sink, cfg);
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
            if (paused && queue.length - head < READ_AHEAD_REQUESTS / 4) {
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

