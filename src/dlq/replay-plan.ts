/**
 * replay-plan — which dead letters a `sluice replay` run reads and selects:
 * the offset ranges per partition, and the selection filters.
 *
 * Contract: pure, no I/O. `planPartitions` turns the topic's low/high marks,
 * the replay group's committed offsets and the user's bounds into one
 * [start, end) range per partition, refusing (ConfigError naming the flag) a
 * bound that names a missing partition, lies outside the log, or would move
 * the group past letters nobody replayed. `selects` applies the filters;
 * time bounds apply to when a letter failed (`sluice.failed.at`), not to its
 * Kafka timestamp, which is the source record's.
 */
import { ConfigError } from '../errors.js';
import type { DeadLetterInfo } from './dead-letters.js';

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
