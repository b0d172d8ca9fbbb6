/**
 * replay — land dead letters once their table or data is fixed: the logic
 * behind `sluice replay` (cli/replay.ts parses arguments and prints). The
 * loop is here; which letters (replay-plan.ts), reading them back
 * (replay-letters.ts), where they go (replay-writer.ts) and the counts
 * (replay-tally.ts) are its pieces; its options and summary are in
 * replay-types.ts.
 *
 * Contract:
 *  - Reads one dead-letter topic as consumer group `group`, per partition
 *    from a start offset up to the end offset captured when the run began
 *    (or `--to-offset`), so a run always terminates: letters it produces
 *    back to the topic land after that end and wait for the next run.
 *  - Each selected letter is resolved exactly one way: inserted into its
 *    target table through the sink's own path (precheck → encode → insert
 *    with the sink's settings and transient retries → isolate rejected
 *    rows; per table, in offset order, at most `batchRows` letters a
 *    chunk), or with `toSource`
 *    republished to its source topic; a letter that still fails is produced
 *    again to the dead-letter topic (same key, value and timestamp, headers
 *    updated, `sluice.replay.attempts` + 1). The group's offset moves past a
 *    chunk only after all of this was acknowledged (acks = -1), so an
 *    interrupted run loses nothing; a re-run continues after the committed
 *    offset and repeats at most the one chunk that was in flight (its
 *    inserts are byte-identical the second time, so ClickHouse's insert
 *    deduplication drops them where the table has it on).
 *  - Replay trusts its configuration, not the letters: whoever can write to
 *    the dead-letter topic chooses every header. A selected letter whose
 *    destination — its table, or with `toSource` its source topic — is not
 *    in `allowed` is never written anywhere: it is counted as untrusted,
 *    with the reason (the name, as plain text) and where the first such
 *    letter is. Like a letter a filter skips, it is not resolved, so by
 *    default it is produced again, unchanged, to the end of the topic before
 *    the offset passes it (a run whose configuration does name that
 *    destination finds it; nothing a misconfigured run skips is lost); with
 *    `dropUntrusted` the offset passes it without a copy (it stays in the
 *    log, at the reported offsets, until retention). A missing table that
 *    *is* allowed still stops the run (below): that needs an operator.
 *  - The time bounds apply to when a letter failed (`sluice.failed.at`),
 *    not to its Kafka timestamp, which is the source record's.
 *  - Committed offsets never move backwards. Offsets below a partition's
 *    committed offset count as resolved by an earlier run; a start-over run
 *    (`--reset`, `--from-*`) re-reads them on purpose and replays what it
 *    selects again. A letter at or above it that a filter skips is not yet
 *    resolved, so it is produced again, unchanged, to the end of the topic
 *    before the offset passes it: a later run without the filter finds it.
 *  - `dryRun` reads and counts only: no insert, no produce, no commit.
 *  - A ClickHouse error that needs an operator (credentials, missing table)
 *    stops the run instead of retrying forever: someone is at the prompt.
 *    A chunk's tables are checked before any of its rows is inserted.
 *    Produce failures (kafkajs retries exhausted) stop the run the same way.
 *    Failures are SluiceErrors; ConfigError for a request that cannot be
 *    right (unknown partition, an offset outside the log). A failure after
 *    reading began is a ReplayFailedError carrying the counts so far.
 * Nothing here prints: progress and notices go to the caller's hooks.
 */
import { Partitioners, type Consumer, type EachBatchPayload, type KafkaMessage, type Producer } from 'kafkajs';
import { SluiceError } from '../errors.js';
import { connect, disconnect, explainKafkaError, groupState, isActive, type OffsetsClient } from '../kafka/offsets.js';
import { PLAINTEXT } from '../kafka/security.js';
import { createKafka } from '../kafka/source.js';
import { createLogger } from '../ops/log.js';
import { plainText } from '../ops/redact.js';
import { planPartitions, selects, type PartitionPlan } from './replay-plan.js';
import { toLetter, type Failure, type Letter } from './replay-letters.js';
import { byCount, Tally } from './replay-tally.js';
import { ReplayWriter } from './replay-writer.js';
import { ReplayFailedError, type ReplayHooks, type ReplayOptions, type ReplaySummary } from './replay-types.js';

// The pieces' public names, from where the replay's callers look for them.
export { failureTime, planPartitions, selects, type OffsetBound, type PartitionPlan, type PlanInput, type Selection } from './replay-plan.js';
export { REPLAY_ATTEMPTS_HEADER, replayAttempts, retryHeaders, sourceHeaders, toLetter, type Letter } from './replay-letters.js';
export type { ErrorCount } from './replay-tally.js';
export { ReplayFailedError, type ClickHouseTarget, type ReplayHooks, type ReplayOptions, type ReplayProgress, type ReplaySummary } from './replay-types.js';

