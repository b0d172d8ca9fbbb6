/**
 * Issue #3 on real services: a ClickHouse outage, a broker restart, replicas
 * joining, leaving and being killed, and the buffer cap under a backlog.
 * Outages are staged on a private Kafka/ClickHouse pair (other ports), so
 * stopping a service never disturbs the shared pair.
 */
import { describe, expect, it } from 'vitest';
import { createClient } from '@clickhouse/client';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import {
  useClickHouse,
  freePort,
  metricSum,
  EVENTS_DDL,
  PRIVATE,
  committedTotal,
  createTopic,
  endOffsets,
  event,
  insertsSettled,
  privateServices,
  produce,
  randomName,
  scalar,
  sinkEnv,
  startSink,
  waitFor,
} from '../helpers.js';

const client = useClickHouse();

const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => event(from + i));



async function endTotal(topic: string): Promise<number> {
  return [...(await endOffsets(topic)).values()].reduce((a, b) => a + b, 0);
}

describe('fault tolerance', () => {
  it('rides out a ClickHouse outage: no commit while it is down, /readyz false, every record lands after', async () => {
    await privateServices('start', 'clickhouse');
    const pch = createClient({ url: `http://127.0.0.1:${PRIVATE.clickhouseHttpPort}`, request_timeout: 30_000 });
    try {
      const topic = randomName('chdown');
      const table = randomName('chdown');
      const group = randomName('g');
      const port = await freePort();
      await createTopic(topic, 4);
      await pch.command({ query: EVENTS_DDL(table) });
      await produce(topic, ids(20_000), 4);
      const sink = startSink(
        sinkEnv(topic, table, group, {
          SLUICE_CLICKHOUSE_URL: `http://127.0.0.1:${PRIVATE.clickhouseHttpPort}`,
          SLUICE_BATCH_MAX_ROWS: '2000',
          SLUICE_METRICS_PORT: String(port),
          SLUICE_READY_STALL_MS: '1000',
          // Small enough that the outage's backlog pauses fetching: lag must still track the log end.
          SLUICE_MAX_BUFFER_BYTES: '1048576',
          SLUICE_BATCH_MAX_BYTES: '262144',
        }),
      );
      await waitFor('first 20,000 committed', async () => (await committedTotal(group, topic)) === 20_000);
      await waitFor('/readyz 200', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200);

      await privateServices('stop', 'clickhouse');
      await produce(topic, ids(20_000, 20_000), 4);
      await sink.waitForEvent('insert.retry');
      const committedDuringOutage = await committedTotal(group, topic);
      await waitFor('/readyz 503 during the outage', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 503);
      const body = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { reasons: string[] };
      expect(body.reasons.join(' ')).toMatch(/clickhouse_unreachable|insert failing/);
      await waitFor('several more retries', async () => (await metricSum(port, 'sluice_retries_total')) >= 5);
      expect(await committedTotal(group, topic)).toBe(committedDuringOutage);
      expect(committedDuringOutage).toBe(20_000);
      // Fetching pauses at the buffer cap; records produced after that are
      // seen only by asking the broker (issue #16: lag went blind here).
      await waitFor('partitions paused by backpressure', async () => (await metricSum(port, 'sluice_paused_partitions')) > 0);
      await produce(topic, ids(20_000, 40_000), 4);
      await waitFor('lag tracks the log end while paused', async () => (await metricSum(port, 'sluice_consumer_lag_records')) === 40_000);
      expect(sink.proc.exitCode).toBeNull();
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);

      await privateServices('start', 'clickhouse');
      await waitFor('every id after the outage', async () => (await scalar(pch, `SELECT uniqExact(id) FROM ${table}`)) === 60_000);
      await waitFor('commits at the end', async () => (await committedTotal(group, topic)) === 60_000);
      expect(sink.lines.some((l) => l.event === 'clickhouse.recovered')).toBe(true);
      // A fault that lost nothing is not an error a person must act on.
      expect(sink.lines.filter((l) => l.level === 'error').map((l) => l.event)).toEqual([]);
      await waitFor('/readyz 200 again', async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 30_000);
      expect(await metricSum(port, 'sluice_records_inserted_total')).toBeGreaterThanOrEqual(60_000);
      expect(await metricSum(port, 'sluice_retries_total')).toBeGreaterThanOrEqual(5);
      expect(await sink.stop()).toBe(0);
      const duplicates = (await scalar(pch, `SELECT count() FROM ${table}`)) - 60_000;
      console.log(`[clickhouse outage] duplicates: ${duplicates}`);
      expect(duplicates).toBe(0);
    } finally {
      await pch.close();
      await privateServices('stop', 'clickhouse');
    }
  });

  it('rides out a Kafka broker restart mid-stream: every record lands', async () => {
    await privateServices('start', 'kafka');
    const brokers = [`127.0.0.1:${PRIVATE.kafkaPort}`];
    const pk = new Kafka({ brokers, clientId: 'tests', logLevel: logLevel.NOTHING, retry: { retries: 30, maxRetryTime: 3000 } });
    try {
      const topic = randomName('kdown');
      const table = randomName('kdown');
      const group = randomName('g');
      const admin = pk.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 4 }], waitForLeaders: true });
      await admin.disconnect();
      await client().command({ query: EVENTS_DDL(table) });
      const send = async (from: number, n: number) => {
        const p = pk.producer({ createPartitioner: Partitioners.DefaultPartitioner });
        await p.connect();
        for (let i = from; i < from + n; i += 5000) {
          await p.send({ topic, acks: -1, messages: Array.from({ length: 5000 }, (_, j) => ({ value: event(i + j), partition: (i + j) % 4 })) });
        }
        await p.disconnect();
      };
      await send(0, 20_000);
      const sink = startSink(sinkEnv(topic, table, group, { SLUICE_KAFKA_BROKERS: brokers.join(','), SLUICE_BATCH_MAX_ROWS: '2000' }));
      await waitFor('the first rows', async () => (await scalar(client(), `SELECT count() FROM ${table}`)) >= 5000, 120_000, 20);

      await privateServices('restart', 'kafka');
      await send(20_000, 20_000);
      await waitFor('every id after the restart', async () => (await scalar(client(), `SELECT uniqExact(id) FROM ${table}`)) === 40_000, 180_000);
      const committed = async () => {
        const a = pk.admin();
        await a.connect();
        try {
          const o = await a.fetchOffsets({ groupId: group, topics: [topic] });
          return o[0]!.partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
        } finally {
          await a.disconnect();
        }
      };
      await waitFor('commits at the end', async () => (await committed()) === 40_000, 120_000);
      expect(sink.proc.exitCode).toBeNull();
      expect(await sink.stop()).toBe(0);
      const duplicates = (await scalar(client(), `SELECT count() FROM ${table}`)) - 40_000;
      console.log(`[broker restart] duplicates: ${duplicates}`);
      expect(duplicates).toBeGreaterThanOrEqual(0);
    } finally {
      await privateServices('stop', 'kafka');
    }
  });

  it('shares partitions between replicas joining, leaving (SIGTERM) and killed (SIGKILL) mid-stream without losing a record', async () => {
    const topic = randomName('replicas');
    const table = randomName('replicas');
    const group = randomName('g');
    await createTopic(topic, 12);
    await client().command({ query: EVENTS_DDL(table) });
    const env = sinkEnv(topic, table, group, { SLUICE_BATCH_MAX_ROWS: '2000', SLUICE_KAFKA_SESSION_TIMEOUT_MS: '6000' });
    const count = () => scalar(client(), `SELECT count() FROM ${table}`);

    await produce(topic, ids(60_000), 12);
    const a = startSink(env);
    await waitFor('A writing', async () => (await count()) >= 10_000, 120_000, 20);

    const b = startSink(env);
    await b.waitForEvent('group.assigned', (l) => Object.keys((l.assignment as object) ?? {}).length > 0);
    await produce(topic, ids(60_000, 60_000), 12);
    await waitFor('B writing', async () => (await count()) >= 70_000, 120_000, 20);
    expect(await b.stop('SIGTERM')).toBe(0);

    const c = startSink(env);
    await c.waitForEvent('group.assigned', (l) => Object.keys((l.assignment as object) ?? {}).length > 0);
    await produce(topic, ids(60_000, 120_000), 12);
    await waitFor('C writing', async () => (await count()) >= 130_000, 120_000, 20);
    await c.stop('SIGKILL');

    await waitFor('every id', async () => (await scalar(client(), `SELECT uniqExact(id) FROM ${table}`)) === 180_000, 180_000);
    await waitFor('commits at the end', async () => (await committedTotal(group, topic)) === (await endTotal(topic)), 120_000);
    expect(await a.stop()).toBe(0);
    await insertsSettled(client(), table);
    const duplicates = (await count()) - 180_000;
    console.log(`[replicas] duplicates: ${duplicates}`);
    expect(duplicates).toBeGreaterThanOrEqual(0);
  });

  it('holds the buffer cap under a large backlog: pauses instead of growing, then drains it all', async () => {
    const topic = randomName('cap');
    const table = randomName('cap');
    const group = randomName('g');
    const port = await freePort();
    const partitions = 4;
    await createTopic(topic, partitions);
    await client().command({ query: EVENTS_DDL(table) });
    const N = 100_000; // ~13 MB of values, 6x the cap
    const cap = 2 << 20;
    const sink = startSink(
      sinkEnv(topic, table, group, {
        SLUICE_MAX_BUFFER_BYTES: String(cap),
        SLUICE_BATCH_MAX_BYTES: String(256 << 10),
        SLUICE_METRICS_PORT: String(port),
      }),
    );
    await sink.waitForEvent('sink.started');
    // Writes are blocked (the table is away) so everything fetched stays buffered.
    await client().command({ query: `RENAME TABLE ${table} TO ${table}_away` });
    await produce(topic, ids(N), partitions);
    await waitFor('partitions paused by backpressure', async () => (await metricSum(port, 'sluice_paused_partitions')) >= 1);
    // kafka/source.ts: a fetch is at most 1 MiB here and one partition's share a quarter of it;
    // each partition can deliver one more share after the cap is reached.
    const bound = cap + partitions * (256 << 10);
    let peak = 0;
    let consumedMax = 0;
    for (let i = 0; i < 20; i++) {
      peak = Math.max(peak, await metricSum(port, 'sluice_buffered_bytes'));
      consumedMax = Math.max(consumedMax, await metricSum(port, 'sluice_records_consumed_total'));
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`[buffer cap] cap ${cap} B, peak buffered ${peak} B, records consumed while blocked ${consumedMax} of ${N}`);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(bound);
    expect(consumedMax).toBeLessThan(N / 2);

    await client().command({ query: `RENAME TABLE ${table}_away TO ${table}` });
    await waitFor('every id', async () => (await scalar(client(), `SELECT uniqExact(id) FROM ${table}`)) === N, 180_000);
    await waitFor('commits at the end', async () => (await committedTotal(group, topic)) === N);
    expect(await sink.stop()).toBe(0);
    expect(await scalar(client(), `SELECT count() FROM ${table}`)).toBe(N);
  });
});

