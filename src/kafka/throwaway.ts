/**
 * throwaway — reading a few records beside the sink, with a consumer in a
 * consumer group of its own (kafkajs has no group-less fetch).
 *
 * Contract: `throwawayRead(kafka, admin, spec, done)` subscribes to
 * `spec.topics` — seeking each partition of `spec.seeks` to its offset, or
 * from the beginning of every partition when there are none — hands every
 * fetched batch to `spec.eachBatch`, and stops when `done` resolves or
 * after `spec.timeoutMs`, whichever comes first: it resolves true if `done`
 * came first. Nothing is committed; the consumer disconnects and its group
 * is deleted on every way out, so no stray group is left for the next
 * person listing groups. Used by the offset tools, `sluice check`'s sample
 * and `sluice failover`.
 */
import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, ConsumerConfig, EachBatchPayload, Kafka } from 'kafkajs';

export interface ThrowawaySpec {
  /** The group is `<groupPrefix>-<uuid>`. */
  readonly groupPrefix: string;
  readonly topics: readonly string[];
  /** Where to start; undefined: every partition from its beginning. */
  readonly seeks?: ReadonlyArray<{ readonly topic: string; readonly partition: number; readonly offset: number }>;
  readonly eachBatch: (batch: EachBatchPayload['batch']) => void;
  /** Listens to consumer events before it connects (fetches that reach no eachBatch: markers only). */
  readonly listen?: (consumer: Consumer) => void;
  readonly consumer?: Omit<ConsumerConfig, 'groupId'>;
  readonly timeoutMs: number;
}

export async function throwawayRead(kafka: Kafka, admin: Admin, spec: ThrowawaySpec, done: Promise<void>): Promise<boolean> {
  const groupId = `${spec.groupPrefix}-${randomUUID()}`;
  const consumer = kafka.consumer({ maxWaitTimeInMs: 200, ...spec.consumer, groupId });
  spec.listen?.(consumer);
  let timer: NodeJS.Timeout | undefined;
  try {
    await consumer.connect();
    // With seeks, not from the beginning: partitions nobody asked for then sit idle at the end.
    await consumer.subscribe({ topics: [...new Set(spec.topics)], fromBeginning: spec.seeks === undefined });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => spec.eachBatch(batch),
    });
    for (const s of spec.seeks ?? []) consumer.seek({ topic: s.topic, partition: s.partition, offset: String(s.offset) });
    return await Promise.race([done.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), spec.timeoutMs)))]);
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => {});
    await admin.deleteGroups([groupId]).catch(() => {});
  }
}
