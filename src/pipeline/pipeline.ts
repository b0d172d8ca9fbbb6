/**
 * pipeline — routes fetched records to per-partition workers, keeps the
 * bytes it holds under the cap, and starts over on every group generation.
 *
 * Contract:
 *  - `onRecords` accepts a partition's records in offset order (kafkajs'
 *    eachBatch) and returns at once; the worker writes them later. Fetching
 *    therefore overlaps with writing, and memory is bounded by pausing.
 *  - Backpressure: when the held bytes (open + sealed + in-flight batches of
 *    all partitions) reach `maxBufferBytes`, each partition that delivers
 *    data is paused and its open batch sealed so it can drain; paused
 *    partitions resume together once the total is below 75% of the cap (the
 *    gap stops pause/resume flapping at the boundary).
 *  - `newGeneration()` (rebalance) abandons every worker: nothing fetched in
 *    an older generation is acknowledged, so the next owner of a partition
 *    re-reads from the last committed offset (invariant 1).
 *  - `drain()` (shutdown) seals every open batch, stops taking records and
 *    resolves once all of them are written and acknowledged.
 *
 * Stage: pipeline/ owns the journey of a partition's records between fetch
 * and commit: batching (batcher.ts), the per-partition write path
 * (worker.ts, with its insert-step.ts and dead-letter-step.ts), in-order
 * commits (committer.ts) and backpressure (here). It
 * may import dlq/, formats/, clickhouse/, kafka/, ops/ and the base.
 */
import PQueue from 'p-queue';
import { recordBytes, type BatchLimits, type SourceRecord } from './batcher.js';
import type { TopicPartition } from '../kafka/source.js';

export type { TopicPartition };
import type { Committer } from './committer.js';
import type { InsertIdentity } from '../clickhouse/features.js';
import type { InsertBody } from '../clickhouse/writer.js';
import type { TableEncoder } from '../formats/batch.js';
import { LogRateLimit, type EventTally, type Logger } from '../ops/log.js';
import type { Metrics } from '../ops/metrics.js';
import { within, type BackoffOptions, type Wakeup } from '../retry.js';
import { PartitionWorker, type DeadLetterSink } from './worker.js';
import { DEADLETTER, DROP, type TopicRouter } from '../formats/routes.js';

export interface PipelineDeps {
  readonly limits: BatchLimits;
  readonly maxBufferBytes: number;
  readonly maxRecordBytes: number;
  readonly insertConcurrency: number;
  readonly backoff: BackoffOptions;
  /** topic → table (SLUICE_TABLE); a topic not in it is routed by `routerFor` (SLUICE_ROUTES). */
  readonly tables: ReadonlyMap<string, string>;
  readonly routerFor?: (topic: string) => TopicRouter;
  readonly unmatched: 'deadletter' | 'drop';
  readonly landed: (table: string, records: readonly SourceRecord[], ackMs: number) => void;
  readonly insert: (table: string, body: InsertBody, rows: InsertIdentity) => Promise<void>;
  readonly encoders: { encoderFor(table: string): TableEncoder; refresh(table: string): Promise<boolean>; readonly prepare?: ((records: readonly SourceRecord[]) => Promise<void>) | undefined; readonly jsonValues?: boolean };
  readonly unknownFields: (table: string, field: string, records: number) => void;
  readonly committer: Committer;
  readonly deadLetters: DeadLetterSink | undefined;
  readonly deadLetterGuard: { allows(bad: number, total: number): boolean; record(total: number, bad: number): void };
  readonly deadLetterGuardRatio: number;
  readonly pause: (tps: TopicPartition[]) => void;
  readonly resume: (tps: TopicPartition[]) => void;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly deadLetterTally: EventTally;
  readonly wake: Wakeup;
  readonly signal: AbortSignal;
  readonly now?: () => number;
  /** SLUICE_MIRROR_SOURCE_ALIAS (worker.ts). */
  readonly mirrorSourceAlias?: string;
}

const RESUME_FRACTION = 0.75;

export class Pipeline {
  private workers = new Map<string, PartitionWorker>();
  private readonly paused = new Map<string, TopicPartition>();
  private readonly stalls = new Map<string, { reason: string; since: number }>();
  private readonly highWatermarks = new Map<string, number>();
  private readonly committedTimestamps = new Map<string, { next: number; timestamp: number }>();
  /** Ends of the batches previous owners recorded (cut intents), for the partitions' next workers. */
  private readonly cutIntents = new Map<string, number>();
  /** While the cut intents of a new assignment are read: deliveries held back, in order. */
  private held: { generation: number; bytes: number; deliveries: Array<{ topic: string; partition: number; records: readonly SourceRecord[]; highWatermark: number | undefined }> } | undefined;
  private readonly insertQueue: PQueue;
  /** One routine retry line per partition and operation every 30 s. */
  private readonly logLimit = new LogRateLimit(30_000);
  private generation = 0;
  private draining = false;
  private readonly now: () => number;

