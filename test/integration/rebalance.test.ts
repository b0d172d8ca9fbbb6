/**
 * Issue #11, "rebalances that finish their work": when a replica joins or
 * leaves gracefully, the partitions that move are written and committed up
 * to what was fetched before the group rejoins (the pre-rejoin hook of
 * sluice's kafkajs patch), so on a plain MergeTree — no insert
 * deduplication to hide a repeat — every record lands exactly once.
 */
import { describe, expect, it } from 'vitest';
import {
  EVENTS_DDL,
  committedTotal,
  createProducer,
  createTopic,
  event,
  randomName,
  scalar,
  sinkEnv,
  startSink,
  useClickHouse,
  waitFor,
} from '../helpers.js';

const client = useClickHouse();

describe('graceful rebalances', () => {
  it('a replica joining and another leaving mid-stream leave no duplicate on a plain MergeTree', async () => {
    const topic = randomName('rebal');
    const table = randomName('rebal');
    const group = randomName('g');
    const partitions = 6;
    const N = 60_000;
    await createTopic(topic, partitions);
    await client().command({ query: EVENTS_DDL(table) });
    // Batches cut by age mid-stream: the in-flight work a rebalance used to abandon.
    const env = sinkEnv(topic, table, group, { SLUICE_BATCH_MAX_WAIT_MS: '300', SLUICE_KAFKA_SESSION_TIMEOUT_MS: '10000' });
    const producer = await createProducer();
    let produced = 0;
    const produce = async (n: number) => {
      for (let end = produced + n; produced < end; produced += 500) {
        await producer.send({ topic, acks: -1, messages: Array.from({ length: 500 }, (_, j) => ({ value: event(produced + j), partition: (produced + j) % partitions })) });
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const a = startSink(env);
    await a.waitForEvent('group.assigned');
    await produce(N / 3);
    const b = startSink(env);
    await produce(N / 3); // B joins while this flows: A settles its partitions first
    await b.waitForEvent('group.assigned');
    await produce(N / 6);
    expect(await b.stop()).toBe(0); // B leaves gracefully: writes, commits, leaves
    await produce(N / 6);
    await producer.disconnect();
    await waitFor('all committed', async () => (await committedTotal(group, topic)) === N, 180_000);
    expect(await a.stop()).toBe(0);
    const rows = await scalar(client(), `SELECT count() FROM ${table}`);
    const distinct = await scalar(client(), `SELECT uniqExact(id) FROM ${table}`);
    const settles = a.lines.filter((l) => l.event === 'group.settled');
    console.log(`[graceful rebalance] rows ${rows} distinct ${distinct} produced ${N}; A settled ${settles.length} time(s): ${JSON.stringify(settles.map((l) => ({ settled: l.settled, ms: l.ms })))}`);
    expect(settles.length).toBeGreaterThanOrEqual(1);
    expect(settles.every((l) => l.settled === true)).toBe(true);
    expect(distinct).toBe(N);
    expect(rows).toBe(N);
  });
});
