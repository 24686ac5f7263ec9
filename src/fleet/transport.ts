// What fleet mode needs from a message broker, and nothing more: a publisher whose messages
// carry an id the broker deduplicates on and are acknowledged asynchronously once stored, and a
// shared durable consumer whose deliveries are acknowledged explicitly (or refused, to come back
// later) and redelivered when a worker dies first. NATS JetStream implements it (nats.ts); a
// Kafka transport would implement the same two interfaces.

/** How the broker answered a publish. */
export interface Stored {
  /** The broker already held a message with this id (a retry after a lost acknowledgement). */
  duplicate: boolean;
}

/** The broker refused a message (a full stream, a message too large, no such stream): retrying
 * the same message cannot help. Any other error (no acknowledgement in time, not connected)
 * may be retried with the same id. */
export class PublishRejected extends Error {}

export interface Publisher {
  /** Connected, and the stream exists: publishing now can succeed. */
  readonly ready: boolean;
  /** Resolves once the broker stored `data` under `msgId` (at most `timeoutMs` later). */
  publish(data: Uint8Array, msgId: string, timeoutMs: number): Promise<Stored>;
  /** Runs each time the publisher becomes ready (again). */
  onReady(listener: () => void): void;
  stats(): TransportStats;
  close(): Promise<void>;
}

/** One delivery of one message to this consumer. */
export interface Delivery {
  readonly data: Uint8Array;
  /** 1 for the first delivery; more when the message came back (a worker died, a nak, no ack in time). */
  readonly deliveries: number;
  /** Messages left in the stream for the consumer group after this one (its lag). */
  readonly pending: number;
  /** Done with it: never delivered again. */
  ack(): void;
  /** Not done: deliver it again (to any consumer) after `delayMs`. */
  nak(delayMs?: number): void;
  /** Still working on it: the broker's redelivery timer restarts. */
  working(): void;
}

export interface Consumer {
  /** Deliveries as they come, at most `maxWaiting` asked for ahead of being taken. */
  deliveries(): AsyncIterable<Delivery>;
  /** No more deliveries; the iteration ends. */
  stop(): Promise<void>;
  stats(): TransportStats;
  close(): Promise<void>;
}

export interface TransportStats {
  connected: boolean;
  reconnects: number;
  disconnects: number;
}

/** How to reach and authenticate with the broker. Secrets come from the config file or the
 * environment only, and are never logged. */
export interface BrokerOptions {
  /** nats://HOST:PORT (or tls://), several for a cluster. */
  servers: string[];
  /** A name the broker shows for this connection. */
  name: string;
  tls: { caFile?: string; certFile?: string; keyFile?: string } | null;
  auth: { token: string } | { user: string; password: string } | { credsFile: string } | null;
}

/** The stream exchanges go to, created with these limits when it does not exist. */
export interface StreamOptions {
  stream: string;
  subject: string;
  maxBytes: number;
  maxAgeMs: number;
  replicas: number;
  /** How long the broker remembers message ids to drop republished duplicates. */
  duplicateWindowMs: number;
}

/** The consumer group workers share. */
export interface ConsumerOptions {
  stream: string;
  subject: string;
  /** The durable consumer's name: every worker giving the same name shares its messages. */
  durable: string;
  /** A delivery not acknowledged within this is delivered again. */
  ackWaitMs: number;
  /** Messages delivered and not yet acknowledged, over all workers, at most. */
  maxAckPending: number;
  /** Messages this worker asks for ahead of taking them (its prefetch). */
  maxWaiting: number;
}

/** A broker URL without its credentials, for logs. */
export function safeServer(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '(not a URL)';
  }
}
