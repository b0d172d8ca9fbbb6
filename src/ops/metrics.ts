/**
 * metrics — every Prometheus metric sluice exposes, one prefix, one file.
 *
 * Contract: `createMetrics()` returns a fresh registry with all metrics
 * registered (a registry per sink, so tests can run several sinks in one
 * process). Modules update metrics through the typed handles below; nothing
 * else in the code base touches prom-client. The README's metrics table
 * lists the same names.
 *
 * Stage: ops/ owns what on-call sees: metrics (here), the /metrics,
 * /healthz and /readyz server (server.ts) and JSON logs (log.ts). It
 * imports only the base (errors, retry, version) and libraries.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BulkHistogram } from './bulk-histogram.js';

export const PREFIX = 'sluice_';

/** Seconds: from a fast path (tens of ms) to a backlog of an hour. */
const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600];

export interface Metrics {
  readonly registry: Registry;
  readonly recordsConsumed: Counter<'topic'>;
  readonly recordsInserted: Counter<'topic' | 'table'>;
  readonly recordsDeadLettered: Counter<'topic' | 'table' | 'reason'>;
  readonly deadLettersTruncated: Counter<'topic'>;
  readonly unknownFields: Counter<'table' | 'field'>;
  readonly bytesInserted: Counter<'topic' | 'table'>;
  readonly batchesInserted: Counter<'topic' | 'table'>;
  readonly batchRows: Histogram<'table'>;
  readonly insertDuration: Histogram<'table'>;
  /** Per row: insert acknowledged minus the record's acceptance time (SLUICE_ACCEPTED_AT), by table. */
  readonly endToEndLatency: BulkHistogram;
  /** Per row: acceptance time minus the event's own time (SLUICE_EVENT_TIME), by table. */
  readonly eventToAccepted: BulkHistogram;
  readonly recordsDropped: Counter<'topic' | 'reason'>;
  readonly retries: Counter<'operation' | 'kind'>;
  readonly consumerLag: Gauge<'topic' | 'partition'>;
  readonly timeLag: Gauge<'topic' | 'partition'>;
  readonly committedOffset: Gauge<'topic' | 'partition'>;
  readonly pausedPartitions: Gauge;
  readonly bufferedBytes: Gauge;
  readonly inflightInserts: Gauge;
  readonly ready: Gauge;
}

export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const r = [registry];
  return {
    registry,
    recordsConsumed: new Counter({ name: `${PREFIX}records_consumed_total`, help: 'Records received from Kafka.', labelNames: ['topic'], registers: r }),
    recordsInserted: new Counter({ name: `${PREFIX}records_inserted_total`, help: 'Records written to ClickHouse.', labelNames: ['topic', 'table'], registers: r }),
    recordsDeadLettered: new Counter({
      name: `${PREFIX}records_dead_lettered_total`,
      help: 'Records sent to the dead-letter topic, by reason.',
      labelNames: ['topic', 'table', 'reason'],
      registers: r,
    }),
    unknownFields: new Counter({
      name: `${PREFIX}unknown_fields_total`,
      help: 'Records carrying a field the table has no column for (schema drift), by table and field (the first 100 field names per table; the rest as field="(other)").',
      labelNames: ['table', 'field'],
      registers: r,
    }),
    deadLettersTruncated: new Counter({
      name: `${PREFIX}dead_letters_truncated_total`,
      help: 'Dead letters cut to fit the dead-letter topic (marked sluice.truncated; the source offset is kept).',
      labelNames: ['topic'],
      registers: r,
    }),
    bytesInserted: new Counter({ name: `${PREFIX}bytes_inserted_total`, help: 'Message value bytes written to ClickHouse.', labelNames: ['topic', 'table'], registers: r }),
    batchesInserted: new Counter({ name: `${PREFIX}batches_inserted_total`, help: 'Batches written to ClickHouse.', labelNames: ['topic', 'table'], registers: r }),
    batchRows: new Histogram({
      name: `${PREFIX}batch_rows`,
      help: 'Records per written batch.',
      labelNames: ['table'],
      buckets: [1, 10, 100, 1000, 5000, 10000, 25000, 50000, 100000, 250000, 1000000],
      registers: r,
    }),
    insertDuration: new Histogram({
      name: `${PREFIX}insert_duration_seconds`,
      help: 'Duration of one successful INSERT request.',
      labelNames: ['table'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: r,
    }),
    endToEndLatency: new BulkHistogram(
      `${PREFIX}end_to_end_latency_seconds`,
      'Per row: the moment ClickHouse acknowledged its insert minus the time the event was accepted (SLUICE_ACCEPTED_AT: an envelope time, or the Kafka timestamp).',
      'table',
      LATENCY_BUCKETS,
      registry,
    ),
    eventToAccepted: new BulkHistogram(
      `${PREFIX}event_to_accepted_seconds`,
      'Per row: the time the event was accepted minus its own time (SLUICE_EVENT_TIME); rows without an event time are not counted.',
      'table',
      LATENCY_BUCKETS,
      registry,
    ),
    recordsDropped: new Counter({
      name: `${PREFIX}records_dropped_total`,
      help: 'Records not written on purpose: no route matched and SLUICE_ROUTE_UNMATCHED=drop (reason="unmatched"), or a !drop route (reason="rule").',
      labelNames: ['topic', 'reason'],
      registers: r,
    }),
    retries: new Counter({ name: `${PREFIX}retries_total`, help: 'Retried operations, by operation and error class.', labelNames: ['operation', 'kind'], registers: r }),
    consumerLag: new Gauge({ name: `${PREFIX}consumer_lag_records`, help: 'Partition end offset minus committed offset.', labelNames: ['topic', 'partition'], registers: r }),
    timeLag: new Gauge({ name: `${PREFIX}time_lag_seconds`, help: 'Now minus the Kafka timestamp of the last committed record; 0 when caught up.', labelNames: ['topic', 'partition'], registers: r }),
    committedOffset: new Gauge({ name: `${PREFIX}committed_offset`, help: 'Last committed offset (next offset to read).', labelNames: ['topic', 'partition'], registers: r }),
    pausedPartitions: new Gauge({ name: `${PREFIX}paused_partitions`, help: 'Partitions paused by backpressure or stalled writes.', registers: r }),
    bufferedBytes: new Gauge({ name: `${PREFIX}buffered_bytes`, help: 'Accounted bytes held in batches, buffered or in flight.', registers: r }),
    inflightInserts: new Gauge({ name: `${PREFIX}inflight_inserts`, help: 'INSERT requests in flight.', registers: r }),
    ready: new Gauge({ name: `${PREFIX}ready`, help: '1 when /readyz would answer 200.', registers: r }),
  };
}

/**
 * Label values that come from data (field names of records) bounded per
 * key: the first `max` distinct values keep their own series, the rest share
 * "(other)", so a producer sending random keys cannot grow /metrics without
 * end.
 */
export class BoundedLabels {
  private readonly seen = new Map<string, Set<string>>();

  constructor(private readonly max: number) {}

  label(key: string, value: string): string {
    let set = this.seen.get(key);
    if (!set) this.seen.set(key, (set = new Set()));
    if (set.has(value)) return value;
    if (set.size >= this.max) return '(other)';
    set.add(value);
    return value;
  }
}
