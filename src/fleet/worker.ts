// A fleet worker's core: deliveries from the shared consumer are replayed to the shadow(s) and
// compared with production's recorded answers exactly as `replay --out` does (the same
// RecordedComparison and Replayer); every so often the comparison is flushed to the result
// directory — the ids of the exchanges it covers first (exchanges.ids, which `report DIR…` reads
// to find an exchange two directories both counted), then results.json — and only then are
// those deliveries acknowledged. A delivery of an exchange this worker is working on or has
// finished is a duplicate: counted, acknowledged with (or after) the original, never compared.
// received = seen (replayed + Σ notReplayed + pending) + duplicates.

import type { RequestLedger } from '../accounting';
import type { ConnectionInfo, HttpRequest } from '../model';
import type { RecordedComparison } from '../pipeline';
import { connectionOf, toExchange, toHttpRequest } from '../recording';
import type { ReplayDone, Replayer } from '../replay';
import type { ConsumeStats } from './metrics';
import { FleetMessageError, decodeExchange } from './message';
import type { RecentIds } from './ids';
import type { Consumer, Delivery } from './transport';

export interface FleetWorkerOptions {
  consumer: Consumer;
  ledger: RequestLedger;
  replayer: Replayer;
  comparison: RecordedComparison;
  finished: RecentIds;
  /** Flush and acknowledge this often, or once this many deliveries wait. */
  ackIntervalMs: number;
  ackBatch: number;
  observe: ReplayDone;
  onBadMessage: (err: FleetMessageError) => void;
}

/** An exchange being replayed: its fleet id and every delivery of it received meanwhile. */
interface Working {
  id: string;
  deliveries: Delivery[];
}

const CONNECTIONS = 10_000;

export class FleetWorker {
  readonly counts = { received: 0, duplicates: 0, redeliveries: 0, acked: 0, lag: 0 };
  private readonly working = new Map<string, Working>();
  private readonly byRequest = new Map<number, Working>();
  /** Finished, waiting for the next flush to be acknowledged. */
  private toAck: Delivery[] = [];
  private readonly conns = new Map<string, ConnectionInfo>();
  private readonly timer: NodeJS.Timeout;
  private stopping = false;

  constructor(private readonly o: FleetWorkerOptions) {
    this.timer = setInterval(() => this.flush(), o.ackIntervalMs);
  }

  /** Consumes until stop(); resolves once the deliveries end. */
  async run(): Promise<void> {
    for await (const d of this.o.consumer.deliveries()) {
      // Stopping: what was prefetched goes back to the group untouched (not counted here).
      if (this.stopping) {
        d.nak();
        continue;
      }
      this.take(d);
    }
  }

  private take(d: Delivery): void {
    this.counts.received++;
    this.counts.lag = d.pending;
    if (d.deliveries > 1) this.counts.redeliveries++;
    let message;
    try {
      message = decodeExchange(d.data);
    } catch (err) {
      if (!(err instanceof FleetMessageError)) throw err;
      this.o.onBadMessage(err);
      this.o.ledger.seenAndNotReplayed('badMessage');
      this.finishDelivery(d);
      return;
    }
    const id = message.id;
    if (this.o.finished.has(id)) {
      // Acknowledged with the next flush: the original's results may not be written yet.
      this.counts.duplicates++;
      this.finishDelivery(d);
      return;
    }
    const busy = this.working.get(id);
    if (busy !== undefined) {
      this.counts.duplicates++;
      busy.deliveries.push(d);
      return;
    }
    const r = message.exchange;
    const req = toHttpRequest(r, this.connection(message.host, message.run, r));
    const production = toExchange(r, req);
    const w = { id, deliveries: [d] };
    this.working.set(id, w);
    this.byRequest.set(req.id, w);
    this.o.ledger.seenPending();
    this.o.comparison.admitted(production);
    this.o.replayer.submit(req, this.done);
  }

  /** One ConnectionInfo per captured connection (lanes go by it). */
  private connection(host: string, run: string, r: Parameters<typeof connectionOf>[0]): ConnectionInfo {
    const key = `${host}/${run}/${r.conn}`;
    let conn = this.conns.get(key);
    if (conn === undefined) {
      conn = connectionOf(r);
      this.conns.set(key, conn);
      if (this.conns.size > CONNECTIONS) this.conns.delete(this.conns.keys().next().value as string);
    }
    return conn;
  }

  private readonly done: ReplayDone = (outcome, responses, sent) => {
    this.o.ledger.settle(outcome);
    this.o.comparison.answered(sent, responses);
    this.o.observe(outcome, responses, sent);
    const w = this.byRequest.get(sent.id);
    if (w === undefined) return;
    this.byRequest.delete(sent.id);
    this.working.delete(w.id);
    for (const d of w.deliveries) this.finishDelivery(d);
    this.o.finished.add(w.id);
  };

  private finishDelivery(d: Delivery): void {
    this.toAck.push(d);
    if (this.toAck.length >= this.o.ackBatch) this.flush();
  }

  /** The fleet id of a request this worker replays (what exchanges.ids lists). */
  idOf(req: HttpRequest): string {
    return this.byRequest.get(req.id)?.id ?? `unknown/${req.id}`;
  }

  /** Ids appended, results.json written, then the deliveries they cover acknowledged. */
  flush(): boolean {
    if (this.toAck.length === 0) return true;
    if (!this.o.comparison.flushResults()) return false;
    for (const d of this.toAck) d.ack();
    this.counts.acked += this.toAck.length;
    this.toAck = [];
    return true;
  }

  /** No more deliveries are taken; those under way finish with the replayer's drain. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.o.consumer.stop();
  }

  /** After the replayer drained: the last flush and acknowledgements. */
  finish(): void {
    clearInterval(this.timer);
    this.flush();
  }

  stats(): ConsumeStats & { working: number; waitingForAck: number } {
    const t = this.o.consumer.stats();
    return { ...this.counts, connected: t.connected, reconnects: t.reconnects, working: this.working.size, waitingForAck: this.toAck.length };
  }
}
