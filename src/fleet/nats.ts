// The fleet transport over NATS JetStream: exchanges are published to a file-backed stream
// (created with documented limits when missing) with their fleet-unique id as the JetStream
// message id, so a republished message is dropped by the broker; workers share one durable
// pull consumer with explicit acknowledgement. The client reconnects by itself, for ever.

import { readFileSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import { createInbox, credsAuthenticator, headers } from '@nats-io/nats-core';
import type { ConnectionOptions, Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import { AckPolicy, DeliverPolicy, DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { ConsumerMessages, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { PublishRejected } from './transport';
import type { BrokerOptions, Consumer, ConsumerOptions, Delivery, Publisher, Stored, StreamOptions, TransportStats } from './transport';

const nanos = (ms: number): number => Math.round(ms * 1_000_000);
const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

function connectionOptions(o: BrokerOptions): ConnectionOptions {
  const opts: ConnectionOptions = {
    servers: o.servers, name: o.name,
    // Never give up: a broker outage is waited out (the publisher's buffer covers it).
    maxReconnectAttempts: -1, reconnectTimeWait: 500, waitOnFirstConnect: true,
    // A dead broker is noticed within ~10 s even without a TCP reset.
    pingInterval: 5000, maxPingOut: 2,
  };
  if (o.tls !== null) opts.tls = { ...o.tls };
  const auth = o.auth;
  if (auth !== null && 'token' in auth) opts.token = auth.token;
  else if (auth !== null && 'user' in auth) { opts.user = auth.user; opts.pass = auth.password; } else if (auth !== null) opts.authenticator = credsAuthenticator(readFileSync(auth.credsFile));
  return opts;
}

/** A NATS connection made in the background (capture never waits for the broker), followed
 * through its disconnects and reconnects. */
class Connection {
  nc: NatsConnection | null = null;
  connected = false;
  reconnects = 0;
  disconnects = 0;
  private readonly listeners: Array<() => void> = [];
  private readonly lostListeners: Array<() => void> = [];
  private closed = false;
  readonly opened: Promise<NatsConnection>;

  constructor(options: BrokerOptions, onError: (err: Error) => void) {
    this.opened = connect(connectionOptions(options)).then((nc) => {
      this.nc = nc;
      if (this.closed) void nc.close();
      this.connected = true;
      void this.follow(nc);
      return nc;
    });
    this.opened.catch(onError);
  }

  /** `listener` runs on every (re)connection. */
  onConnect(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** `listener` runs on every disconnection. */
  onDisconnect(listener: () => void): void {
    this.lostListeners.push(listener);
  }

  private async follow(nc: NatsConnection): Promise<void> {
    for (const l of this.listeners) l();
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.connected = false;
        this.disconnects++;
        for (const l of this.lostListeners) l();
      } else if (s.type === 'reconnect') {
        this.connected = true;
        this.reconnects++;
        for (const l of this.listeners) l();
      }
    }
  }

  stats(): TransportStats {
    return { connected: this.connected, reconnects: this.reconnects, disconnects: this.disconnects };
  }

  async close(): Promise<void> {
    this.closed = true;
    const nc = this.nc;
    if (nc !== null && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }
}

async function ensureStream(jsm: JetStreamManager, s: StreamOptions): Promise<'created' | 'exists'> {
  try {
    await jsm.streams.info(s.stream);
    return 'exists';
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== STREAM_NOT_FOUND) throw err;
  }
  await jsm.streams.add({
    name: s.stream, subjects: [s.subject], storage: StorageType.File, retention: RetentionPolicy.Limits,
    // Oldest exchanges go first when full: a worker far behind loses the past, never the present.
    discard: DiscardPolicy.Old, max_bytes: s.maxBytes, max_age: nanos(s.maxAgeMs), num_replicas: s.replicas,
    duplicate_window: nanos(s.duplicateWindowMs),
  });
  return 'created';
}

/** A publish awaiting the stream's acknowledgement. */
interface Awaiting {
  resolve: (stored: Stored) => void;
  reject: (err: Error) => void;
  deadline: number;
}

/**
 * Publishes with asynchronous acknowledgements: each message goes out as a plain NATS publish
 * carrying its Nats-Msg-Id and a reply subject under one inbox subscription of our own, and
 * the stream's PubAck (or error) arrives there. One subscription and one timer for all, where
 * the client's request() makes a subscription entry, a timer and two Error objects per message.
 */
export class NatsPublisher implements Publisher {
  /** The stream is prepared on the current connection. */
  private prepared = false;
  private readonly conn: Connection;
  private readonly readyListeners: Array<() => void> = [];
  private inbox = '';
  private acks: Subscription | null = null;
  private nextAck = 0;
  private readonly awaiting = new Map<number, Awaiting>();
  private readonly sweeper: NodeJS.Timeout;

  /** `log` hears of the stream's creation and of what stands in the way. */
  constructor(broker: BrokerOptions, private readonly stream: StreamOptions,
    private readonly log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void) {
    this.conn = new Connection(broker, (err) => log('error', 'cannot connect to the broker', { err: err.message }));
    this.conn.onConnect(() => void this.prepare());
    // Whatever awaited an acknowledgement on a lost connection is retried (the stream drops a copy it holds).
    this.conn.onDisconnect(() => this.failAll('disconnected'));
    this.sweeper = setInterval(() => this.expire(), 100);
    this.sweeper.unref();
  }

  /** After each (re)connection: the stream exists (made if missing), then publishing starts. */
  private async prepare(): Promise<void> {
    const nc = this.conn.nc;
    if (nc === null) return;
    this.prepared = false;
    for (let attempt = 0; !nc.isClosed() && this.conn.connected; attempt++) {
      try {
        const jsm = await jetstreamManager(nc, { checkAPI: false });
        const how = await ensureStream(jsm, this.stream);
        if (how === 'created') this.log('info', 'stream created', { stream: this.stream.stream, subject: this.stream.subject, replicas: this.stream.replicas });
        if (this.acks === null) {
          this.inbox = createInbox();
          this.acks = nc.subscribe(`${this.inbox}.*`, { callback: (_err, msg) => this.acked(msg) });
        }
        this.prepared = true;
        this.log('info', 'publishing', { stream: this.stream.stream, subject: this.stream.subject });
        for (const l of this.readyListeners) l();
        return;
      } catch (err) {
        if (attempt === 0) this.log('warn', 'cannot prepare the stream: retrying', { stream: this.stream.stream, err: (err as Error).message });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  get ready(): boolean {
    return this.prepared && this.conn.connected;
  }

  onReady(listener: () => void): void {
    this.readyListeners.push(listener);
  }

  publish(data: Uint8Array, msgId: string, timeoutMs: number): Promise<Stored> {
    const nc = this.conn.nc;
    if (nc === null || !this.ready) return Promise.reject(new Error('not connected'));
    // Beyond the server's max_payload it is refused whatever happens: no retry.
    const max = nc.info?.max_payload ?? Infinity;
    if (data.length > max) return Promise.reject(new PublishRejected(`${data.length} bytes: over the broker's max_payload (${max}); raise it to carry bodies this large`));
    const n = ++this.nextAck;
    const h = headers();
    h.set('Nats-Msg-Id', msgId);
    nc.publish(this.stream.subject, data, { headers: h, reply: `${this.inbox}.${n}` });
    return new Promise((resolve, reject) => {
      this.awaiting.set(n, { resolve, reject, deadline: performance.now() + timeoutMs });
    });
  }

  /** The stream's answer: a PubAck, an error, or no responders (no stream yet, a leader being elected). */
  private acked(msg: Msg): void {
    const n = Number(msg.subject.slice(msg.subject.lastIndexOf('.') + 1));
    const w = this.awaiting.get(n);
    if (w === undefined) return;
    this.awaiting.delete(n);
    if (msg.headers?.hasError === true) return w.reject(new Error(`no acknowledgement: ${msg.headers.code} ${msg.headers.description}`));
    let ack: { duplicate?: boolean; error?: { code: number; err_code?: number; description: string } };
    try {
      ack = msg.json();
    } catch {
      return w.reject(new Error('an acknowledgement that is not JSON'));
    }
    if (ack.error !== undefined) return w.reject(new PublishRejected(`${ack.error.description} (${ack.error.err_code ?? ack.error.code})`));
    w.resolve({ duplicate: ack.duplicate === true });
  }

  private expire(): void {
    const now = performance.now();
    for (const [n, w] of this.awaiting) {
      if (w.deadline > now) continue;
      this.awaiting.delete(n);
      w.reject(new Error('no acknowledgement in time'));
    }
  }

  private failAll(why: string): void {
    const all = [...this.awaiting.values()];
    this.awaiting.clear();
    for (const w of all) w.reject(new Error(why));
  }

  get connected(): boolean {
    return this.conn.connected;
  }

  stats(): TransportStats {
    return this.conn.stats();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.failAll('closed');
    await this.conn.close();
  }
}

/** A JetStream message as a Delivery. */
function delivery(m: JsMsg): Delivery {
  return {
    data: m.data, deliveries: m.info.deliveryCount, pending: m.info.pending,
    ack: () => m.ack(), nak: (delayMs?: number) => m.nak(delayMs), working: () => m.working(),
  };
}

export class NatsConsumer implements Consumer {
  private readonly conn: Connection;
  private messages: ConsumerMessages | null = null;
  private stopped = false;

  constructor(broker: BrokerOptions, private readonly options: ConsumerOptions,
    private readonly log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void) {
    this.conn = new Connection(broker, (err) => log('error', 'cannot connect to the broker', { err: err.message }));
  }

  /** The durable consumer, made (or its limits updated) if needed. */
  private async open(): Promise<ConsumerMessages> {
    const nc = await this.conn.opened;
    const o = this.options;
    for (let attempt = 0; ; attempt++) {
      try {
        const jsm = await jetstreamManager(nc, { checkAPI: false });
        const config = {
          durable_name: o.durable, ack_policy: AckPolicy.Explicit, ack_wait: nanos(o.ackWaitMs), max_ack_pending: o.maxAckPending,
          filter_subject: o.subject, deliver_policy: DeliverPolicy.All,
        };
        try {
          await jsm.consumers.info(o.stream, o.durable);
          await jsm.consumers.update(o.stream, o.durable, { ack_wait: config.ack_wait, max_ack_pending: config.max_ack_pending });
        } catch (err) {
          if (!(err instanceof JetStreamApiError) || err.code !== CONSUMER_NOT_FOUND) throw err;
          await jsm.consumers.add(o.stream, config);
          this.log('info', 'consumer created', { stream: o.stream, consumer: o.durable });
        }
        const consumer = await jetstream(nc, { checkAPI: false }).consumers.get(o.stream, o.durable);
        return await consumer.consume({ max_messages: o.maxWaiting });
      } catch (err) {
        if (this.stopped) throw err;
        if (attempt === 0) this.log('warn', 'cannot open the consumer: retrying', { stream: o.stream, consumer: o.durable, err: (err as Error).message });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  async *deliveries(): AsyncIterable<Delivery> {
    const messages = await this.open();
    this.messages = messages;
    if (this.stopped) messages.stop();
    for await (const m of messages) yield delivery(m);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.messages?.stop();
  }

  stats(): TransportStats {
    return this.conn.stats();
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}
