/**
 * intents — reads back the cut intents a group's previous members left in
 * their committed offsets' metadata (pipeline/batcher.ts says why).
 *
 * Contract: `read(assignment)` returns, for each assigned partition whose
 * committed offset carries `sluice.cut:<from>:<end>` metadata with `from`
 * equal to that committed offset, the intended end. Metadata that does not
 * parse, or names another offset (the group moved on since, e.g. an
 * `offsets reset`), is ignored: the cut is then the usual one. Its own admin
 * connection, opened on first use.
 */
import type { Admin, Kafka } from 'kafkajs';

export interface CutIntent {
  readonly topic: string;
  readonly partition: number;
  /** Exclusive end offset of the first batch from the committed offset. */
  readonly end: number;
}

export interface CutIntentReader {
  read(assignment: Readonly<Record<string, readonly number[]>>): Promise<CutIntent[]>;
  close(): Promise<void>;
}

const INTENT = /^sluice\.cut:(\d+):(\d+)$/;

/** The end an intent's metadata names, if it is one for `committed`. */
export function parseCutIntent(metadata: string | null | undefined, committed: number): number | undefined {
  const m = INTENT.exec(metadata ?? '');
  if (!m || Number(m[1]) !== committed) return undefined;
  const end = Number(m[2]);
  return Number.isSafeInteger(end) && end > committed ? end : undefined;
}

export function createCutIntentReader(kafka: Kafka, groupId: string): CutIntentReader {
  let admin: Admin | undefined;
  return {
    async read(assignment) {
      const topics = Object.keys(assignment).filter((t) => (assignment[t]?.length ?? 0) > 0);
      if (topics.length === 0) return [];
      if (!admin) {
        admin = kafka.admin();
        await admin.connect();
      }
      const out: CutIntent[] = [];
      for (const t of await admin.fetchOffsets({ groupId, topics })) {
        const mine = new Set(assignment[t.topic] ?? []);
        for (const p of t.partitions) {
          if (!mine.has(p.partition)) continue;
          const end = parseCutIntent(p.metadata, Number(p.offset));
          if (end !== undefined) out.push({ topic: t.topic, partition: p.partition, end });
        }
      }
      return out;
    },
    async close() {
      await admin?.disconnect().catch(() => {});
    },
  };
}