  constructor(private readonly deps: PipelineDeps) {
    this.insertQueue = new PQueue({ concurrency: deps.insertConcurrency });
    this.now = deps.now ?? Date.now;
  }

  get currentGeneration(): number {
    return this.generation;
  }

  /** Bytes held by all partitions; what SLUICE_MAX_BUFFER_BYTES caps. */
  get bufferedBytes(): number {
    let total = this.held?.generation === this.generation ? this.held.bytes : 0;
    for (const w of this.workers.values()) total += w.bytes;
    return total;
  }

  get pausedCount(): number {
    return this.paused.size;
  }

  /** Partitions that cannot make progress: why, and since when (readiness uses it). */
  get stalled(): ReadonlyMap<string, { reason: string; since: number }> {
    return this.stalls;
  }

  /** A rebalance began or completed: drop everything of the old generation. */
  newGeneration(): number {
    this.generation++;
    for (const w of this.workers.values()) w.abandon();
    this.workers = new Map();
    this.stalls.clear();
    this.highWatermarks.clear();
    this.committedTimestamps.clear();
    this.cutIntents.clear();
    // Partitions we paused may come back to us; the new generation starts unpaused.
    if (this.paused.size > 0) {
      this.deps.resume([...this.paused.values()]);
      this.paused.clear();
    }
    this.deps.committer.newGeneration(this.generation);
    this.deps.metrics.consumerLag.reset();
    this.deps.metrics.timeLag.reset();
    this.deps.metrics.committedOffset.reset();
    this.updateGauges();
    return this.generation;
  }

  onRecords(topic: string, partition: number, records: readonly SourceRecord[], highWatermark?: number): void {
    if (this.draining || records.length === 0) return;
    if (this.held?.generation === this.generation) {
      // The first fetches of an assignment wait for its cut intents (a few
      // ms): a worker created before them would cut its first batch wrong.
      this.held.deliveries.push({ topic, partition, records, highWatermark });
      // Held bytes count against the cap like any others: a slow read of
      // the intents must not let fetching run past it.
      for (const r of records) this.held.bytes += recordBytes(r);
      const key = `${topic}:${partition}`;
      if (this.bufferedBytes >= this.deps.maxBufferBytes && !this.paused.has(key)) {
        this.paused.set(key, { topic, partition });
        this.deps.pause([{ topic, partition }]);
      }
      this.updateGauges();
      return;
    }
    const key = `${topic}:${partition}`;
    let worker = this.workers.get(key);
    if (!worker) {
      let table = this.deps.tables.get(topic);
      let router = table === undefined ? this.deps.routerFor?.(topic) : undefined;
      // Every record of the topic to one table: no need to look at records.
      if (router && router.fixed !== undefined && router.fixed !== DROP && router.fixed !== DEADLETTER) {
        table = router.fixed;
        router = undefined;
      }
      if (table === undefined && !router) throw new Error(`no table configured for topic ${topic}`);
      const cutAt = this.cutIntents.get(key);
      this.cutIntents.delete(key);
      worker = new PartitionWorker(topic, partition, table ?? '', this.generation, {
        ...this.deps,
        insertQueue: this.insertQueue,
        logLimit: this.logLimit,
        onProgress: () => this.onProgress(),
        onStall: (k, reason) => {
          if (!reason) this.stalls.delete(k);
          else this.stalls.set(k, { reason, since: this.stalls.get(k)?.since ?? this.now() });
        },
      }, cutAt, router);
      this.workers.set(key, worker);
    }
    this.deps.metrics.recordsConsumed.inc({ topic }, records.length);
    if (highWatermark !== undefined) this.highWatermarks.set(key, highWatermark);
    worker.add(records, this.now());
    if (this.bufferedBytes >= this.deps.maxBufferBytes && !this.paused.has(key)) {
      this.paused.set(key, { topic, partition });
      this.deps.pause([{ topic, partition }]);
      worker.sealNow();
      this.deps.log.debug('backpressure.pause', { topic, partition, bufferedBytes: this.bufferedBytes });
    }
    this.updateGauges();
  }

