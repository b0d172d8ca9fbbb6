/**
 * worker — one partition's write path: batch → insert → dead letters → ack.
 *
 * Contract:
 *  - Batches of one partition are written strictly one after another, in
 *    offset order, and acknowledged to the committer in that order, each only
 *    after its good rows are in ClickHouse and its bad rows are acknowledged
 *    by the dead-letter topic (invariants 1 and 2).
 *  - Transient and fatal failures are retried (backoff, jitter; fatal at the
 *    slowest pace) while the batch stays queued, so the partition's buffer
 *    fills and the pipeline pauses it: nothing is dropped.
 *  - A data error with a dead-letter sink: the batch's bad records are
 *    isolated and dead-lettered, the rest lands. Without one, or when the
 *    dead-letter ratio guard trips, the partition stalls on that batch and
 *    retries it slowly — a schema fix resumes it, nothing is skipped.
 *  - `abandon()` (rebalance) stops acknowledging: whatever is in flight may
 *    still land, but is never committed by this worker; the partition's next
 *    owner re-reads it.
 * Each insert attempt takes one slot of the shared insert queue, so a
 * partition waiting out a backoff does not hold a slot others could use.
 * Stall reasons go to /readyz, which strangers may read: they say what kind
 * of failure (`code=… class=…`), never its text; the log lines carry that.
 */
import type PQueue from 'p-queue';
import type { Batch, BatchLimits, SourceRecord } from './batcher.js';
import { Batcher } from './batcher.js';
import type { Committer } from './committer.js';
import { PRECHECK_MESSAGES, precheck } from '../formats/encoder.js';
import type { EncodedBatch, TableEncoder } from '../formats/batch.js';
import type { InsertBody } from '../clickhouse/writer.js';
import type { InsertIdentity } from '../clickhouse/features.js';
import { AbortedError, ClickHouseError, InvalidRowError, errorMessage } from '../errors.js';
import { insertIsolating } from '../dlq/isolate.js';
import type { EventTally, LogRateLimit, Logger } from '../ops/log.js';
import { errorTag } from '../ops/redact.js';
import type { Metrics } from '../ops/metrics.js';
import { sleep, type BackoffOptions, type Wakeup } from '../retry.js';
import type { DeadLetter, DeadLetterSink } from '../dlq/dead-letters.js';
import { sendDeadLetters } from './dead-letter-step.js';
import { insertWithRetry } from './insert-step.js';
import { prepareWithRetry } from './schema-step.js';
import type { StepContext } from './step.js';
import { sourceTopic } from '../kafka/failover.js';
import type { TopicRouter } from '../formats/routes.js';
import { splitByRoute } from './route-step.js';

export type { DeadLetter, DeadLetterSink };

export interface WorkerDeps {
  readonly limits: BatchLimits;
  readonly maxRecordBytes: number;
  readonly backoff: BackoffOptions;
  readonly insertQueue: PQueue;
  /** `rows` says which rows the body holds (for the deduplication token). */
  readonly insert: (table: string, body: InsertBody, rows: InsertIdentity) => Promise<void>;
  /** Called once per acknowledged insert with its rows (end-to-end latency, latency.ts). */
  readonly landed: (table: string, records: readonly SourceRecord[], ackMs: number) => void;
  /** Counts fields records carry that the table has no column for (schema drift). */
  readonly unknownFields: (table: string, field: string, records: number) => void;
  /** Each table's encoder (typed rows or passthrough), and a re-read of its schema. */
  readonly encoders: { encoderFor(table: string): TableEncoder; refresh(table: string): Promise<boolean>; readonly prepare?: ((records: readonly SourceRecord[]) => Promise<void>) | undefined; readonly jsonValues?: boolean };
  readonly committer: Committer;
  readonly deadLetters: DeadLetterSink | undefined;
  /** The dead-letter ratio guard (dlq/dead-letters.ts RatioGuard). */
  readonly deadLetterGuard: { allows(bad: number, total: number): boolean; record(total: number, bad: number): void };
  /** SLUICE_DLQ_MAX_RATIO, for messages. */
  readonly deadLetterGuardRatio: number;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Holds back repeats of routine retry lines (per partition and operation). */
  readonly logLimit: LogRateLimit;
  /** SLUICE_ROUTE_UNMATCHED: what happens to a record no route matches. */
  readonly unmatched: 'deadletter' | 'drop';
  /** Dead letters by topic, table and reason, summarised in the log periodically (main.ts). */
  readonly deadLetterTally: EventTally;
  /** Fired when ClickHouse answers again: insert retries stop waiting out their backoff. */
  readonly wake: Wakeup;
  readonly signal: AbortSignal;
  /** Called whenever held bytes shrink (a batch finished). */
  readonly onProgress: () => void;
  /** Called with a reason while the partition cannot make progress, undefined once it can. */
  readonly onStall: (key: string, reason: string | undefined) => void;
  /** A MirrorMaker 2 alias: rows record `P.events` as `events` (kafka/failover.ts sourceTopic). */
  readonly mirrorSourceAlias?: string;
}

