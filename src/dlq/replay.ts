/**
 * replay — land dead letters once their table or data is fixed: the logic
 * behind `sluice replay` (replay-cli.ts parses arguments and prints).
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
import { Partitioners, type Consumer, type EachBatchPayload, type IHeaders, type KafkaMessage, type Producer } from 'kafkajs';
import type { SourceRecord } from '../kafka/record.js';
import { classifyClickHouseError } from '../clickhouse/errors.js';
import { HEADER, parseDeadLetterHeaders, truncateUtf8, type DeadLetterInfo } from './dead-letters.js';
import { PRECHECK_MESSAGES, encode, precheck } from '../formats/encoder.js';
import { insertSettings, serverFeatures, UNKNOWN_SERVER } from '../clickhouse/features.js';
import { AbortedError, ClickHouseError, ConfigError, SluiceError, errorMessage } from '../errors.js';
import { insertIsolating } from './isolate.js';
import { createLogger } from '../ops/log.js';
import { connect, disconnect, explainKafkaError, groupState, isActive, type OffsetsClient } from '../kafka/offsets.js';
import { retry } from '../retry.js';
import { createKafka } from '../kafka/source.js';
import { PLAINTEXT, type KafkaSecurity } from '../kafka/security.js';
import { VERSION } from '../version.js';
import { createWriter, type ClickHouseConnection, type Writer } from '../clickhouse/writer.js';

/** Counts how often `sluice replay` re-dead-lettered a letter (absent on a letter the sink wrote). */
export const REPLAY_ATTEMPTS_HEADER = HEADER.replayAttempts;

/** A plain offset for every partition, or `P:O` pairs (then only the partitions named are read). */
export type OffsetBound = { kind: 'all'; offset: number } | { kind: 'partitions'; offsets: ReadonlyMap<number, number> };

/** Which letters to replay; every bound is inclusive, absent means unbounded. */
export interface Selection {
  /** On the failure time (`sluice.failed.at`), epoch ms. */
  readonly fromTime?: number;
  readonly toTime?: number;
  readonly sourceTopics?: ReadonlySet<string>;
  readonly tables?: ReadonlySet<string>;
  readonly errorCodes?: ReadonlySet<number>;
}

export type ClickHouseTarget = ClickHouseConnection;

export interface ReplayOptions {
  readonly brokers: string[];
  /** TLS/SASL for Kafka; plaintext when absent. */
  readonly security?: KafkaSecurity;
  readonly clickhouse: ClickHouseTarget;
  readonly dlqTopic: string;
  readonly group: string;
  readonly selection: Selection;
  readonly fromOffset?: OffsetBound;
  readonly toOffset?: OffsetBound;
  /** Start every partition at its earliest offset instead of the group's committed one. */
  readonly reset: boolean;
  readonly toSource: boolean;
  readonly dryRun: boolean;
  /** Most selected letters resolved (inserted, then committed) as one chunk. */
  readonly batchRows: number;
  readonly maxRecordBytes: number;
  /** input_format_skip_unknown_fields, as SLUICE_SKIP_UNKNOWN_FIELDS does for the sink. */
  readonly skipUnknownFields: boolean;
  /** Retry pacing of inserts; tests pass faster values. */
  readonly backoff?: { initialMs: number; maxMs: number };
  /** Most bytes one fetch returns per partition (default 8 MiB); tests pass a small value to exercise many fetches. */
  readonly maxFetchBytes?: number;
}

export interface ReplayProgress {
  /** Offsets passed so far, out of `total` offsets in the planned ranges. */
  readonly done: number;
  readonly total: number;
  readonly replayed: number;
  readonly stillFailing: number;
}

export interface ReplayHooks {
  /** After every chunk, and once at the end. */
  onProgress?(p: ReplayProgress): void;
  /** One line (no newline) worth a human's attention: retries, client warnings. */
  onNotice?(line: string): void;
}

export interface ErrorCount {
  readonly code: number | null;
  readonly errorClass: string;
  readonly count: number;
  readonly example: string;
}

