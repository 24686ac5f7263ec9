// Fleet mode's Prometheus series, added to the command's registry: the agent's publishing
// (published, dropped, failed, buffer, connection) and the worker's consuming (received,
// duplicates, redeliveries, lag, acknowledged). Read at scrape time from the stats kept anyway.

import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { PublishStats } from '../outputs/publish';

export interface ConsumeStats {
  received: number;
  duplicates: number;
  redeliveries: number;
  acked: number;
  /** Messages left in the stream for the consumer group, as of the last delivery. */
  lag: number;
  connected: boolean;
  reconnects: number;
}

function series(reg: Registry, read: () => Record<string, number | boolean>, defs: Array<[string, string, string, 'counter' | 'gauge']>): void {
  for (const [name, key, help, kind] of defs) {
    const value = (): number => Number(read()[key] ?? 0);
    if (kind === 'counter') new Counter({ name, help, registers: [reg], collect(this: Counter) { this.reset(); this.inc(value()); } });
    else new Gauge({ name, help, registers: [reg], collect(this: Gauge) { this.set(value()); } });
  }
}

export function addPublishMetrics(reg: Registry, read: () => PublishStats): void {
  series(reg, read as unknown as () => Record<string, number>, [
    ['shadowtap_publish_published_total', 'published', 'Exchanges stored by the broker.', 'counter'],
    ['shadowtap_publish_dropped_total', 'dropped', 'Exchanges dropped because the publish buffer was full (publishDropped).', 'counter'],
    ['shadowtap_publish_failed_total', 'failed', 'Exchanges the broker refused or had not stored in time (publishFailed).', 'counter'],
    ['shadowtap_publish_retries_total', 'retries', 'Publishes sent again after no acknowledgement came in time.', 'counter'],
    ['shadowtap_publish_broker_duplicates_total', 'brokerDuplicates', 'Publishes the broker already held (a retry after a lost acknowledgement).', 'counter'],
    ['shadowtap_publish_buffered_bytes', 'bufferedBytes', 'Bytes of exchanges waiting for the broker now.', 'gauge'],
    ['shadowtap_publish_buffer_limit_bytes', 'bufferLimitBytes', 'The publish buffer\'s limit (--publish-buffer-mb within the memory budget).', 'gauge'],
    ['shadowtap_publish_in_flight', 'inFlight', 'Publishes awaiting the broker\'s acknowledgement now.', 'gauge'],
    ['shadowtap_publish_connected', 'connected', '1 while connected to the broker.', 'gauge'],
    ['shadowtap_publish_reconnects_total', 'reconnects', 'Reconnections to the broker.', 'counter'],
  ]);
}

export function addConsumeMetrics(reg: Registry, read: () => ConsumeStats): void {
  series(reg, read as unknown as () => Record<string, number>, [
    ['shadowtap_worker_received_total', 'received', 'Deliveries received from the broker (duplicates included).', 'counter'],
    ['shadowtap_worker_duplicates_total', 'duplicates', 'Deliveries of exchanges this worker had already finished or was working on: acknowledged, never compared twice.', 'counter'],
    ['shadowtap_worker_redeliveries_total', 'redeliveries', 'Deliveries that were not the message\'s first (its worker died, or no acknowledgement in time).', 'counter'],
    ['shadowtap_worker_acked_total', 'acked', 'Deliveries acknowledged after their results were flushed to --out.', 'counter'],
    ['shadowtap_worker_lag', 'lag', 'Exchanges in the stream not yet delivered to the consumer group (as of the last delivery).', 'gauge'],
    ['shadowtap_worker_connected', 'connected', '1 while connected to the broker.', 'gauge'],
    ['shadowtap_worker_reconnects_total', 'reconnects', 'Reconnections to the broker.', 'counter'],
  ]);
}
