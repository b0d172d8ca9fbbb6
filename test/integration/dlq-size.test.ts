/**
 * Issue #16, "dead letters always fit", on the real broker: letters that
 * together exceed the dead-letter topic's max.message.bytes go out in
 * several produce requests, and a letter that can never fit is cut, marked
 * (sluice.truncated, sluice.original.bytes) and keeps its source offset —
 * where the old sink retried MESSAGE_TOO_LARGE forever and stalled the
 * partition while /readyz said ok.
 */
import { describe, expect, it } from 'vitest';
import type { KafkaMessage } from 'kafkajs';
import {
  useClickHouse,
  EVENTS_DDL,
  committedTotal,
  createProducer,
  event,
  freePort,
  metricSum,
  randomName,
  scalar,
  sinkEnv,
  startSink,
  waitFor,
  withAdmin,
  readMessages,
} from '../helpers.js';

const client = useClickHouse();

const header = (m: KafkaMessage, k: string) => m.headers?.[k]?.toString();

describe('dead letters and the dead-letter topic size limit', () => {
  it('splits letters over several produces and cuts one that can never fit; the partition never stalls', async () => {
    const topic = randomName('dlqsize');
    const dlq = `${topic}.dlq`;
    const table = randomName('dlqsize');
    const group = randomName('g');
    const LIMIT = 600_000;
    await withAdmin((admin) =>
      admin.createTopics({
        topics: [
          { topic, numPartitions: 1 },
          { topic: dlq, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: String(LIMIT) }] },
        ],
        waitForLeaders: true,
      }),
    );
    await client().command({ query: EVENTS_DDL(table) });

    // Three 250 kB non-JSON records (750 kB together: more than one produce
    // can carry) and one of 700 kB (more than the topic takes at all), among
    // good events.
    const bad = new Map<number, Buffer>([
      [10, Buffer.alloc(250_000, 'a')],
      [11, Buffer.alloc(250_000, 'b')],
      [12, Buffer.alloc(250_000, 'c')],
      [40, Buffer.alloc(700_000, 'd')],
    ]);
    const values: Buffer[] = [];
    for (let i = 0; i < 100; i++) values.push(bad.get(i) ?? Buffer.from(event(i + 1)));
    // One record per request: together they exceed what one produce may carry.
    const producer = await createProducer();
    try {
      for (const value of values) await producer.send({ topic, acks: -1, messages: [{ value, partition: 0 }] });
    } finally {
      await producer.disconnect();
    }

    const port = await freePort();
    const sink = startSink(sinkEnv(topic, table, group, { SLUICE_METRICS_PORT: String(port), SLUICE_BATCH_MAX_WAIT_MS: '200' }));
    try {
      await waitFor('all 100 offsets committed', async () => (await committedTotal(group, topic)) === 100);
      expect(await scalar(client(), `SELECT count() FROM ${table}`)).toBe(96);
      expect(await metricSum(port, 'sluice_dead_letters_truncated_total')).toBe(1);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      const code = await sink.stop();
      if (code !== 0) console.log(JSON.stringify(sink.lines.filter((l) => l.level !== 'info' && l.level !== 'debug').slice(-10)));
      expect(code).toBe(0);
    }

    const letters = await readMessages(dlq, 4);
    expect(letters).toHaveLength(4);
    const byOffset = new Map(letters.map((m) => [Number(header(m, 'sluice.source.offset')), m]));
    expect([...byOffset.keys()].sort((a, b) => a - b)).toEqual([10, 11, 12, 40]);
    for (const o of [10, 11, 12]) {
      const m = byOffset.get(o)!;
      expect(m.value!.equals(bad.get(o)!)).toBe(true);
      expect(header(m, 'sluice.truncated')).toBeUndefined();
    }
    const cut = byOffset.get(40)!;
    expect(header(cut, 'sluice.truncated')).toBe('value');
    expect(header(cut, 'sluice.original.bytes')).toBe('700000');
    expect(header(cut, 'sluice.error.class')).toBe('not_json_object');
    expect(cut.value!.length).toBeGreaterThan(500_000);
    expect(cut.value!.length).toBeLessThan(LIMIT);
    expect(cut.value!.equals(bad.get(40)!.subarray(0, cut.value!.length))).toBe(true);
  });
});