export interface ReplaySummary {
  readonly dlqTopic: string;
  readonly group: string;
  readonly dryRun: boolean;
  readonly toSource: boolean;
  /** Letters read (records of the planned ranges). */
  readonly read: number;
  readonly selected: number;
  /** Landed in ClickHouse, or republished with `toSource` (in a dry run: would be attempted). */
  readonly replayed: number;
  readonly stillFailing: number;
  readonly skippedByFilter: number;
  /** Skipped letters the group had not passed yet, produced again to the end of the topic (in a dry run: would be). */
  readonly deferred: number;
  /** Records without sluice headers: nothing to replay them into; passed over. */
  readonly notDeadLetters: number;
  readonly tables: ReadonlyArray<{ table: string; selected: number; replayed: number; stillFailing: number }>;
  /** The new error of each letter that still fails, grouped. */
  readonly stillFailingByError: readonly ErrorCount[];
  /** The recorded error of each selected letter, grouped (what a dry run is about to replay). */
  readonly selectedByError: readonly ErrorCount[];
  readonly partitions: ReadonlyArray<{ partition: number; start: number; end: number; committedBefore: number | null; committedAfter: number | null }>;
}

/** A failure after reading began; `summary` has the counts up to it (committed work stays done). */
export class ReplayFailedError extends SluiceError {
  readonly summary: ReplaySummary;
  constructor(cause: SluiceError, summary: ReplaySummary) {
    super(cause.kind, cause.message, { cause });
    this.name = 'ReplayFailedError';
    this.summary = summary;
  }
}

// ---------------------------------------------------------------- selection

/** When the letter failed: its `sluice.failed.at` header, else (unparsable) its Kafka timestamp. */
export function failureTime(info: DeadLetterInfo, kafkaTimestamp: number): number {
  const t = Date.parse(info.failedAt);
  return Number.isFinite(t) ? t : kafkaTimestamp;
}

export function selects(sel: Selection, info: DeadLetterInfo, kafkaTimestamp: number): boolean {
  if (sel.sourceTopics && !sel.sourceTopics.has(info.topic)) return false;
  if (sel.tables && !sel.tables.has(info.table)) return false;
  if (sel.errorCodes && (info.errorCode === undefined || !sel.errorCodes.has(info.errorCode))) return false;
  if (sel.fromTime !== undefined || sel.toTime !== undefined) {
    const t = failureTime(info, kafkaTimestamp);
    if (sel.fromTime !== undefined && t < sel.fromTime) return false;
    if (sel.toTime !== undefined && t > sel.toTime) return false;
  }
  return true;
}

// ---------------------------------------------------------------- planning

export interface PartitionPlan {
  readonly partition: number;
  /** First offset to read. */
  readonly start: number;
  /** One past the last offset to read. */
  readonly end: number;
  /** The group's committed offset when the run began (null: never committed). */
  readonly committed: number | null;
  /** Offsets below this were resolved by earlier runs: skipped letters from here on must be kept for later. */
  readonly resolvedBelow: number;
}

export interface PlanInput {
  readonly topic: string;
  readonly group: string;
  readonly marks: ReadonlyMap<number, { low: number; high: number }>;
  readonly committed: ReadonlyMap<number, number | null>;
  readonly fromOffset?: OffsetBound;
  readonly toOffset?: OffsetBound;
  readonly startOver: boolean;
  readonly dryRun: boolean;
}

/** Per partition, the offsets this run reads. Throws ConfigError naming the flag a bound breaks. */
export function planPartitions(input: PlanInput): PartitionPlan[] {
  const partitions = [...input.marks.keys()].sort((a, b) => a - b);
  for (const [flag, bound] of [['--from-offset', input.fromOffset], ['--to-offset', input.toOffset]] as const) {
    if (bound?.kind !== 'partitions') continue;
    for (const p of bound.offsets.keys()) {
      if (!input.marks.has(p)) throw new ConfigError(flag, `topic "${input.topic}" has no partition ${p} (it has 0..${partitions.length - 1})`);
    }
  }
  const plans: PartitionPlan[] = [];
  for (const partition of partitions) {
    if (!named(input.fromOffset, partition) || !named(input.toOffset, partition)) continue;
    const { low, high } = input.marks.get(partition)!;
    const committed = input.committed.get(partition) ?? null;
    // Retention may have deleted letters below a stale commit; a recreated topic may end below it.
    const resolvedBelow = Math.min(Math.max(committed ?? low, low), high);
    const start = startOffset(input, partition, low, high, resolvedBelow);
    const to = boundAt(input.toOffset, partition);
    const end = to === undefined ? high : Math.max(start, Math.min(high, to + 1));
    plans.push({ partition, start, end, committed, resolvedBelow });
  }
  return plans;
}

