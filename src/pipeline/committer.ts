/**
 * committer — commits each partition's offset after its batches are safely
 * written (or dead-lettered), in order, coalescing bursts into one request.
 *
 * Contract:
 *  - `ack(tp, next, generation)` says every record of that partition below
 *    `next` is durable. Acks of one partition arrive in offset order (the
 *    partition worker writes serially), so the newest ack is the one to commit.
 *  - Nothing acked under an older group generation is ever committed: after
 *    a rebalance the partition may belong to another member, which re-reads
 *    from the last committed offset (duplicates, never loss; invariant 1).
 *  - One commit request in flight at a time; acks arriving meanwhile are
 *    merged into the next one. Transient failures are retried with backoff;
 *    rebalance failures drop the stale generation's offsets.
 *  - `flush()` resolves when everything acked so far is committed or dropped.
 */
import { SluiceError, errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';
import { retry, type BackoffOptions } from '../retry.js';
import type { OffsetCommit } from '../kafka/source.js';

export type { OffsetCommit };

export type CommitFn = (offsets: OffsetCommit[]) => Promise<void>;

// kafkajs error types meaning "your generation is over".
const REBALANCE_TYPES = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID']);

export function isRebalanceError(err: unknown): boolean {
  const e = err as { type?: unknown; name?: unknown; cause?: unknown } | null;
  if (!e) return false;
  if (typeof e.type === 'string' && REBALANCE_TYPES.has(e.type)) return true;
  if (e.name === 'KafkaJSRebalanceInProgress') return true;
  return e.cause !== undefined && e.cause !== err && isRebalanceError(e.cause);
}

class StaleGenerationError extends SluiceError {
  constructor() {
    super('data', 'stale generation');
  }
}

/** The metadata a cut intent is committed with: `sluice.cut:<from>:<end>` (kafka/intents.ts reads it back). */
export function cutIntentMetadata(from: number, end: number): string {
  return `sluice.cut:${from}:${end}`;
}

interface Pending {
  readonly topic: string;
  readonly partition: number;
  readonly next: number;
  /** undefined: a cut intent, no new record behind it (the lag gauges keep their value). */
  readonly timestamp: number | undefined;
  readonly metadata?: string;
  /** Resolved true once committed, false if dropped (stale generation, shutdown). */
  readonly waiters: Array<(ok: boolean) => void>;
}

export class Committer {
  private generation = 0;
  private pending = new Map<string, Pending>();
  private readonly committedOffsets = new Map<string, number>();
  private running: Promise<void> | undefined;

  constructor(
    private readonly commitFn: CommitFn,
    private readonly backoff: BackoffOptions,
    private readonly log: Logger,
    private readonly signal?: AbortSignal,
    private readonly onCommitted?: (topic: string, partition: number, next: number, timestamp: number) => void,
  ) {}

  /** A new group generation begins: whatever older generations acked is dropped. */
  newGeneration(generation: number): void {
    if (this.pending.size > 0) {
      this.log.info('commit.dropped_stale', { partitions: [...this.pending.keys()], generation: this.generation });
    }
    this.generation = generation;
    for (const p of this.pending.values()) for (const w of p.waiters) w(false);
    this.pending.clear();
    this.committedOffsets.clear();
  }

  /** `timestamp`: Kafka timestamp of the record at next-1 (for the time-lag metric). */
  ack(topic: string, partition: number, next: number, generation: number, timestamp: number): void {
    if (generation !== this.generation) return;
    const key = `${topic}:${partition}`;
    const prev = this.pending.get(key);
    if (!prev || prev.next < next) this.pending.set(key, { topic, partition, next, timestamp, waiters: prev?.waiters ?? [] });
    this.kick();
  }

  /**
   * Commits `from` (already durable: it is the end of the partition's last
   * written batch) with metadata saying the next batch ends at `end`, before
   * that batch is written (batcher.ts, cut intents). Resolves true once
   * committed, false if the generation is over or the sink stops first.
   */
  intent(topic: string, partition: number, from: number, end: number, generation: number): Promise<boolean> {
    if (generation !== this.generation) return Promise.resolve(false);
    const key = `${topic}:${partition}`;
    return new Promise((resolve) => {
      const prev = this.pending.get(key);
      if (prev && prev.next > from) return resolve(true); // a later commit has passed this batch already
      this.pending.set(key, { topic, partition, next: from, timestamp: prev?.timestamp, metadata: cutIntentMetadata(from, end), waiters: [...(prev?.waiters ?? []), resolve] });
      this.kick();
    });
  }

  committed(topic: string, partition: number): number | undefined {
    return this.committedOffsets.get(`${topic}:${partition}`);
  }

  /** Resolves when all acks so far are committed (or dropped as stale). */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  private kick(): void {
    if (this.running) return;
    this.running = this.loop().finally(() => {
      this.running = undefined;
      if (this.pending.size > 0 && !this.signal?.aborted) this.kick();
    });
  }

  private async loop(): Promise<void> {
    while (this.pending.size > 0) {
      const generation = this.generation;
      const batch = [...this.pending.values()];
      this.pending.clear();
      try {
        await retry(
          async () => {
            if (generation !== this.generation) throw new StaleGenerationError();
            await this.commitFn(batch.map((p) => ({ topic: p.topic, partition: p.partition, offset: String(p.next), ...(p.metadata ? { metadata: p.metadata } : {}) })));
          },
          {
            ...this.backoff,
            what: 'offset commit',
            signal: this.signal,
            classify: (err) => {
              if (err instanceof SluiceError) return err;
              if (isRebalanceError(err)) return new StaleGenerationError();
              return new SluiceError('transient', errorMessage(err), { cause: err });
            },
            onRetry: (err, attempt, delayMs) =>
              this.log.warn('commit.retry', { error: err.message, attempt, delayMs, partitions: batch.length }),
          },
        );
        if (generation === this.generation) {
          for (const p of batch) {
            this.committedOffsets.set(`${p.topic}:${p.partition}`, p.next);
            if (p.timestamp !== undefined) this.onCommitted?.(p.topic, p.partition, p.next, p.timestamp);
            for (const w of p.waiters) w(true);
          }
          this.log.debug('commit.ok', { offsets: batch.map((p) => `${p.topic}:${p.partition}@${p.next}`) });
        }
      } catch (err) {
        for (const p of batch) for (const w of p.waiters) w(false);
        if (err instanceof StaleGenerationError) {
          this.log.info('commit.dropped_stale', { partitions: batch.map((p) => `${p.topic}:${p.partition}`) });
          continue;
        }
        // Aborted by shutdown: the offsets stay uncommitted; records re-read on restart.
        this.log.warn('commit.abandoned', { error: errorMessage(err), partitions: batch.length });
        return;
      }
    }
  }
}
