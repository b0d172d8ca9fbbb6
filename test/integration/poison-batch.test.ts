/**
 * poison-batch: one gzip record batch of 200,000 small records (~280 KB on
 * the wire, well inside the broker's 1 MiB limit) on the real broker. kafkajs
 * 2.2.4 unpatched crashes its consumer for good on it (RangeError: Maximum
 * call stack size exceeded, from `push(...records)`), and its producer needs
 * minutes to send it (per-partition grouping copies an array per message).
 * Patched (patches/kafkajs+2.2.4.patch) a plain kafkajs producer sends it in
 * one batch and a plain kafkajs consumer gets every record and the record
 * after it. Progress is what is checked, with a deadline.
 */
import { CompressionTypes, type Consumer, type KafkaMessage } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer, createTopic, kafka, randomName, waitFor, withAdmin } from '../helpers.js';

const RECORDS = 200_000;
const topic = randomName('poison_batch');
const group = randomName('poison_batch_group');
let consumer: Consumer | undefined;

beforeAll(async () => {
  await createTopic(topic, 1);
  const producer = await createProducer();
  try {
    // kafkajs puts one send's messages for a partition in one record batch.
    await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages: Array.from({ length: RECORDS }, (_, i) => ({ value: `r${i}` })) });
    await producer.send({ topic, acks: -1, messages: [{ value: 'after' }] });
  } finally {
    await producer.disconnect();
  }
});

afterAll(async () => {
  await consumer?.disconnect();
  await withAdmin(async (admin) => {
    await admin.deleteGroups([group]).catch(() => {});
    await admin.deleteTopics({ topics: [topic] });
  });
});

describe('a 200,000-record batch', () => {
  it('reaches a plain kafkajs consumer whole, and so does the record after it', async () => {
    const seen: KafkaMessage[] = [];
    let crashes = 0;
    consumer = kafka.consumer({ groupId: group });
    consumer.on(consumer.events.CRASH, () => crashes++);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) seen.push(m);
      },
    });
    await waitFor(`all ${RECORDS + 1} records`, () => seen.length >= RECORDS + 1 || crashes > 0, 180_000);

    expect(crashes).toBe(0);
    expect(seen).toHaveLength(RECORDS + 1);
    // It was one record batch: kafkajs keeps the batch header on each record.
    const first = seen[0] as KafkaMessage & { batchContext: { firstOffset: string; lastOffsetDelta: number } };
    expect([first.batchContext.firstOffset, first.batchContext.lastOffsetDelta]).toEqual(['0', RECORDS - 1]);
    const wrong = seen.findIndex((m, i) => m.offset !== String(i) || m.value?.toString() !== (i < RECORDS ? `r${i}` : 'after'));
    expect(wrong).toBe(-1);
  });
});