function named(bound: OffsetBound | undefined, partition: number): boolean {
  return bound?.kind !== 'partitions' || bound.offsets.has(partition);
}

function boundAt(bound: OffsetBound | undefined, partition: number): number | undefined {
  if (!bound) return undefined;
  return bound.kind === 'all' ? bound.offset : bound.offsets.get(partition);
}

function startOffset(input: PlanInput, partition: number, low: number, high: number, resolvedBelow: number): number {
  const from = boundAt(input.fromOffset, partition);
  if (from === undefined) return input.startOver ? low : resolvedBelow;
  let start = from;
  if (input.fromOffset!.kind === 'all') {
    // One number for partitions of different lengths: clamp rather than refuse.
    start = Math.min(Math.max(from, low), high);
  } else if (from < low || from > high) {
    throw new ConfigError('--from-offset', `offset ${from} for partition ${partition} is outside the log [${low}, ${high}]`);
  }
  if (start > resolvedBelow && !input.dryRun) {
    // Committing past letters nobody replayed would hide them from every later run.
    throw new ConfigError(
      '--from-offset',
      `partition ${partition}: starting at ${start} would move group "${input.group}" past offsets ${resolvedBelow}..${start - 1}, ` +
        `which it has not replayed; start at or before ${resolvedBelow}, or first mark them done with ` +
        `"sluice offsets reset --group ${input.group} --topic ${input.topic} --to-offset ${partition}:${start} --execute"`,
    );
  }
  return start;
}

// ---------------------------------------------------------------- letters

/** One record of the dead-letter topic, as read. */
export interface Letter {
  readonly record: SourceRecord & { readonly headers: IHeaders };
  /** undefined: the record carries no sluice headers. */
  readonly info: DeadLetterInfo | undefined;
}

interface Failure {
  readonly letter: Letter;
  readonly errorClass: string;
  readonly code: number | undefined;
  readonly message: string;
}

export function toLetter(m: KafkaMessage): Letter {
  const headers = m.headers ?? {};
  return {
    record: { offset: Number(m.offset), timestamp: Number(m.timestamp), key: m.key, value: m.value, headers },
    info: parseDeadLetterHeaders(headers),
  };
}

export function replayAttempts(headers: IHeaders | undefined): number {
  const v = headers?.[REPLAY_ATTEMPTS_HEADER];
  const n = Number((Array.isArray(v) ? v[0] : v)?.toString() ?? '0');
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/** The headers of a letter that failed again: the new error and time, one more attempt; the rest kept. */
export function retryHeaders(headers: IHeaders, f: { errorClass: string; code: number | undefined; message: string }, failedAt: string): IHeaders {
  return {
    ...headers,
    [HEADER.errorClass]: f.errorClass,
    [HEADER.errorCode]: f.code === undefined ? '' : String(f.code),
    [HEADER.errorMessage]: truncateUtf8(f.message, 1000),
    [HEADER.version]: VERSION,
    [HEADER.failedAt]: failedAt,
    [REPLAY_ATTEMPTS_HEADER]: String(replayAttempts(headers) + 1),
  };
}

/** The record's own headers, as its producer wrote them: every `sluice.*` one removed. */
export function sourceHeaders(headers: IHeaders): IHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !k.startsWith('sluice.')));
}



// ---------------------------------------------------------------- counting

class Tally {
  read = 0;
  selected = 0;
  replayed = 0;
  stillFailing = 0;
  skippedByFilter = 0;
  deferred = 0;
  notDeadLetters = 0;
  readonly tables = new Map<string, { table: string; selected: number; replayed: number; stillFailing: number }>();
  readonly failures = new Map<string, { code: number | null; errorClass: string; count: number; example: string }>();
  readonly recorded = new Map<string, { code: number | null; errorClass: string; count: number; example: string }>();

  table(name: string) {
    let t = this.tables.get(name);
    if (!t) this.tables.set(name, (t = { table: name, selected: 0, replayed: 0, stillFailing: 0 }));
    return t;
  }

  static countError(into: Tally['failures'], code: number | undefined, errorClass: string, message: string): void {
    const key = `${code ?? ''}|${errorClass}`;
    const e = into.get(key);
    if (e) e.count++;
    else into.set(key, { code: code ?? null, errorClass, count: 1, example: message });
  }
}

function groupInto<T>(map: Map<string, T[]>, key: string, item: T): void {
  const list = map.get(key);
  if (list) list.push(item);
  else map.set(key, [item]);
}