// ---------------------------------------------------------------- the run

interface PartitionState {
  readonly plan: PartitionPlan;
  position: number;
  committed: number | null;
}

const DEFAULT_BACKOFF = { initialMs: 200, maxMs: 10_000 };

/** Runs one replay; resolves with the summary (still-failing letters are counted, not thrown). */
export async function replay(opts: ReplayOptions, hooks: ReplayHooks = {}): Promise<ReplaySummary> {
  const admin = await connect(opts.brokers, opts.security);
  try {
    return await new ReplayRun(opts, hooks, admin).run();
  } finally {
    await disconnect(admin);
  }
}

class ReplayRun {
  private readonly tally = new Tally();
  private readonly states = new Map<number, PartitionState>();
  private total = 0;
  private readonly writer: ReplayWriter;
  private consumer: Consumer | undefined;
  private producer: Producer | undefined;
  private heartbeat: () => Promise<void> = async () => {};
  private failed = false;
  private settle: (err?: unknown) => void = () => {};

  constructor(
    private readonly opts: ReplayOptions,
    private readonly hooks: ReplayHooks,
    private readonly admin: OffsetsClient,
  ) {
    this.writer = new ReplayWriter({
      ...opts,
      backoff: opts.backoff ?? DEFAULT_BACKOFF,
      admin,
      producer: () => this.producer!,
      heartbeat: () => this.heartbeat(),
      onNotice: hooks.onNotice,
    });
  }

  async run(): Promise<ReplaySummary> {
    const { opts } = this;
    const groupExisted = await this.prepare();
    if (this.total === 0) return this.summary();
    try {
      if (!opts.dryRun && !opts.toSource) await this.writer.open();
      await this.consume();
    } catch (err) {
      const e = err instanceof SluiceError ? err : explainKafkaError(err, opts.brokers);
      throw new ReplayFailedError(e, this.summary());
    } finally {
      await this.close();
      // A dry run leaves no trace, not even an empty group in the listings.
      if (opts.dryRun && !groupExisted) await this.admin.admin.deleteGroups([opts.group]).catch(() => {});
    }
    this.progress();
    return this.summary();
  }

  /** Checks the topic and group, captures end offsets and plans the ranges; returns whether the group existed. */
  private async prepare(): Promise<boolean> {
    const { opts } = this;
    const { admin } = this.admin;
    try {
      if (!(await admin.listTopics()).includes(opts.dlqTopic)) {
        throw new SluiceError('fatal', `unknown topic "${opts.dlqTopic}": no such dead-letter topic on the cluster`);
      }
      const state = await groupState(admin, opts.group);
      if (isActive(state)) {
        throw new SluiceError(
          'fatal',
          `group "${opts.group}" has ${state.members} active member(s) (state ${state.state}): another replay is running; ` +
            'wait for it, or pass another --group',
        );
      }
      const marks = new Map((await admin.fetchTopicOffsets(opts.dlqTopic)).map((r) => [r.partition, { low: Number(r.low), high: Number(r.high) }]));
      const [entry] = await admin.fetchOffsets({ groupId: opts.group, topics: [opts.dlqTopic] });
      const committed = new Map((entry?.partitions ?? []).map((p) => [p.partition, Number(p.offset) >= 0 ? Number(p.offset) : null]));
      const plans = planPartitions({
        topic: opts.dlqTopic,
        group: opts.group,
        marks,
        committed,
        fromOffset: opts.fromOffset,
        toOffset: opts.toOffset,
        startOver: opts.reset || opts.fromOffset !== undefined || opts.selection.fromTime !== undefined,
        dryRun: opts.dryRun,
      });
      for (const plan of plans) {
        this.states.set(plan.partition, { plan, position: plan.start, committed: plan.committed });
        this.total += plan.end - plan.start;
      }
      return state.state !== 'Dead';
    } catch (err) {
      throw explainKafkaError(err, opts.brokers);
    }
  }

  private async close(): Promise<void> {
    await this.consumer?.disconnect().catch(() => {});
    await this.producer?.disconnect().catch(() => {});
    await this.writer.close();
  }

