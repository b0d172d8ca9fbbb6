/**
 * step — what a partition's write steps (insert-step.ts, dead-letter-step.ts)
 * need of their worker: which partition, its deps, its log, its abort
 * signal, and how to report a stall. Its own module so the steps do not
 * import the worker that calls them.
 */
import type PQueue from 'p-queue';
import type { InsertIdentity } from '../clickhouse/features.js';
import type { InsertBody } from '../clickhouse/writer.js';
import type { SourceRecord } from '../kafka/record.js';
import type { EventTally, LogRateLimit, Logger } from '../ops/log.js';
import type { Metrics } from '../ops/metrics.js';
import type { BackoffOptions, Wakeup } from '../retry.js';

export interface StepContext {
  readonly topic: string;
  /** The topic the rows record (_topic, insert identity): `topic` without a MirrorMaker 2 prefix. */
  readonly recordedTopic: string;
  readonly partition: number;
  readonly table: string;
  /** `topic:partition`, for rate-limited log keys. */
  readonly key: string;
  readonly log: Logger;
  /** Aborted by shutdown or when the worker is abandoned. */
  readonly signal: AbortSignal;
  /** A reason while the partition cannot make progress, undefined once it can. */
  stall(reason: string | undefined): void;
  readonly deps: {
    readonly backoff: BackoffOptions;
    readonly insertQueue: PQueue;
    readonly insert: (table: string, body: InsertBody, rows: InsertIdentity) => Promise<void>;
    /** Called once per acknowledged insert with its rows and the moment of the acknowledgement (ms). */
    readonly landed: (table: string, records: readonly SourceRecord[], ackMs: number) => void;
    readonly metrics: Metrics;
    readonly logLimit: LogRateLimit;
    readonly deadLetterTally: EventTally;
    readonly wake: Wakeup;
  };
}