const byCount = (a: ErrorCount, b: ErrorCount) => b.count - a.count || (a.code ?? -1) - (b.code ?? -1);

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
  private writer: Writer | undefined;
  private features = UNKNOWN_SERVER;
  private consumer: Consumer | undefined;
  private producer: Producer | undefined;
  private heartbeat: () => Promise<void> = async () => {};
  private failed = false;
  private settle: (err?: unknown) => void = () => {};
  /** Tables known to exist and be readable in this run. */
  private readonly checkedTables = new Set<string>();
  private readonly partitionCounts = new Map<string, number>();

  constructor(
    private readonly opts: ReplayOptions,
    private readonly hooks: ReplayHooks,
    private readonly admin: OffsetsClient,
  ) {}

  async run(): Promise<ReplaySummary> {
    const { opts } = this;
    const groupExisted = await this.prepare();
    if (this.total === 0) return this.summary();
    try {
      if (!opts.dryRun && !opts.toSource) await this.openWriter();
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

  private async openWriter(): Promise<void> {
    const ch = this.opts.clickhouse;
    this.writer = createWriter({ ...ch, requestTimeoutMs: 60_000, maxOpenConnections: 2 });
    try {
      // The same settings as the sink: only those this server knows.
      this.features = serverFeatures(await this.writer.serverVersion());
    } catch (err) {
      throw new SluiceError('fatal', `cannot reach ClickHouse at ${ch.url}: ${errorMessage(err)}`, { cause: err });
    }
  }

  private async close(): Promise<void> {
    await this.consumer?.disconnect().catch(() => {});
    await this.producer?.disconnect().catch(() => {});
    await this.writer?.close().catch(() => {});
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
    for (const letter of chunk) {
      tally.read++;
      if (!letter.info) tally.notDeadLetters++;
      else if (selects(opts.selection, letter.info, letter.record.timestamp)) selected.push(letter);
      else {
        tally.skippedByFilter++;
        if (letter.record.offset >= s.plan.resolvedBelow) deferred.push(letter);
      }
    }
    for (const l of selected) {
      tally.selected++;
      tally.table(l.info!.table).selected++;
      Tally.countError(tally.recorded, l.info!.errorCode, l.info!.errorClass, l.info!.errorMessage);
    }
    tally.deferred += deferred.length;
    if (opts.dryRun) {
      tally.replayed += selected.length;
      for (const l of selected) tally.table(l.info!.table).replayed++;
    } else {
      const failures = opts.toSource ? await this.republish(selected) : await this.land(s.plan.partition, selected);
      await this.sendBack(s.plan.partition, failures, deferred);
      this.count(selected, failures);
    }
    await this.passed(s, chunk[chunk.length - 1]!.record.offset + 1);
    this.progress();
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

  /** Inserts the letters into their tables, per table in offset order; returns the ones ClickHouse still rejects. */
  private async land(partition: number, letters: Letter[]): Promise<Failure[]> {
    const failures: Failure[] = [];
    const byTable = new Map<string, Letter[]>();
    for (const l of letters) groupInto(byTable, l.info!.table, l);
    // Before any insert: a missing table found halfway would leave the rows
    // already landed uncommitted, to be inserted again by the re-run.
    for (const table of byTable.keys()) await this.checkTable(table);
    for (const [table, group] of byTable) {
      const ok: Letter[] = [];
      for (const l of group) {
        const reason = precheck(l.record, this.opts.maxRecordBytes);
        if (reason) failures.push({ letter: l, errorClass: reason, code: undefined, message: PRECHECK_MESSAGES[reason] });
        else ok.push(l);
      }
      const letterOf = new Map<SourceRecord, Letter>(ok.map((l) => [l.record, l]));
      // No early stop (`unresolved` stays empty): a replay is where each letter's own verdict is wanted.
      const { bad } = await insertIsolating(ok.map((l) => l.record), (slice) => this.insert(partition, table, slice));
      for (const r of bad) failures.push({ letter: letterOf.get(r.record)!, errorClass: 'rejected', code: r.error.code, message: r.error.message });
    }
    return failures.sort((a, b) => a.letter.record.offset - b.letter.record.offset);
  }

  /** One slice as one INSERT; data errors go to the isolation. */
  private async insert(partition: number, table: string, slice: readonly SourceRecord[]): Promise<void> {
    await this.heartbeat().catch(() => {}); // a rebalance shows up at the commit; keep going until then
    const body = encode(slice);
    // Dead-letter offsets and bytes identify the rows: a re-run of an
    // interrupted chunk is dropped as a repeat where the table deduplicates.
    const settings = insertSettings(this.features, { skipUnknownFields: this.opts.skipUnknownFields }, {
      topic: this.opts.dlqTopic,
      partition,
      firstOffset: slice[0]!.offset,
      lastOffset: slice[slice.length - 1]!.offset,
      chunks: body.chunks,
    });
    await this.clickhouse(`insert into table "${table}"`, () => this.writer!.insert(table, body.chunks, settings));
  }

  private async checkTable(table: string): Promise<void> {
    if (this.checkedTables.has(table)) return;
    await this.clickhouse(`table "${table}"`, () => this.writer!.checkTable(table));
    this.checkedTables.add(table);
  }

  /**
   * A ClickHouse request: transient failures retried with backoff (and
   * announced), data errors rethrown as they are, fatal ones (credentials,
   * missing table) end the run: someone is at the prompt to fix them.
   */
  private async clickhouse(what: string, op: () => Promise<void>): Promise<void> {
    const stop = new AbortController();
    let fatal: ClickHouseError | undefined;
    try {
      await retry(op, {
        ...(this.opts.backoff ?? DEFAULT_BACKOFF),
        what,
        classify: classifyClickHouseError,
        signal: stop.signal,
        onRetry: (err, attempt, delayMs) => {
          if (err.kind === 'fatal') {
            fatal = err;
            stop.abort();
          } else {
            this.hooks.onNotice?.(`${what} failed (${err.message}); retry ${attempt + 1} in ${delayMs} ms`);
          }
        },
      });
    } catch (err) {
      if (fatal && err instanceof AbortedError) throw new SluiceError('fatal', `${what}: ${fatal.message}`, { cause: fatal });
      throw err;
    }
  }

  /** Produces the letters to their source topics (own headers only), each to its original partition when the topic still has it. */
  private async republish(letters: Letter[]): Promise<Failure[]> {
    if (letters.length === 0) return [];
    const byTopic = new Map<string, Letter[]>();
    for (const l of letters) groupInto(byTopic, l.info!.topic, l);
    const topicMessages = [];
    for (const [topic, group] of byTopic) {
      const partitions = await this.partitionCount(topic);
      topicMessages.push({
        topic,
        messages: group.map((l) => ({
          key: l.record.key,
          value: l.record.value,
          timestamp: String(l.record.timestamp),
          headers: sourceHeaders(l.record.headers),
          partition: l.info!.partition >= 0 && l.info!.partition < partitions ? l.info!.partition : undefined,
        })),
      });
    }
    await this.producer!.sendBatch({ topicMessages, acks: -1 });
    return [];
  }

  private async partitionCount(topic: string): Promise<number> {
    let n = this.partitionCounts.get(topic);
    if (n === undefined) {
      try {
        const meta = await this.admin.admin.fetchTopicMetadata({ topics: [topic] });
        n = meta.topics[0]?.partitions.length ?? 0;
      } catch (err) {
        throw new SluiceError('fatal', `source topic "${topic}": ${explainKafkaError(err, this.opts.brokers).message}`, { cause: err });
      }
      this.partitionCounts.set(topic, n);
    }
    return n;
  }

  /** Produces still-failing letters (updated headers) and deferred ones (unchanged) back to the same partition, in offset order. */
  private async sendBack(partition: number, failures: Failure[], deferred: Letter[]): Promise<void> {
    if (failures.length === 0 && deferred.length === 0) return;
    const failedAt = new Date().toISOString();
    const out = [
      ...failures.map((f) => ({ letter: f.letter, headers: retryHeaders(f.letter.record.headers, f, failedAt) })),
      ...deferred.map((l) => ({ letter: l, headers: l.record.headers })),
    ].sort((a, b) => a.letter.record.offset - b.letter.record.offset);
    await this.producer!.send({
      topic: this.opts.dlqTopic,
      acks: -1,
      messages: out.map(({ letter, headers }) => ({
        partition,
        key: letter.record.key,
        value: letter.record.value,
        timestamp: String(letter.record.timestamp),
        headers,
      })),
    });
  }

  /** Marks offsets below `next` as done; commits them unless dry, never moving the group's offset back. */
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
