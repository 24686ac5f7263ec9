// Plays HTTP conversations through PacketPipeline with a recording sink. Usable in-process
// and inside a worker thread (guarded()), so that a parser stuck in a loop is caught by a
// timeout instead of hanging the test run.

import { strict as assert } from 'node:assert';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { HttpOptions, HttpRequest, HttpSink, Exchange, NoticeKind, RequestLoss } from '../../src/http';
import type { ConnectionInfo, ReassemblyOptions } from '../../src/tcp';
import { PacketPipeline } from '../../src/pipeline';
import { C2S, Conversation, ConversationOptions, LinkType, S2C, Seg, packBatch } from '../support/packets';

export class RecordingSink implements HttpSink {
  requests: HttpRequest[] = [];
  exchanges: Exchange[] = [];
  losts: Array<{ reason: RequestLoss; conn: ConnectionInfo; detail: string }> = [];
  notices: Array<{ kind: NoticeKind; conn: ConnectionInfo; detail: string }> = [];
  request(req: HttpRequest): void { this.requests.push(req); }
  exchange(ex: Exchange): void { this.exchanges.push(ex); }
  lost(reason: RequestLoss, conn: ConnectionInfo, detail: string): void { this.losts.push({ reason, conn, detail }); }
  notice(kind: NoticeKind, conn: ConnectionInfo, detail: string): void { this.notices.push({ kind, conn, detail }); }
}

export interface PipelineOptions {
  tcp?: Partial<ReassemblyOptions>;
  http?: Partial<HttpOptions>;
  /** Also play everything through a second pipeline with the other fastHeads setting and
   * assert at finish() that both gave the same requests, exchanges, losses, notices and
   * stats (default true: every conversation of these tests checks the fast head path). */
  twin?: boolean;
}

function onePipeline(o: PipelineOptions, fastHeads: boolean): { sink: RecordingSink; pipe: PacketPipeline } {
  const sink = new RecordingSink();
  const pipe = new PacketPipeline(sink, {
    tcp: { serverPorts: new Set([80]), ...o.tcp },
    http: { keepRequestBodies: true, keepResponseBodies: true, hashBodies: true, ...o.http, fastHeads },
  });
  return { sink, pipe };
}

/** Everything an HTTP stage reported, deep-compared (bodies by content). */
export function assertSameOutcome(a: { sink: RecordingSink; pipe: PacketPipeline }, b: { sink: RecordingSink; pipe: PacketPipeline }, what: string): void {
  assert.deepStrictEqual(a.sink.requests, b.sink.requests, `${what}: requests`);
  assert.deepStrictEqual(a.sink.exchanges, b.sink.exchanges, `${what}: exchanges`);
  assert.deepStrictEqual(a.sink.losts, b.sink.losts, `${what}: losses`);
  assert.deepStrictEqual(a.sink.notices, b.sink.notices, `${what}: notices`);
  assert.deepStrictEqual(a.pipe.stats(), b.pipe.stats(), `${what}: stats`);
}

export function newPipeline(o: PipelineOptions = {}): { sink: RecordingSink; pipe: PacketPipeline } {
  const fastHeads = o.http?.fastHeads ?? true;
  const main = onePipeline(o, fastHeads);
  if (o.twin === false) return main;
  const twin = onePipeline(o, !fastHeads);
  const { pipe } = main;
  const batch = pipe.batch.bind(pipe);
  const finish = pipe.finish.bind(pipe);
  pipe.batch = (linkType, buf, count) => {
    batch(linkType, buf, count);
    twin.pipe.batch(linkType, buf, count);
  };
  pipe.finish = () => {
    finish();
    twin.pipe.finish();
    assertSameOutcome(main, twin, `fastHeads ${fastHeads} vs ${!fastHeads}`);
  };
  return main;
}

/** Feeds segments, one batch per segment (as a live capture might). */
export function play(pipe: PacketPipeline, conv: Conversation, segs: Seg[] = conv.segs, linkType: number = LinkType.ETHERNET): void {
  for (const s of segs) {
    const { buf, count } = packBatch([conv.frame(s, linkType)]);
    pipe.batch(linkType, buf, count);
  }
}

// ---------------------------------------------------------------------------
// serialisable scenarios for worker threads

export type Step =
  | { send: 'c' | 's'; data: string; sizes?: number | number[] }
  | { fin: 'c' | 's' }
  | { rst: 'c' | 's' }
  | { ack: 'c' | 's' }
  /** Drops the next `count` segments the following step produces from the capture. */
  | { drop: number[] };