export class PartitionWorker {
  readonly key: string;
  private readonly batcher: Batcher;
  private readonly queue: Batch[] = [];
  private queuedBytes = 0;
  private running: Promise<void> | undefined;
  private abandoned = false;
  private readonly log: Logger;
  /** Aborted by shutdown or by abandon(): ends this worker's retries and waits. */
  private readonly abandonment = new AbortController();
  private readonly signal: AbortSignal;
  /** The batch being written, encoded once: isolation slices are cut from it. */
  private encoded: { encoder: TableEncoder; batch: EncodedBatch; index: Map<SourceRecord, number> | undefined } | undefined;
  /** The rows' Kafka metadata columns (topic, partition): one object for the worker's life. */
  private readonly origin: { readonly topic: string; readonly partition: number };
  /** What the insert and dead-letter steps need of this worker, per table written. */
  private readonly steps = new Map<string, StepContext>();
  /** The table being written: `table`, or the one a routed group of the batch goes to. */
  private current: string;

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly table: string,
    readonly generation: number,
    private readonly deps: WorkerDeps,
    /** Where the previous owner cut its last batch (its cut intent), if it left one. */
    cutAt?: number,
    /** Routes (SLUICE_ROUTES) when the records of this topic go to several tables; `table` is then ''. */
    private readonly router?: TopicRouter,
  ) {
    this.key = `${topic}:${partition}`;
    this.origin = { topic: sourceTopic(topic, deps.mirrorSourceAlias ?? ''), partition };
    this.batcher = new Batcher(topic, partition, deps.limits, cutAt);
    this.log = deps.log.child({ topic, partition, ...(table !== '' && { table }) });
    this.signal = AbortSignal.any([deps.signal, this.abandonment.signal]);
    this.current = table;
  }

  private stepFor(table: string): StepContext {
    let s = this.steps.get(table);
    if (!s) {
      const log = table === this.table ? this.log : this.log.child({ table });
      s = { topic: this.topic, recordedTopic: this.origin.topic, partition: this.partition, table, key: this.key, log, signal: this.signal, stall: (r) => this.stall(r), deps: this.deps };
      this.steps.set(table, s);
    }
    return s;
  }

  /** Stall reports of an abandoned worker would describe a partition it no longer owns. */
  private stall(reason: string | undefined): void {
    if (!this.abandoned) this.deps.onStall(this.key, reason);
  }

  /** Bytes this partition holds: the open batch plus sealed and in-flight ones. */
  get bytes(): number {
    return this.batcher.bufferedBytes + this.queuedBytes;
  }

  add(records: readonly SourceRecord[], now: number): void {
    this.enqueue(this.batcher.add(records, now));
  }

  tick(now: number): void {
    const due = this.batcher.sealIfDue(now);
    if (due) this.enqueue([due]);
  }

  sealNow(): void {
    const b = this.batcher.sealNow();
    if (b) this.enqueue([b]);
  }

  abandon(): void {
    this.deps.onStall(this.key, undefined);
    this.abandoned = true;
    this.abandonment.abort();
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.batcher.sealNow();
  }

  /** Resolves when every sealed batch is written and acknowledged (or abandoned). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private enqueue(batches: Batch[]): void {
    if (batches.length === 0 || this.abandoned) return;
    for (const b of batches) {
      this.queue.push(b);
      this.queuedBytes += b.bytes;
    }
    if (!this.running) this.running = this.run().finally(() => (this.running = undefined));
  }

  private async run(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.abandoned) {
        const batch = this.queue[0]!;
        if (!batch.reproducible) await this.recordCut(batch);
        await this.write(batch);
        if (this.abandoned) return;
        this.queue.shift();
        this.queuedBytes -= batch.bytes;
        const last = batch.records[batch.records.length - 1]!;
        this.deps.committer.ack(this.topic, this.partition, batch.lastOffset + 1, this.generation, last.timestamp);
        this.deps.onProgress();
      }
    } catch (err) {
      if (err instanceof AbortedError) {
        if (!this.abandoned) this.log.warn('partition.write_aborted', { pendingBatches: this.queue.length });
        return;
      }
      // Not expected: every failure below is retried or isolated. Stall
      // loudly rather than skip the batch.
      this.log.error('partition.write_failed', { error: err });
      this.stall(`unexpected failure ${errorTag(err)}; see the partition.write_failed log`);
    }
  }

  /**
   * A batch cut by age or on demand is recorded before it is written: its
   * end goes into the partition's committed-offset metadata, so whoever
   * reads the partition next cuts the same batch and the re-insert is the
   * same block, which a deduplicating table drops (batcher.ts).
   */
  private async recordCut(batch: Batch): Promise<void> {
    const { committer, backoff } = this.deps;
    while (!(await committer.intent(this.topic, this.partition, batch.firstOffset, batch.lastOffset + 1, this.generation))) {
      // Not committed: the generation is ending (abandon() follows) or the
      // commit was dropped; writing now could leave a block nobody repeats.
      await sleep(backoff.initialMs, this.signal);
    }
  }

  private async write(batch: Batch): Promise<void> {
    // Schema Registry formats: the batch's new schema ids are fetched first; an outage holds the partition here (schema-step.ts).
    const prepare = this.deps.encoders.prepare;
    if (prepare) await prepareWithRetry(this.stepFor(this.table), prepare, batch.records);
    const meta = { firstOffset: batch.firstOffset, lastOffset: batch.lastOffset, rows: batch.records.length };
    const total = batch.records.length;
    if (!this.deps.deadLetters) {
      for (const [table, records] of await this.routeOrStall(batch.records, meta)) {
        this.current = table;
        await this.writeOrStall(records, meta);
      }
      return;
    }
    const letters: DeadLetter[] = [];
    // Routed first, from the envelope alone: a record that goes nowhere is
    // never looked at further (not even prechecked as JSON).
    const groups = this.router ? this.split(batch.records, letters) : [[this.table, batch.records] as const];
    for (const [table, records] of groups) {
      this.current = table;
      const good: SourceRecord[] = [];
      for (const record of records) {
        const reason = precheck(record, this.deps.maxRecordBytes, this.deps.encoders.jsonValues !== false);
        if (reason) letters.push({ record, reason, code: undefined, message: PRECHECK_MESSAGES[reason], ...(this.router && { table }) });
        else good.push(record);
      }
      if (good.length > 0) await this.writeTable(good, letters, total, meta);
    }
    if (letters.length > 0) {
      letters.sort((a, b) => a.record.offset - b.record.offset);
      await this.deadLetter(letters, meta);
    }
    this.deps.deadLetterGuard.record(total, letters.length);
    this.encoded = undefined;
    this.log.debug('batch.written', { ...meta, deadLettered: letters.length });
  }

  private split(records: readonly SourceRecord[], letters: DeadLetter[]): Array<readonly [string, SourceRecord[]]> {
    return splitByRoute(this.router!, records, letters, this.deps.unmatched, (reason, n) => this.deps.metrics.recordsDropped.inc({ topic: this.topic, reason }, n));
  }

  /**
   * Without a dead-letter topic: the groups to write, or — when a record
   * would be dead-lettered for its route — a stall on this batch (nothing
   * is skipped; the rules change only with a restart).
   */
  private async routeOrStall(records: readonly SourceRecord[], meta: Record<string, unknown>): Promise<Array<readonly [string, SourceRecord[]]>> {
    if (!this.router) return [[this.table, [...records]]];
    for (;;) {
      const letters: DeadLetter[] = [];
      const groups = this.split(records, letters);
      if (letters.length === 0) return groups;
      this.stalled(`record at offset ${letters[0]!.record.offset} has no route (${letters[0]!.message})`, meta, undefined);
      await sleep(this.deps.backoff.maxMs, this.signal);
    }
  }

  /**
   * One table's records of the batch: decoded, inserted (isolating rows the
   * server refuses), their bad records added to `letters`.
   */
  private async writeTable(good: readonly SourceRecord[], letters: DeadLetter[], total: number, meta: Record<string, unknown>): Promise<void> {
    const within = (bad: number) => this.deps.deadLetterGuard.allows(bad, total);
    // Decoded here, in the sink: a value that cannot be a row of the table
    // is dead-lettered by itself, with its column and reason.
    const encoded = await this.encodeHolding(good, letters.length, total, meta);
    for (const inv of encoded.invalid) {
      letters.push({ record: inv.record, reason: 'invalid', code: undefined, message: inv.column !== undefined ? `column ${inv.column}: ${inv.reason}` : inv.reason, column: inv.column, ...(this.router && { table: this.current }) });
    }
    const isolate = (records: readonly SourceRecord[], extrapolate: boolean) =>
      insertIsolating(records, (slice) => this.insertWithRetry(slice), (bad, examined) => {
        if (!within(letters.length + bad)) return true;
        // A flood would cost ~3 inserts per rejected row to isolate: judge
        // it from the first rows examined, projected onto the whole batch.
        return extrapolate && examined >= Math.min(100, records.length) && !within(letters.length + Math.ceil((bad * records.length) / examined));
      });
    let outcome = await isolate(encoded.rows, true);
    // Too many rejections (or the search was cut short because of them): a
    // missing migration or a bad deploy. Hold the partition on the rows not
    // yet written and retry them slowly; dead-letter nothing until a fix.
    for (let attempt = 0; outcome.unresolved.length > 0 || !within(letters.length + outcome.bad.length); attempt++) {
      const held = [...outcome.bad.map((r) => r.record), ...outcome.unresolved].sort((a, b) => a.offset - b.offset);
      const reason = `dead letters over SLUICE_DLQ_MAX_RATIO (${this.deps.deadLetterGuardRatio}): ${letters.length + outcome.bad.length}+ of ${total} records of this batch rejected; likely a missing migration or a bad deploy — the rows are held and retried, nothing is dead-lettered until it is fixed`;
      if (attempt === 0) this.log.error('dlq.ratio_exceeded', { ...meta, rejected: letters.length + outcome.bad.length, held: held.length, reason });
      this.stall(reason);
      await sleep(this.deps.backoff.maxMs, this.signal);
      if (held.length === 0) continue;
      try {
        // One insert tells whether the table has been fixed.
        await this.insertWithRetry(held);
        outcome = { bad: [], unresolved: [] };
      } catch (err) {
        if (!(err instanceof ClickHouseError) || err.kind !== 'data') throw err;
        // Isolating again costs ~3 inserts per bad row: only every tenth
        // round, for a fix that mends only some of them.
        if (attempt % 10 === 9) outcome = await isolate(held, false);
      }
    }
    this.stall(undefined);
    const table = this.router ? this.current : undefined;
    for (const r of outcome.bad) {
      letters.push({ record: r.record, reason: 'rejected', code: r.error.code, message: r.error.message, table });
    }
  }

  /**
   * Encodes the records with the table's current encoder. A record with a
   * field the table lacks (strict mode) may mean the table just gained a
   * column: the schema is read again once and the records re-encoded before
   * anything is dead-lettered for it. More invalid records than the
   * dead-letter ratio allows is a deploy gone wrong, not bad records: the
   * partition is held, re-reading the schema, until they encode (or the
   * ratio is raised).
   */
  private async encodeHolding(records: readonly SourceRecord[], alreadyBad: number, total: number, meta: Record<string, unknown>): Promise<EncodedBatch> {
    const { encoders, deadLetterGuard } = this.deps;
    for (let attempt = 0; ; attempt++) {
      let encoder = encoders.encoderFor(this.current);
      let batch = encoder.encode(records, this.origin);
      if (attempt === 0 && batch.invalid.some((i) => i.unknownField) && (await this.refreshSchema())) {
        encoder = encoders.encoderFor(this.current);
        batch = encoder.encode(records, this.origin);
      }
      this.countUnknown(batch);
      this.encoded = { encoder, batch, index: undefined };
      if (deadLetterGuard.allows(alreadyBad + batch.invalid.length, total)) {
        if (attempt > 0) this.stall(undefined);
        return batch;
      }
      const first = batch.invalid[0]!;
      const reason = `dead letters over SLUICE_DLQ_MAX_RATIO (${this.deps.deadLetterGuardRatio}): ${alreadyBad + batch.invalid.length} of ${total} records of this batch cannot be rows of ${this.current}; likely a missing migration or a bad deploy — the rows are held and retried, nothing is dead-lettered until it is fixed`;
      if (attempt === 0) this.log.error('dlq.ratio_exceeded', { ...meta, invalid: batch.invalid.length, example: { offset: first.record.offset, column: first.column, reason: first.reason }, reason });
      this.stall(reason);
      await sleep(this.deps.backoff.maxMs, this.signal);
      await this.refreshSchema();
    }
  }

  /** Reads the table's schema again; true if it changed. A failed read (server down) counts as no change. */
  private async refreshSchema(): Promise<boolean> {
    try {
      return await this.deps.encoders.refresh(this.current);
    } catch (err) {
      this.log.warn('schema.read_failed', { error: errorMessage(err) });
      return false;
    }
  }

  private countUnknown(batch: EncodedBatch): void {
    for (const [field, n] of batch.unknown) this.deps.unknownFields(this.current, field, n);
  }

  /**
   * The insert body of `slice`: cut from the batch's encoding when the slice
   * is a run of its rows (every insert of the normal and isolating paths),
   * else encoded anew (held rows retried after a fix). A record that does
   * not encode any more is reported to the isolation as a rejected row, so
   * it is dead-lettered by itself, never dropped.
   */
  private bodyFor(slice: readonly SourceRecord[]): { body: InsertBody; bytes: number } {
    const e = this.encoded;
    if (e && e.encoder === this.deps.encoders.encoderFor(this.current)) {
      const rows = e.batch.rows;
      let from = rows[0] === slice[0] ? 0 : -1;
      if (from < 0) {
        e.index ??= new Map(rows.map((r, i) => [r, i]));
        from = e.index.get(slice[0]!) ?? -1;
      }
      if (from >= 0 && rows[from + slice.length - 1] === slice[slice.length - 1]) {
        const chunks = e.batch.body(from, from + slice.length);
        return { body: { format: e.encoder.format, columns: e.encoder.columns, chunks }, bytes: chunks.reduce((n, c) => n + c.length, 0) };
      }
    }
    const encoder = this.deps.encoders.encoderFor(this.current);
    const fresh = encoder.encode(slice, this.origin);
    if (fresh.invalid.length > 0) {
      const inv = fresh.invalid[0]!;
      const row = slice.indexOf(inv.record) + 1;
      throw new InvalidRowError(inv.column, `${inv.column !== undefined ? `column ${inv.column}: ` : ''}${inv.reason} (found by sluice before the insert)`, row);
    }
    const chunks = fresh.body(0, fresh.rows.length);
    return { body: { format: encoder.format, columns: encoder.columns, chunks }, bytes: fresh.bytes };
  }

  /** No dead-letter topic: a data error holds the partition on this batch, retried slowly. */
  private async writeOrStall(records: readonly SourceRecord[], meta: Record<string, unknown>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const nullAt = records.find((r) => r.value === null);
      if (!nullAt) {
        try {
          await this.insertWithRetry(records);
          if (attempt > 0) this.stall(undefined);
          return;
        } catch (err) {
          if (!(err instanceof ClickHouseError) || err.kind !== 'data') throw err;
          // Found by sluice's decoding: which record and column, never the value.
          const why = err instanceof InvalidRowError ? `record at offset ${records[(err.row ?? 1) - 1]?.offset} is not a row of the table (${err.column !== undefined ? `column ${err.column}` : 'the partition.stalled log line says why'})` : `insert rejected ${errorTag(err)}`;
          this.stalled(why, meta, err);
        }
      } else {
        this.stalled(`record at offset ${nullAt.offset} has no value (tombstone)`, meta, undefined);
      }
      await sleep(this.deps.backoff.maxMs, this.signal);
    }
  }

  /** `why` is shown on /readyz (no error text); the log line carries the error in full. */
  private stalled(why: string, meta: Record<string, unknown>, error: unknown): void {
    const reason = `${why}; no dead-letter topic (SLUICE_DLQ_TOPIC=none), the batch is held and retried, nothing is skipped`;
    this.log.error('partition.stalled', { ...meta, reason, ...(error !== undefined && { error }) });
    this.stall(reason);
  }

  private deadLetter(letters: DeadLetter[], meta: Record<string, unknown>): Promise<void> {
    return sendDeadLetters(this.stepFor(this.table), this.deps.deadLetters!, letters, meta);
  }

  /** One slice as one INSERT, retrying everything but data errors (insert-step.ts). */
  private insertWithRetry(slice: readonly SourceRecord[]): Promise<void> {
    return insertWithRetry(this.stepFor(this.current), slice, (s) => this.bodyFor(s), () => void this.refreshSchema());
  }
}
