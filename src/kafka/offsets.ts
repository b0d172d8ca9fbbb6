/**
 * offsets — read and move a consumer group's committed offsets (the logic
 * behind `sluice offsets`; cli/offsets.ts parses arguments and prints).
 *
 * Contract: functions take a connected client and return plain rows; nothing
 * here prints or exits. Reading never commits for the group. `applyReset` is
 * the only write, and it refuses while the group has members: a live member
 * would overwrite the new offsets with its own position on its next commit.
 * Failures are SluiceErrors: ConfigError for a request that cannot be right
 * (unknown partition, offset outside the log), GroupActiveError while the
 * group is live, `transient` for an unreachable broker, `fatal` otherwise
 * (unknown topic, group with no offsets). Offsets are JS numbers, exact up to
 * 2^53, far beyond any real log.
 */
import { installCodecs } from './codecs.js';
import { throwawayRead } from './throwaway.js';
import { kafkaClientOptions, PLAINTEXT, type KafkaSecurity } from './security.js';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { ConfigError, SluiceError, errorMessage } from '../errors.js';

export interface OffsetsClient {
  kafka: Kafka;
  admin: Admin;
  brokers: string[];
}

export interface LagRow {
  topic: string;
  partition: number;
  /** null: the group never committed this partition (lag counts from the earliest offset). */
  committed: number | null;
  end: number;
  lag: number;
  /** Time (ms) of the record at committed − 1 (its Kafka timestamp, or the `timeOf` given); null when there is none to read. */
  lastCommittedTimestamp: number | null;
  timeLagMs: number | null;
}

export interface FindRow {
  partition: number;
  offset: number;
  /** No record at or after the time: `offset` is the end of the partition. */
  atEnd: boolean;
}

export type ResetTarget =
  | { kind: 'time'; time: number }
  | { kind: 'earliest' }
  | { kind: 'latest' }
  | { kind: 'offsets'; offsets: Map<number, number> };

export interface ResetRow {
  partition: number;
  from: number | null;
  to: number;
}

export class GroupActiveError extends SluiceError {
  readonly group: string;
  readonly members: number;
  constructor(group: string, state: string, members: number) {
    super(
      'fatal',
      `group "${group}" has ${members} active member${members === 1 ? '' : 's'} (state ${state}); ` +
        'stop its consumers before resetting offsets, or they would overwrite the new offsets',
    );
    this.name = 'GroupActiveError';
    this.group = group;
    this.members = members;
  }
}

/** `retries`: connection attempts after the first (a probe of a cluster that may be down wants none). */
export async function connect(brokers: string[], security: KafkaSecurity = PLAINTEXT, retries = 3): Promise<OffsetsClient> {
  installCodecs();
  const kafka = new Kafka({
    clientId: 'sluice-offsets',
    brokers,
    ...kafkaClientOptions(security),
    // stdout carries the table; kafkajs's own log lines would break it, and
    // its connection errors are restated by explainKafkaError as one line.
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    // Someone at a prompt wants a verdict in seconds, not after kafkajs's
    // default retry budget of half a minute.
    retry: { retries, initialRetryTime: 200, maxRetryTime: 2000 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (err) {
    throw explainKafkaError(err, brokers);
  }
  return { kafka, admin, brokers };
}

export async function disconnect(client: OffsetsClient): Promise<void> {
  await client.admin.disconnect().catch(() => {});
}

const UNREACHABLE = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
]);

/** One readable SluiceError from whatever kafkajs threw (retry wrappers hide the real cause). */
export function explainKafkaError(err: unknown, brokers: string[]): SluiceError {
  if (err instanceof SluiceError) return err;
  const chain: Error[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 5; ) {
    chain.push(e);
    const inner = e as Error & { originalError?: unknown };
    e = inner.originalError ?? inner.cause;
  }
  const root = chain[chain.length - 1];
  if (root && UNREACHABLE.has(root.name)) {
    return new SluiceError('transient', `cannot reach Kafka at ${brokers.join(',')}: ${root.message}`, { cause: err });
  }
  return new SluiceError('fatal', `Kafka request failed: ${root ? root.message : errorMessage(err)}`, { cause: err });
}

export async function requireTopic(admin: Admin, topics: string[]): Promise<void> {
  const known = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !known.has(t));
  if (missing.length > 0) {
    throw new SluiceError('fatal', `unknown topic ${missing.map((t) => `"${t}"`).join(', ')}: no such topic on the cluster`);
  }
}

export interface Marks {
  low: number;
  high: number;
}

