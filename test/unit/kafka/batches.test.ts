/**
 * batches: the two other hunks of patches/kafkajs+2.2.4.patch, through
 * kafkajs' own modules. The fetch path returns every record of a batch far
 * larger than a call's argument list (2.2.4 threw RangeError from
 * `push(...records)` past ~125,000); the producer groups a send's messages
 * per partition exactly as 2.2.4 did, in linear time. Correctness only; the
 * costs are in bench/headers.ts and the closing notes.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { decodeFetchedRecords, recordBatch } from '../../../src/kafka/patched.js';

const require = createRequire(import.meta.url);

interface Message {
  readonly value: string;
  readonly partition?: number;
}
type Partitioner = (args: { topic: string; partitionMetadata: unknown[]; message: Message }) => number;
type Group = (args: { topic: string; partitionMetadata: unknown[]; messages: Message[]; partitioner: Partitioner }) => Record<string, Message[]>;

const groupMessagesPerPartition = require('kafkajs/src/producer/groupMessagesPerPartition') as Group;

/** kafkajs 2.2.4's groupMessagesPerPartition, verbatim before the patch: the reference result. */
const upstreamGroup: Group = ({ topic, partitionMetadata, messages, partitioner }) => {
  if (partitionMetadata.length === 0) return {};
  return messages.reduce((result: Record<string, Message[]>, message) => {
    const partition = partitioner({ topic, partitionMetadata, message });
    const current = result[partition] || [];
    return Object.assign(result, { [partition]: [...current, message] });
  }, {});
};

describe('kafkajs fetch path (decodeMessages, patched)', () => {
  it('returns every record of a 200,000-record batch and of the batch after it, in offset order', async () => {
    const big = Array.from({ length: 200_000 }, (_, i) => ({ value: Buffer.from(`r${i}`) }));
    const next = [{ value: Buffer.from('after-0') }, { value: Buffer.from('after-1') }];
    const records = await decodeFetchedRecords([recordBatch(big, 0), recordBatch(next, 200_000)]);
    expect(records).toHaveLength(200_002);
    const wrong = records.findIndex((r, i) => r.offset !== String(i) || r.value?.toString() !== (i < 200_000 ? `r${i}` : `after-${i - 200_000}`));
    expect(wrong).toBe(-1);
  });
});

describe('kafkajs producer grouping (groupMessagesPerPartition, patched)', () => {
  const partitionMetadata = [{ partitionId: 0 }, { partitionId: 1 }, { partitionId: 2 }];
  /** Explicit partitions where a message names one, else by value, so partitions interleave unevenly. */
  const partitioner: Partitioner = ({ message }) => message.partition ?? message.value.length % 3;

  it('groups exactly as kafkajs 2.2.4 did: same partitions, same key order, the same message objects in send order', () => {
    const messages: Message[] = [
      { value: 'aa' }, { value: 'b', partition: 2 }, { value: 'ccc' }, { value: 'd' }, { value: 'eeeee', partition: 0 }, { value: 'ff' }, { value: '' },
    ];
    const got = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner });
    const want = upstreamGroup({ topic: 't', partitionMetadata, messages, partitioner });
    expect(Object.keys(got)).toEqual(Object.keys(want));
    for (const k of Object.keys(want)) {
      expect(got[k]!.length).toBe(want[k]!.length);
      want[k]!.forEach((m, i) => expect(got[k]![i]).toBe(m));
    }
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner })).toEqual({});
  });

  it('groups 100,000 messages of one send, each partition in send order', () => {
    const messages: Message[] = Array.from({ length: 100_000 }, (_, i) => ({ value: 'x'.repeat(i % 5) }));
    const got = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner });
    // Expected: built here, independently of kafkajs.
    const want = new Map<number, Message[]>();
    for (const m of messages) {
      const p = m.value.length % 3;
      if (!want.has(p)) want.set(p, []);
      want.get(p)!.push(m);
    }
    expect(Object.keys(got).sort()).toEqual([...want.keys()].map(String).sort());
    for (const [p, ms] of want) {
      expect(got[p]!.length).toBe(ms.length);
      expect(got[p]!.every((m, i) => m === ms[i])).toBe(true);
    }
  });
});

describe('kafkajs record offsets and timestamps (patched: Numbers while safe, Long beyond)', () => {
  it('gives the same decimal strings as Long arithmetic, on both sides of 15 digits', async () => {
    const { decodeRecordBatch } = await import('../../../src/kafka/patched.js');
    const records = Array.from({ length: 300 }, (_, i) => ({ value: Buffer.from(`v${i}`) }));
    for (const [first, ts] of [[0, 0], [2 ** 40 + 7, 1_764_300_000_000], [2 ** 52 + 5, 2 ** 50 + 3], [Number.MAX_SAFE_INTEGER - 400, -1]] as const) {
      const decoded = await decodeRecordBatch(recordBatch(records, first, ts));
      const offsets = decoded.records.map((r) => r.offset);
      expect(offsets).toEqual(records.map((_, i) => (BigInt(first) + BigInt(i)).toString()));
      const stamps = decoded.records.map((r) => (r as unknown as { timestamp: string }).timestamp);
      expect(new Set(stamps)).toEqual(new Set([BigInt(ts).toString()]));
    }
  });
});

describe('kafkajs consumer Batch (patched: offsets compared as Numbers while short)', () => {
  it('keeps exactly the messages at or after the fetched offset, short or long', () => {
    const Batch = createRequire(import.meta.url)('kafkajs/src/consumer/batch.js') as new (topic: string, fetched: string, data: object) => { messages: Array<{ offset: string }> };
    for (const base of [0n, 2n ** 40n, 2n ** 60n]) {
      const messages = [3n, 4n, 5n, 6n, 7n].map((d) => ({ offset: (base + d).toString(), isControlRecord: false }));
      const batch = new Batch('t', (base + 5n).toString(), { partition: 0, highWatermark: '0', messages, abortedTransactions: [] });
      expect(batch.messages.map((m) => m.offset)).toEqual([5n, 6n, 7n].map((d) => (base + d).toString()));
    }
  });
});