export interface Scenario {
  conns: Array<{ conv?: ConversationOptions; handshake?: boolean; steps: Step[]; close?: boolean }>;
  options?: { http?: Partial<HttpOptions>; tcp?: Partial<Omit<ReassemblyOptions, 'serverPorts'>>; serverPorts?: number[] };
  /** Interleave the connections' segments in this PRNG order (else one after another). */
  interleaveSeed?: number;
}

export interface ScenarioResult {
  requests: Array<{ conn: number; index: number; method: string; url: string; bodySize: number }>;
  exchanges: Array<{ conn: number; index: number; url: string; status: number | null; missing: string | null; resBodySize: number }>;
  losts: Array<{ conn: number; reason: string }>;
  notices: Array<{ conn: number; kind: string }>;
  stats: ReturnType<PacketPipeline['stats']>;
}

export function runScenario(sc: Scenario): ScenarioResult {
  const { sink, pipe } = newPipeline({
    tcp: { ...sc.options?.tcp, serverPorts: new Set(sc.options?.serverPorts ?? [80]) },
    http: sc.options?.http,
  });
  const streams: Array<{ conv: Conversation; segs: Seg[] }> = [];
  sc.conns.forEach((c, i) => {
    const conv = new Conversation({ clientPort: 20000 + i, ...c.conv });
    const segs: Seg[] = [];
    if (c.handshake !== false) segs.push(...conv.handshake());
    else conv.assumeEstablished();
    let drop: number[] = [];
    for (const step of c.steps) {
      let made: Seg[] = [];
      if ('send' in step) made = conv.send(step.send === 'c' ? C2S : S2C, step.data, step.sizes);
      else if ('fin' in step) made = [conv.fin(step.fin === 'c' ? C2S : S2C)];
      else if ('rst' in step) made = [conv.rst(step.rst === 'c' ? C2S : S2C)];
      else if ('ack' in step) made = [conv.ack(step.ack === 'c' ? C2S : S2C)];
      else if ('drop' in step) { drop = step.drop; continue; }
      segs.push(...made.filter((_, k) => !drop.includes(k)));
      drop = [];
    }
    if (c.close) segs.push(...conv.close(C2S));
    streams.push({ conv, segs });
  });
  if (sc.interleaveSeed === undefined) {
    for (const s of streams) play(pipe, s.conv, s.segs);
  } else {
    let a = sc.interleaveSeed >>> 0;
    const rand = (): number => { a = (a + 0x6d2b79f5) >>> 0; let t = a; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
    const pos = streams.map(() => 0);
    const live = streams.map((_, i) => i);
    while (live.length > 0) {
      const k = Math.floor(rand() * live.length);
      const i = live[k];
      play(pipe, streams[i].conv, [streams[i].segs[pos[i]++]]);
      if (pos[i] === streams[i].segs.length) { live[k] = live[live.length - 1]; live.pop(); }
    }
  }
  pipe.finish();
  return {
    requests: sink.requests.map((r) => ({ conn: r.conn.id, index: r.index, method: r.method, url: r.url, bodySize: r.bodySize })),
    exchanges: sink.exchanges.map((e) => ({
      conn: e.request.conn.id, index: e.request.index, url: e.request.url,
      status: e.response?.statusCode ?? null, missing: e.responseMissing, resBodySize: e.response?.bodySize ?? 0,
    })),
    losts: sink.losts.map((l) => ({ conn: l.conn.id, reason: l.reason })),
    notices: sink.notices.map((n) => ({ conn: n.conn.id, kind: n.kind })),
    stats: pipe.stats(),
  };
}

/** Runs the scenarios in a worker thread; rejects if they take longer than `ms`. */
export function guarded(scenarios: Scenario[], ms: number): Promise<ScenarioResult[]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(__filename, { workerData: { scenarios } });
    const timer = setTimeout(() => {
      void w.terminate();
      reject(new Error(`scenario did not finish within ${ms} ms (parser loop?)`));
    }, ms);
    w.once('message', (m: { results?: ScenarioResult[]; error?: string }) => {
      clearTimeout(timer);
      void w.terminate();
      if (m.error !== undefined) reject(new Error(m.error));
      else resolve(m.results!);
    });
    w.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

if (!isMainThread && workerData?.scenarios !== undefined) {
  try {
    const results = (workerData.scenarios as Scenario[]).map(runScenario);
    parentPort!.postMessage({ results });
  } catch (err) {
    parentPort!.postMessage({ error: (err as Error).stack ?? String(err) });
  }
}