export async function watermarks(admin: Admin, topic: string): Promise<Map<number, Marks>> {
  const rows = await admin.fetchTopicOffsets(topic);
  return new Map(rows.map((r) => [r.partition, { low: Number(r.low), high: Number(r.high) }]));
}

export async function committedOffsets(admin: Admin, group: string, topic: string): Promise<Map<number, number | null>> {
  const [entry] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  // Kafka answers -1 for a partition the group never committed.
  return new Map((entry?.partitions ?? []).map((p) => [p.partition, Number(p.offset) >= 0 ? Number(p.offset) : null]));
}

/** A record's time for the time lag: its acceptance time from an envelope (cli/offsets.ts), or undefined for its Kafka timestamp. */
export type RecordTime = (m: { timestamp: string; headers?: Record<string, unknown>; value: Buffer | null }) => number | undefined;

/**
 * Lag of `group` on `topics`, or on every topic it has committed offsets
 * for. The time lag is now minus the time of the last committed record:
 * `timeOf` (an envelope's acceptance time, as the sink's end-to-end
 * latency counts it), else its Kafka timestamp.
 */
export async function groupLag(
  client: OffsetsClient,
  group: string,
  topics: string[],
  now: () => number = Date.now,
  timeOf?: RecordTime,
): Promise<LagRow[]> {
  const { admin } = client;
  if (topics.length > 0) {
    await requireTopic(admin, topics);
  } else {
    const existing = new Set(await admin.listTopics());
    // A group keeps offsets for topics deleted since; there is no lag to show for those.
    topics = (await admin.fetchOffsets({ groupId: group }))
      .filter((t) => existing.has(t.topic) && t.partitions.some((p) => Number(p.offset) >= 0))
      .map((t) => t.topic)
      .sort();
    if (topics.length === 0) {
      throw new SluiceError(
        'fatal',
        `group "${group}" has no committed offsets; check the name, or pass --topic to see lag from the earliest offset`,
      );
    }
  }

  const rows: LagRow[] = [];
  const wanted: Array<{ row: LagRow; topic: string; partition: number; offset: number }> = [];
  for (const topic of topics) {
    const marks = await watermarks(admin, topic);
    const committed = await committedOffsets(admin, group, topic);
    for (const [partition, { low, high }] of [...marks].sort((a, b) => a[0] - b[0])) {
      const c = committed.get(partition) ?? null;
      const row: LagRow = { topic, partition, committed: c, end: high, lag: high - (c ?? low), lastCommittedTimestamp: null, timeLagMs: null };
      rows.push(row);
      // Only an offset still in the log has a record to read; retention may
      // have deleted the one before a stale commit.
      if (c !== null && c - 1 >= low && c - 1 < high) wanted.push({ row, topic, partition, offset: c - 1 });
    }
  }

  const stamps = await peekRecords(client, wanted, timeOf);
  const t = now();
  for (const { row, topic, partition } of wanted) {
    const ts = stamps.get(`${topic}:${partition}`)?.timestamp ?? null;
    row.lastCommittedTimestamp = ts;
    // Caught up is no time behind, however old the last record is: an idle
    // topic must not read as a consumer hours late at 11 p.m.
    row.timeLagMs = ts === null ? null : row.lag === 0 ? 0 : t - ts;
  }
  return rows;
}

/** What `peekRecords` reads of a record: enough to recognise it on another cluster. */
export interface PeekedRecord {
  readonly timestamp: number;
  /** The key's bytes as latin1 text (exact for any bytes), null for a record without key. */
  readonly key: string | null;
}

/**
 * The records at the given offsets (timestamp and key), read by a throwaway
 * consumer group (kafkajs has no group-less fetch), keyed `topic:partition`.
 * A key is missing or null when the offset holds no data record (a
 * transaction marker, a compacted record) or nothing arrived within
 * `timeoutMs`.
 */