  /** Joins the group and reads every open partition to its end, resolving chunk by chunk. */
  private async consume(): Promise<void> {
    const { opts } = this;
    const log = createLogger('warn', (line) => this.hooks.onNotice?.(line));
    const kafka = createKafka({ kafkaBrokers: opts.brokers, kafkaClientId: 'sluice-replay', kafkaSecurity: this.opts.security ?? PLAINTEXT }, log);
    if (!opts.dryRun) {
      this.producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
      await this.producer.connect();
    }
    const fetchBytes = opts.maxFetchBytes ?? 8 << 20;
    const consumer = kafka.consumer({
      groupId: opts.group,
      maxBytes: 2 * fetchBytes,
      maxBytesPerPartition: fetchBytes,
      maxWaitTimeInMs: 250,
      // A crashed consumer would restart from the committed offsets behind our back; stop instead.
      retry: { retries: 5, restartOnFailure: async () => false },
    });
    this.consumer = consumer;
    const finished = new Promise<void>((resolve, reject) => {
      this.settle = (err) => (err === undefined ? resolve() : reject(err));
    });
    // A crash during the join rejects before the await below; it is handled there.
    finished.catch(() => {});

    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => this.onAssigned(payload.memberAssignment[opts.dlqTopic] ?? []));
    consumer.on(consumer.events.CRASH, ({ payload }) => this.fail(payload.error));
    // A fetch that held only transaction markers never reaches eachBatch, yet moves the position.
    consumer.on(consumer.events.START_BATCH_PROCESS, ({ payload }) => {
      const s = this.states.get(payload.partition);
      if (payload.batchSize !== 0 || this.failed || !s) return;
      this.passed(s, Math.min(s.plan.end, Number(payload.lastOffset) + 1)).then(() => this.checkDone(), (err) => this.fail(err));
    });