  /** Seals batches whose oldest record waited long enough; call it every few ms. */
  tick(): void {
    const now = this.now();
    for (const w of this.workers.values()) w.tick(now);
    for (const [key, c] of this.committedTimestamps) {
      const [topic, partition] = splitKey(key);
      // Caught up (committed at the end offset of the last fetch) is no time behind.
      const caughtUp = this.highWatermarks.get(key) === c.next;
      this.deps.metrics.timeLag.set({ topic, partition }, caughtUp ? 0 : Math.max(0, now - c.timestamp) / 1000);
    }
  }

  /** Committer callback: keeps lag gauges current. */
  onCommitted(topic: string, partition: number, next: number, timestamp: number): void {
    const key = `${topic}:${partition}`;
    this.committedTimestamps.set(key, { next, timestamp });
    const labels = { topic, partition: String(partition) };
    this.deps.metrics.committedOffset.set(labels, next);
    const hw = this.highWatermarks.get(key);
    if (hw !== undefined) this.deps.metrics.consumerLag.set(labels, Math.max(0, hw - next));
  }

  /**
   * End offsets asked of the broker (main.ts, every few seconds). Fetches
   * report them too, but a partition paused by backpressure fetches nothing:
   * lag went blind during a ClickHouse outage (stuck at 391 while the real
   * lag grew to 694k, issue #16) exactly when on-call needs it.
   */
  onEndOffsets(ends: ReadonlyArray<{ topic: string; partition: number; high: number }>): void {
    for (const { topic, partition, high } of ends) {
      const key = `${topic}:${partition}`;
      if (!this.workers.has(key)) continue; // not ours (any more)
      this.highWatermarks.set(key, Math.max(high, this.highWatermarks.get(key) ?? 0));
      const c = this.committedTimestamps.get(key);
      if (c) this.deps.metrics.consumerLag.set({ topic, partition: String(partition) }, Math.max(0, high - c.next));
    }
  }

  /**
   * The previous owner of a partition recorded that its batch from the
   * committed offset ends at `end` (kafka/intents.ts read it at assignment):
   * the partition's worker of this generation cuts its first batch there.
   */
  setCutIntent(topic: string, partition: number, end: number, generation: number): void {
    if (generation === this.generation) this.cutIntents.set(`${topic}:${partition}`, end);
  }

  /**
   * Holds deliveries of this generation until `ready` settles (it never
   * rejects: a failed read means no intents), then hands them on in order.
   * Not by pausing the consumer: kafkajs' first fetch after a resume ignores
   * the per-partition fetch size, which loosened the buffer cap.
   */
  holdUntil(generation: number, ready: Promise<void>): void {
    if (generation !== this.generation) return;
    this.held = { generation, bytes: 0, deliveries: [] };
    void ready.then(() => {
      const held = this.held;
      if (!held || held.generation !== this.generation) return;
      this.held = undefined;
      for (const d of held.deliveries) this.onRecords(d.topic, d.partition, d.records, d.highWatermark);
    });
  }

  /** Partitions this replica holds records of in the current generation. */
  get partitions(): TopicPartition[] {
    return [...this.workers.values()].map((w) => ({ topic: w.topic, partition: w.partition }));
  }

  /** Stop taking records; resolve when everything taken is written and acknowledged. */
  /**
   * A rebalance began: seal every open batch and wait until everything taken
   * is written and acknowledged to the committer, or `ms` passed — whichever
   * first. Unlike drain(), records keep being accepted afterwards (the new
   * generation's). Resolves true if all of it finished.
   */
  async settle(ms: number): Promise<boolean> {
    for (const w of this.workers.values()) w.sealNow();
    try {
      return await within(ms, () => Promise.all([...this.workers.values()].map((w) => w.idle())));
    } finally {
      this.updateGauges();
    }
  }

  async drain(): Promise<void> {
    this.draining = true;
    for (const w of this.workers.values()) w.sealNow();
    await Promise.all([...this.workers.values()].map((w) => w.idle()));
    this.updateGauges();
  }

  private onProgress(): void {
    if (this.paused.size > 0 && this.bufferedBytes < this.deps.maxBufferBytes * RESUME_FRACTION) {
      const tps = [...this.paused.values()];
      this.paused.clear();
      this.deps.resume(tps);
      this.deps.log.debug('backpressure.resume', { partitions: tps.length, bufferedBytes: this.bufferedBytes });
    }
    this.updateGauges();
  }

  private updateGauges(): void {
    this.deps.metrics.bufferedBytes.set(this.bufferedBytes);
    this.deps.metrics.pausedPartitions.set(this.paused.size);
  }
}

function splitKey(key: string): [string, string] {
  const i = key.lastIndexOf(':');
  return [key.slice(0, i), key.slice(i + 1)];
}
