/**
 * poison-headers: a record with 15,000 headers on the real broker no longer
 * stalls its partition. kafkajs 2.2.4 unpatched takes the better part of a
 * minute of blocked event loop to decode it, long enough to be thrown out of
 * the group and to fetch it again forever; patched (patches/kafkajs+2.2.4.patch)
 * a plain kafkajs consumer gets it, with every header, and the records after
 * it, in its first and only group generation. Progress is what is checked,
 * with a deadline; how fast is bench/headers.ts's business.
 */
import type { Consumer, IHeaders, KafkaMessage } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer, createTopic, kafka, randomName, waitFor, withAdmin } from '../helpers.js';

const HEADERS = 15_000;
/** Every 15th header is named `rep`: 1,000 values in one array, interleaved with the distinct keys. */
const REPEATED = 'rep';

const topic = randomName('poison_headers');
const group = randomName('poison_headers_group');

/** The poison record's headers as wire pairs, in the order the producer writes them. */
function headerPairs(): Array<[string, Buffer]> {
  return Array.from({ length: HEADERS }, (_, i) => [i % 15 === 0 ? REPEATED : `h${i}`, Buffer.from(`v${i}`)]);
}

/**
 * The same pairs as kafkajs' producer takes them: an object, a repeated key's
 * values as an array. The producer writes keys in the object's order, each
 * key's values together, so that is the order a consumer sees them in.
 */
function producerHeaders(pairs: Array<[string, Buffer]>): IHeaders {
  const out: Record<string, Buffer | Buffer[]> = {};
  for (const [k, v] of pairs) {
    const cur = out[k];
    out[k] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [cur, v];
  }
  return out;
}

let consumer: Consumer | undefined;

beforeAll(async () => {
  await createTopic(topic, 1);
  const producer = await createProducer();
  try {
    // One batch with the poison record in the middle, then a second batch.
    await producer.send({
      topic,
      acks: -1,
      messages: [
        ...Array.from({ length: 5 }, (_, i) => ({ value: `before-${i}` })),
        { value: 'poison', headers: producerHeaders(headerPairs()) },
        ...Array.from({ length: 5 }, (_, i) => ({ value: `after-${i}` })),
      ],
    });
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 5 }, (_, i) => ({ value: `later-${i}` })) });
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

describe('a record with 15,000 headers', () => {
  it('reaches a plain kafkajs consumer with all its headers, and so do the records after it, without leaving the group', async () => {
    const seen: KafkaMessage[] = [];
    let joins = 0;
    let crashes = 0;
    consumer = kafka.consumer({ groupId: group });
    consumer.on(consumer.events.GROUP_JOIN, () => joins++);
    consumer.on(consumer.events.CRASH, () => crashes++);
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message);
      },
    });
    await waitFor('all 16 records', () => seen.length >= 16, 180_000);

    expect(seen.map((m) => [Number(m.offset), m.value?.toString()])).toEqual([
      ...Array.from({ length: 5 }, (_, i) => [i, `before-${i}`]),
      [5, 'poison'],
      ...Array.from({ length: 5 }, (_, i) => [6 + i, `after-${i}`]),
      ...Array.from({ length: 5 }, (_, i) => [11 + i, `later-${i}`]),
    ]);

    const headers = seen[5]!.headers!;
    const want = producerHeaders(headerPairs());
    expect(Object.keys(headers)).toEqual(Object.keys(want));
    expect(headers).toEqual(want);
    expect((headers[REPEATED] as Buffer[]).map((b) => b.toString())).toEqual(
      headerPairs().filter(([k]) => k === REPEATED).map(([, v]) => v.toString()),
    );
    expect(Object.values(headers).flat().every((v) => Buffer.isBuffer(v))).toBe(true);
    for (const m of [...seen.slice(0, 5), ...seen.slice(6)]) expect(m.headers).toEqual({});

    expect(crashes).toBe(0);
    expect(joins, 'one group generation: never thrown out and rejoined').toBe(1);
  });
});

describe('the sink and a record with 15,000 headers', () => {
  it('stays healthy and in its group, dead-letters the record as too large (headers count), and lands the rest', async () => {
    const { freePort, sinkEnv, startSink, committedTotal, scalar, clickhouse, EVENTS_DDL, event } = await import('../helpers.js');
    const ch = clickhouse();
    const t = randomName('poison_sink');
    const table = randomName('poison_sink');
    const g = randomName('g');
    const port = await freePort();
    try {
      await createTopic(t, 1);
      await ch.command({ query: EVENTS_DDL(table) });
      const producer = await createProducer();
      try {
        await producer.send({ topic: t, acks: -1, messages: [0, 1, 2].map((i) => ({ value: event(i), partition: 0 })) });
        await producer.send({ topic: t, acks: -1, messages: [{ value: event(3), partition: 0, headers: producerHeaders(headerPairs()) }] });
        await producer.send({ topic: t, acks: -1, messages: [4, 5, 6].map((i) => ({ value: event(i), partition: 0 })) });
      } finally {
        await producer.disconnect();
      }
      // 15,000 headers are ~150 kB: over a 64 kB record limit, which counts them.
      const sink = startSink(sinkEnv(t, table, g, { SLUICE_METRICS_PORT: String(port), SLUICE_MAX_RECORD_BYTES: '65536', SLUICE_BATCH_MAX_WAIT_MS: '100' }));
      try {
        await waitFor('all 7 offsets committed', async () => (await committedTotal(g, t)) === 7);
        expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
        expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      } finally {
        expect(await sink.stop()).toBe(0);
      }
      expect(await scalar(ch, `SELECT count() FROM ${table}`)).toBe(6);
      // One generation: never thrown out of the group, never crashed.
      expect(sink.lines.filter((l) => l.event === 'group.assigned')).toHaveLength(1);
      expect(sink.lines.some((l) => l.event === 'kafka.consumer_crash')).toBe(false);
      const letters: KafkaMessage[] = [];
      const reader = kafka.consumer({ groupId: randomName('reader'), maxBytesPerPartition: 4 << 20 });
      await reader.connect();
      await reader.subscribe({ topics: [`${t}.dlq`], fromBeginning: true });
      await reader.run({ eachMessage: async ({ message }) => void letters.push(message) });
      await waitFor('the dead letter', () => letters.length >= 1, 60_000);
      await reader.disconnect();
      expect(letters).toHaveLength(1);
      expect(letters[0]!.headers?.['sluice.error.class']?.toString()).toBe('too_large');
      expect(letters[0]!.headers?.['sluice.source.offset']?.toString()).toBe('3');
    } finally {
      await ch.close();
    }
  });
});