    await consumer.connect();
    await consumer.subscribe({ topics: [opts.dlqTopic], fromBeginning: true });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (payload) => this.onBatch(payload) });
    await finished;
  }

  private fail(err: unknown): void {
    this.failed = true;
    this.settle(err);
  }

  private checkDone(): void {
    if ([...this.states.values()].every((s) => s.position >= s.plan.end)) this.settle();
  }

  /** kafkajs' eachBatch: never throws (kafkajs would restart the consumer); a failure ends the run instead. */
  private async onBatch({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload): Promise<void> {
    if (this.failed || !isRunning() || isStale()) return;
    const s = this.states.get(batch.partition);
    if (!s || s.position >= s.plan.end) return;
    this.heartbeat = heartbeat;
    try {
      await this.handleBatch(s, batch.messages);
      // Offsets the batch covered without a record (filtered markers) are passed too.
      await this.passed(s, Math.min(s.plan.end, Number(batch.lastOffset()) + 1));
      // kafkajs fetches next from the resolved offset: ours, not its own guess.
      resolveOffset(String(s.position - 1));
      if (s.position >= s.plan.end) this.consumer!.pause([{ topic: this.opts.dlqTopic, partitions: [s.plan.partition] }]);
      this.checkDone();
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * On every (re)join: each open partition goes to where this run is, the
   * rest are paused. Runs before the first fetch of the new generation
   * (kafkajs emits GROUP_JOIN synchronously, ahead of fetching), so no
   * record from elsewhere is delivered first.
   */
  private onAssigned(assigned: number[]): void {
    const consumer = this.consumer!;
    const topic = this.opts.dlqTopic;
    const open = [...this.states.values()].filter((s) => s.position < s.plan.end);
    const missing = open.filter((s) => !assigned.includes(s.plan.partition)).map((s) => s.plan.partition);
    if (missing.length > 0) {
      this.fail(new SluiceError('fatal', `another consumer joined group "${this.opts.group}" and took partition(s) ${missing.join(', ')}; run one replay per group at a time`));
      return;
    }
    for (const s of open) consumer.seek({ topic, partition: s.plan.partition, offset: String(s.position) });
    const idle = assigned.filter((p) => !open.some((s) => s.plan.partition === p));
    if (idle.length > 0) consumer.pause([{ topic, partitions: idle }]);
  }

  /** One fetched batch of one partition: the part inside the plan, in chunks of at most batchRows selected letters. */
  private async handleBatch(s: PartitionState, messages: KafkaMessage[]): Promise<void> {
    const inRange = messages.map(toLetter).filter((l) => l.record.offset >= s.position && l.record.offset < s.plan.end);
    let chunk: Letter[] = [];
    let selected = 0;
    for (const letter of inRange) {
      chunk.push(letter);
      if (letter.info && selects(this.opts.selection, letter.info, letter.record.timestamp) && ++selected >= this.opts.batchRows) {
        await this.resolveChunk(s, chunk);
        chunk = [];
        selected = 0;
      }
    }
    if (chunk.length > 0) await this.resolveChunk(s, chunk);
  }

  /** Sorts a chunk's letters, resolves the selected ones, keeps the deferred ones, then commits past the chunk. */
  private async resolveChunk(s: PartitionState, chunk: Letter[]): Promise<void> {
    const { tally, opts } = this;
    const selected: Letter[] = [];
    const deferred: Letter[] = [];
    const movedBefore = tally.untrustedMoved;
    for (const letter of chunk) {
      tally.read++;
      const unresolved = letter.record.offset >= s.plan.resolvedBelow;
      if (!letter.info) tally.notDeadLetters++;
      else if (!selects(opts.selection, letter.info, letter.record.timestamp)) {
        tally.skippedByFilter++;
        if (unresolved) deferred.push(letter);
      } else {
        const why = this.untrusted(letter);
        if (why === undefined) selected.push(letter);
        else {
          tally.skipUntrusted(why, s.plan.partition, letter.record.offset);
          if (unresolved && !opts.dropUntrusted) {
            deferred.push(letter);
            tally.untrustedMoved++;
          }
        }
      }
    }
    for (const l of selected) {
      tally.selected++;
      tally.table(l.info!.table).selected++;
      Tally.countError(tally.recorded, l.info!.errorCode, l.info!.errorClass, l.info!.errorMessage);
    }
    tally.deferred += deferred.length - (tally.untrustedMoved - movedBefore);
    if (opts.dryRun) {
      tally.replayed += selected.length;
      for (const l of selected) tally.table(l.info!.table).replayed++;
    } else {
      const failures = opts.toSource ? await this.writer.republish(selected) : await this.writer.land(s.plan.partition, selected);
      await this.writer.sendBack(s.plan.partition, failures, deferred);
      this.count(selected, failures);
    }
    await this.passed(s, chunk[chunk.length - 1]!.record.offset + 1);
    this.progress();
  }

  /** Why this letter's destination is not one the run may write to (plain text), or undefined when it is. */
  private untrusted(l: Letter): string | undefined {
    const { allowed, toSource } = this.opts;
    const name = toSource ? l.info!.topic : l.info!.table;
    if (toSource ? allowed.topics.has(name) : allowed.tables.has(name)) return undefined;
    return toSource
      ? `topic "${plainText(name, 80)}" is not configured (SLUICE_TOPICS, --source-topic)`
      : `table "${plainText(name, 80)}" is not configured (SLUICE_TABLE, --table)`;
  }

  private count(selected: Letter[], failures: Failure[]): void {
    const { tally } = this;
    const failed = new Set(failures.map((f) => f.letter));
    for (const l of selected) {
      const t = tally.table(l.info!.table);
      if (failed.has(l)) t.stillFailing++;
      else t.replayed++;
    }
    for (const f of failures) Tally.countError(tally.failures, f.code, f.errorClass, f.message);
    tally.replayed += selected.length - failures.length;
    tally.stillFailing += failures.length;
  }

  /** Moves the partition's position to `next` and commits it (unless dry), never moving the group's offset back. */
  private async passed(s: PartitionState, next: number): Promise<void> {
    if (next <= s.position) return;
    s.position = next;
    if (this.opts.dryRun || (s.committed !== null && next <= s.committed)) return;
    await this.consumer!.commitOffsets([{ topic: this.opts.dlqTopic, partition: s.plan.partition, offset: String(next) }]);
    s.committed = next;
  }

  private progress(): void {
    const done = [...this.states.values()].reduce((sum, s) => sum + (s.position - s.plan.start), 0);
    this.hooks.onProgress?.({ done, total: this.total, replayed: this.tally.replayed, stillFailing: this.tally.stillFailing });
  }

  private summary(): ReplaySummary {
    const t = this.tally;
    return {
      dlqTopic: this.opts.dlqTopic,
      group: this.opts.group,
      dryRun: this.opts.dryRun,
      toSource: this.opts.toSource,
      read: t.read,
      selected: t.selected,
      replayed: t.replayed,
      stillFailing: t.stillFailing,
      skippedByFilter: t.skippedByFilter,
      deferred: t.deferred,
      notDeadLetters: t.notDeadLetters,
      untrusted: t.untrusted,
      untrustedMoved: t.untrustedMoved,
      untrustedByReason: [...t.untrustedReasons.values()].sort((a, b) => b.count - a.count),
      tables: [...t.tables.values()].sort((a, b) => a.table.localeCompare(b.table)),
      stillFailingByError: [...t.failures.values()].sort(byCount),
      selectedByError: [...t.recorded.values()].sort(byCount),
      partitions: [...this.states.values()].map((s) => ({
        partition: s.plan.partition,
        start: s.plan.start,
        end: s.plan.end,
        committedBefore: s.plan.committed,
        committedAfter: s.committed,
      })),
    };
  }
}