export async function peekRecords(
  client: OffsetsClient,
  targets: Array<{ topic: string; partition: number; offset: number }>,
  /** The time to report instead of the Kafka timestamp (groupLag's envelope time); undefined: the Kafka timestamp. */
  timeOf?: RecordTime,
  timeoutMs = 15_000,
): Promise<Map<string, PeekedRecord | null>> {
  const found = new Map<string, PeekedRecord | null>();
  if (targets.length === 0) return found;
  const wanted = new Map(targets.map((t) => [`${t.topic}:${t.partition}`, t.offset]));
  let finish = () => {};
  const allFound = new Promise<void>((resolve) => (finish = resolve));
  const settle = (topic: string, partition: number, offset: number, record: PeekedRecord | null) => {
    const key = `${topic}:${partition}`;
    const want = wanted.get(key);
    if (want === undefined || found.has(key) || offset < want) return;
    found.set(key, offset === want ? record : null);
    if (found.size === wanted.size) finish();
  };
  await throwawayRead(client.kafka, client.admin, {
    groupPrefix: 'sluice-offsets-peek',
    topics: targets.map((t) => t.topic),
    seeks: targets,
    // A fetch holding only control records never reaches eachBatch.
    listen: (consumer) =>
      consumer.on(consumer.events.START_BATCH_PROCESS, ({ payload }) => {
        if (payload.batchSize === 0 && payload.firstOffset !== null) settle(payload.topic, payload.partition, Number(payload.firstOffset), null);
      }),
    eachBatch: (batch) => {
      const first = batch.messages[0];
      if (first) {
        const record = { timestamp: timeOf?.(first) ?? Number(first.timestamp), key: first.key ? first.key.toString('latin1') : null };
        settle(batch.topic, batch.partition, Number(first.offset), record);
      }
    },
    timeoutMs,
  }, allFound);
  return found;
}

/** Per partition, the first offset whose timestamp is at or after `time`, or the end offset. */
export async function findOffsets(client: OffsetsClient, topic: string, time: number): Promise<FindRow[]> {
  await requireTopic(client.admin, [topic]);
  const byTime = await client.admin.fetchTopicOffsetsByTimestamp(topic, time);
  // Read after: a found offset is always below this end, so only a miss can
  // equal it. A record appended in between turns a miss into a hit at the
  // same offset, which is then true.
  const marks = await watermarks(client.admin, topic);
  return byTime
    .map((r) => ({ partition: r.partition, offset: Number(r.offset), atEnd: Number(r.offset) >= (marks.get(r.partition)?.high ?? 0) }))
    .sort((a, b) => a.partition - b.partition);
}

export async function groupState(admin: Admin, group: string): Promise<{ state: string; members: number }> {
  const { groups } = await admin.describeGroups([group]);
  const g = groups.find((x) => x.groupId === group);
  return { state: g?.state ?? 'Dead', members: g?.members.length ?? 0 };
}

export function isActive(s: { state: string; members: number }): boolean {
  return s.members > 0 || (s.state !== 'Empty' && s.state !== 'Dead');
}

/** Old and new offset per partition; changes nothing. */
export async function planReset(client: OffsetsClient, group: string, topic: string, target: ResetTarget): Promise<ResetRow[]> {
  const { admin } = client;
  await requireTopic(admin, [topic]);
  const marks = await watermarks(admin, topic);
  const committed = await committedOffsets(admin, group, topic);
  const from = (p: number) => committed.get(p) ?? null;

  switch (target.kind) {
    case 'earliest':
    case 'latest':
      return [...marks]
        .map(([partition, m]) => ({ partition, from: from(partition), to: target.kind === 'earliest' ? m.low : m.high }))
        .sort((a, b) => a.partition - b.partition);
    case 'time':
      return (await findOffsets(client, topic, target.time)).map((r) => ({ partition: r.partition, from: from(r.partition), to: r.offset }));
    case 'offsets':
      return [...target.offsets].sort((a, b) => a[0] - b[0]).map(([partition, to]) => {
        const m = marks.get(partition);
        if (!m) throw new ConfigError('--to-offset', `topic "${topic}" has no partition ${partition} (it has 0..${marks.size - 1})`);
        // Outside the log the group's consumers would silently jump to
        // auto.offset.reset instead of where the operator aimed.
        if (to < m.low || to > m.high) {
          throw new ConfigError('--to-offset', `offset ${to} for partition ${partition} is outside the log [${m.low}, ${m.high}]`);
        }
        return { partition, from: from(partition), to };
      });
  }
}

/** Commits the plan's offsets; returns the offsets Kafka reports afterwards. */
export async function applyReset(client: OffsetsClient, group: string, topic: string, plan: ResetRow[]): Promise<ResetRow[]> {
  const { admin } = client;
  const state = await groupState(admin, group);
  if (isActive(state)) throw new GroupActiveError(group, state.state, state.members);
  if (plan.length === 0) return [];
  await admin.setOffsets({ groupId: group, topic, partitions: plan.map((r) => ({ partition: r.partition, offset: String(r.to) })) });

  const now = await committedOffsets(admin, group, topic);
  const applied = plan.map((r) => ({ partition: r.partition, from: r.from, to: now.get(r.partition) ?? -1 }));
  const off = applied.filter((r, i) => r.to !== plan[i]!.to);
  if (off.length > 0) {
    throw new SluiceError('fatal', `offsets after reset differ from the plan on partition ${off.map((r) => r.partition).join(', ')}; check with \`sluice offsets lag\``);
  }
  return applied;
}
