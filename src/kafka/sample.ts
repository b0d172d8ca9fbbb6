/**
 * sample — reads the most recent records of every partition of some topics,
 * for `sluice check` to look at (schema drift, records that would be
 * dead-lettered). Never part of the running sink.
 *
 * Contract: `sampleRecent(kafka, admin, topics, perPartition, onRecords)`
 * notes each partition's [low, high) at the start and reads
 * [max(low, high − perPartition), high), handing the records to
 * `onRecords(topic, partition, records)` as they arrive (nothing is held
 * here: memory is one fetch). Records appended after the start are not
 * read. It resolves when every partition reached its high mark, or when
 * `timeoutMs` ran out (then `complete` is false and the partitions short of
 * it are listed). It never touches the sink's group: kafkajs has no
 * group-less fetch, so it reads as the only member of a throwaway group
 * with a random id, commits nothing (autoCommit off), and deletes that
 * group afterwards.
 */
import type { Admin, Kafka } from 'kafkajs';
import type { SourceRecord } from './record.js';
import { throwawayRead } from './throwaway.js';

export interface SampleRange {
  readonly topic: string;
  readonly partition: number;
  /** First offset read. */
  readonly from: number;
  /** The high mark at the start: offsets below it are read. */
  readonly to: number;
}

export interface SampleResult {
  readonly ranges: readonly SampleRange[];
  readonly complete: boolean;
  /** Partitions whose range was not read to its end in time, as topic:partition. */
  readonly unfinished: readonly string[];
}

export interface SampleOptions {
  readonly timeoutMs?: number;
  /** Prefix of the throwaway group id (a random suffix follows). */
  readonly groupPrefix?: string;
}

/** The ranges to read: the last `perPartition` offsets of each partition (fewer when the log is shorter). */
export function sampleRanges(topic: string, marks: ReadonlyArray<{ partition: number; low: string | number; high: string | number }>, perPartition: number): SampleRange[] {
  return marks
    .map((m) => {
      const low = Number(m.low);
      const high = Number(m.high);
      return { topic, partition: m.partition, from: Math.max(low, high - perPartition), to: high };
    })
    .sort((a, b) => a.partition - b.partition);
}

export async function sampleRecent(
  kafka: Kafka,
  admin: Admin,
  topics: readonly string[],
  perPartition: number,
  onRecords: (topic: string, partition: number, records: SourceRecord[]) => void,
  opts: SampleOptions = {},
): Promise<SampleResult> {
  const ranges: SampleRange[] = [];
  for (const topic of topics) ranges.push(...sampleRanges(topic, await admin.fetchTopicOffsets(topic), perPartition));
  const pending = new Map(ranges.filter((r) => r.from < r.to).map((r) => [`${r.topic}:${r.partition}`, r]));
  if (pending.size === 0) return { ranges, complete: true, unfinished: [] };

  let finish = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  // The last offset a fetch covered, data or not (a batch of only
  // transaction markers or compacted-away offsets reaches no eachBatch).
  const reached = (topic: string, partition: number, lastOffset: number) => {
    const key = `${topic}:${partition}`;
    const r = pending.get(key);
    if (r && lastOffset >= r.to - 1) {
      pending.delete(key);
      if (pending.size === 0) finish();
    }
  };

  await throwawayRead(kafka, admin, {
    groupPrefix: opts.groupPrefix ?? 'sluice-check-sample',
    topics: ranges.map((r) => r.topic),
    seeks: [...pending.values()].map((r) => ({ topic: r.topic, partition: r.partition, offset: r.from })),
    consumer: { allowAutoTopicCreation: false },
    listen: (consumer) => consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => reached(payload.topic, payload.partition, Number(payload.lastOffset))),
    eachBatch: (batch) => {
      const r = pending.get(`${batch.topic}:${batch.partition}`);
      if (!r) return;
      const records: SourceRecord[] = [];
      for (const m of batch.messages) {
        const offset = Number(m.offset);
        if (offset < r.from || offset >= r.to) continue;
        records.push({ offset, timestamp: Number(m.timestamp), key: m.key, value: m.value, headers: m.headers });
      }
      if (records.length > 0) onRecords(batch.topic, batch.partition, records);
    },
    timeoutMs: opts.timeoutMs ?? 30_000,
  }, done);
  return { ranges, complete: pending.size === 0, unfinished: [...pending.keys()] };
}
