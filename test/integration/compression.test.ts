/**
 * Compressed record batches (kafka/codecs.ts) on the real services: a topic
 * whose `compression.type` is snappy, lz4 or zstd makes the broker store
 * every batch compressed with that codec (Kafka's own Java codecs: xerial
 * Snappy framing, LZ4 frames, Zstandard frames), whatever the producer sent.
 * kafkajs alone crashes its consumer on such a batch (KafkaJSNotImplemented)
 * and the partition never moves; with sluice's codecs every record lands
 * exactly once, and `sluice offsets lag` reads the records' timestamps.
 */
import { describe, expect, it } from 'vitest';
import { offsetsCommand } from '../../src/cli/offsets.js';
import { BROKERS, EVENTS_DDL, committedTotal, event, produce, randomName, scalar, sinkEnv, startSink, useClickHouse, waitFor, withAdmin } from '../helpers.js';

const client = useClickHouse();

describe('compressed record batches', () => {
  it.each(['snappy', 'lz4', 'zstd'])('%s: every record lands once and the offset tools read the topic', async (codec) => {
    const topic = randomName(`z_${codec}`);
    const table = randomName(`z_${codec}`);
    const group = randomName('g');
    await withAdmin((a) => a.createTopics({ topics: [{ topic, numPartitions: 2, configEntries: [{ name: 'compression.type', value: codec }] }], waitForLeaders: true }));
    await client().command({ query: EVENTS_DDL(table) });
    const N = 20_000;
    await produce(topic, Array.from({ length: N }, (_, i) => event(i)), 2);

    const sink = startSink(sinkEnv(topic, table, group, { SLUICE_BATCH_MAX_ROWS: '3000' }));
    await waitFor('commits at the end', async () => (await committedTotal(group, topic)) === N);
    expect(sink.lines.filter((l) => l.event === 'kafka.consumer_crash')).toEqual([]);
    expect(await sink.stop()).toBe(0);
    expect(await scalar(client(), `SELECT count() FROM ${table}`)).toBe(N);
    expect(await scalar(client(), `SELECT uniqExact(id) FROM ${table}`)).toBe(N);
    expect(await scalar(client(), `SELECT sum(id) FROM ${table}`)).toBe((N * (N - 1)) / 2);

    // The offset tools read a record (for its timestamp) through the same codecs.
    await withAdmin((a) => a.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '10' }, { partition: 1, offset: '10' }] }));
    let out = '';
    expect(await offsetsCommand(['lag', '--group', group, '--topic', topic, '--json'], { out: (t) => (out += t), err: () => {}, env: { SLUICE_KAFKA_BROKERS: BROKERS.join(',') } })).toBe(0);
    const lag = JSON.parse(out) as { totalLag: number; partitions: Array<{ lastCommittedTimestamp: number | null }> };
    expect(lag.totalLag).toBe(N - 20);
    for (const p of lag.partitions) expect(p.lastCommittedTimestamp).toBeGreaterThan(0);
  });
});
