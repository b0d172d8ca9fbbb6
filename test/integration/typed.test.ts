/**
 * Issue #10 end to end: records go through Kafka and the sink's typed row
 * path (decode against the table schema, RowBinary insert) and come back
 * from ClickHouse 18.16 as the same values the server's own JSONEachRow
 * stores for the same JSON; values the server would refuse or store wrongly
 * are dead-lettered one by one with their column; a column added with ALTER
 * while the sink runs takes the new field without a restart.
 *
 * The cases are typed-cases.ts's table (also run without Kafka by
 * typed-roundtrip.test.ts and typed-chdb.test.ts): every type 18.16 has.
 */
import { Readable } from 'node:stream';
import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import {
  committedTotal,
  createTopic,
  freePort,
  metricSamples,
  produce,
  randomName,
  scalar,
  sinkEnv,
  startSink,
  useClickHouse,
  waitFor,
  readMessages,
} from '../helpers.js';
import { CASES } from './typed-cases.js';

const client = useClickHouse();

const header = (m: KafkaMessage, k: string) => m.headers?.[k]?.toString();

async function tsv(table: string): Promise<string> {
  const rs = await client().query({ query: `SELECT * FROM ${table} ORDER BY id`, format: 'TabSeparated' });
  return rs.text();
}

describe('typed rows through Kafka and the sink (ClickHouse 18.16)', () => {
  it('every type 18.16 has: the sink stores what the server\'s JSONEachRow stores, and dead-letters each value it would refuse or store wrongly', async () => {
    const types = CASES.map((tc, i) => ({ ...tc, column: `c${i}` })).filter((tc) => tc.cases.some((c) => c[1] !== undefined));
    const ddl = (name: string) =>
      `CREATE TABLE ${name} (id UInt32, ${types.map((t) => `${t.column} ${t.type}`).join(', ')}) ENGINE = MergeTree ORDER BY id`;
    const settings = Object.assign({}, ...types.map((t) => t.settings18 ?? {})) as Record<string, number>;
    const table = randomName('typed');
    const twin = `${table}_twin`;
    await client().command({ query: ddl(table), clickhouse_settings: settings });
    await client().command({ query: ddl(twin), clickhouse_settings: settings });

    // One record per case: {"id": n, "c<i>": value}. 's': both store it;
    // 'x': both refuse it; 'R': the server stores a wrong value (300 in a
    // UInt8 as 44) — sluice refuses both kinds, record by record.
    const records: string[] = [];
    const good: string[] = [];
    const bad = new Map<number, string>(); // id → column
    let id = 0;
    for (const t of types) {
      for (const [json, on18] of t.cases) {
        if (on18 !== 's' && on18 !== 'x' && on18 !== 'R') continue; // 18.16 lacks it, or a documented divergence
        const line = `{"id":${++id},"${t.column}":${json}}`;
        records.push(line);
        if (on18 === 's') good.push(line);
        else bad.set(id, t.column);
      }
    }
    // The twin: the same good records through the server's own JSON parser.
    // Raw bytes: a JS round trip would change big integers and number spellings.
    const res = await client().exec({ query: `INSERT INTO ${twin} FORMAT JSONEachRow`, values: Readable.from([Buffer.from(good.join('\n') + '\n')]) });
    res.stream.resume();
    await waitFor('twin rows', async () => (await scalar(client(), `SELECT count() FROM ${twin}`)) === good.length);

    const topic = randomName('typed');
    const group = randomName('g');
    await createTopic(topic, 1);
    await produce(topic, records, 1);
    const sink = startSink(sinkEnv(topic, table, group, { SLUICE_BATCH_MAX_WAIT_MS: '200' }));
    try {
      await waitFor('all records committed', async () => (await committedTotal(group, topic)) === records.length);
    } finally {
      expect(await sink.stop()).toBe(0);
    }
    console.log(`[typed e2e] ${types.length} column types, ${good.length} values stored, ${bad.size} dead-lettered`);
    const [got, want] = [(await tsv(table)).split('\n'), (await tsv(twin)).split('\n')];
    expect(got).toEqual(want);

    const letters = await readMessages(`${topic}.dlq`, bad.size);
    expect(letters).toHaveLength(bad.size);
    for (const m of letters) {
      const offset = Number(header(m, 'sluice.source.offset'));
      const line = records[offset]!;
      const letterId = Number(/"id":(\d+)/.exec(line)![1]);
      expect(bad.has(letterId), `record ${line} was dead-lettered but the server stores it`).toBe(true);
      expect(m.value!.toString()).toBe(line);
      expect(header(m, 'sluice.error.class')).toBe('invalid');
      const column = header(m, 'sluice.error.column');
      // A value refused for its column names it; a syntax problem may not.
      if (column !== undefined) expect(column).toBe(bad.get(letterId));
    }
    expect(await scalar(client(), `SELECT count() FROM ${table} WHERE id IN (${[...bad.keys()].join(',')})`)).toBe(0);
  });

  it('finds bad values in the sink: they are dead-lettered with column and reason, and the rest of the batch lands in one insert', async () => {
    const table = randomName('validate');
    const topic = randomName('validate');
    const group = randomName('g');
    const port = await freePort();
    await client().command({ query: `CREATE TABLE ${table} (id UInt32, small UInt8, n Int32, day Date, name String) ENGINE = MergeTree ORDER BY id` });
    await createTopic(topic, 1);
    const rows = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ id: i, small: i % 200, n: -i, day: '2026-11-28', name: `n${i}` }));
    rows[100] = JSON.stringify({ id: 100, small: 300, n: 1, day: '2026-11-28', name: 'x' });
    rows[200] = JSON.stringify({ id: 200, small: 1, n: 'abc', day: '2026-11-28', name: 'x' });
    rows[300] = JSON.stringify({ id: 300, small: 1, n: 1, day: '2026-02-30', name: 'x' });
    await produce(topic, rows, 1);
    const sink = startSink(sinkEnv(topic, table, group, { SLUICE_METRICS_PORT: String(port), SLUICE_BATCH_MAX_WAIT_MS: '300' }));
    try {
      await waitFor('all committed', async () => (await committedTotal(group, topic)) === 1000);
      const m = metricSamples(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      // One batch, one insert: the bad values never reached the server.
      expect(m.get(`sluice_batches_inserted_total{topic="${topic}",table="${table}"}`)).toBe(1);
      expect(m.get(`sluice_records_dead_lettered_total{topic="${topic}",table="${table}",reason="invalid"}`)).toBe(3);
    } finally {
      expect(await sink.stop()).toBe(0);
    }
    expect(await scalar(client(), `SELECT count() FROM ${table}`)).toBe(997);
    const letters = await readMessages(`${topic}.dlq`, 3);
    const columns = Object.fromEntries(letters.map((l) => [header(l, 'sluice.source.offset'), header(l, 'sluice.error.column')]));
    expect(columns).toEqual({ '100': 'small', '200': 'n', '300': 'day' });
    for (const l of letters) expect(header(l, 'sluice.error.message')!.length).toBeGreaterThan(10);
  });

  it('a column added with ALTER while the sink runs takes the new field without a restart, and nothing is dead-lettered', async () => {
    const table = randomName('alter');
    const topic = randomName('alter');
    const group = randomName('g');
    await client().command({ query: `CREATE TABLE ${table} (id UInt32, name String) ENGINE = MergeTree ORDER BY id` });
    await createTopic(topic, 1);
    // A long periodic check: the new field must be picked up by the decoder meeting it, not by the timer.
    const sink = startSink(sinkEnv(topic, table, group, { SLUICE_BATCH_MAX_WAIT_MS: '100', SLUICE_SCHEMA_CHECK_MS: '3600000' }));
    try {
      await sink.waitForEvent('sink.started');
      await produce(topic, Array.from({ length: 100 }, (_, i) => JSON.stringify({ id: i, name: `a${i}` })), 1);
      await waitFor('first 100 committed', async () => (await committedTotal(group, topic)) === 100);
      await client().command({ query: `ALTER TABLE ${table} ADD COLUMN country String` });
      await produce(topic, Array.from({ length: 100 }, (_, i) => JSON.stringify({ id: 100 + i, name: `b${i}`, country: 'NL' })), 1);
      await waitFor('all 200 committed', async () => (await committedTotal(group, topic)) === 200);
      await sink.waitForEvent('schema.changed', (l) => Array.isArray(l.added) && l.added.includes('country'));
    } finally {
      expect(await sink.stop()).toBe(0);
    }
    expect(await scalar(client(), `SELECT count() FROM ${table}`)).toBe(200);
    expect(await scalar(client(), `SELECT countIf(country = 'NL') FROM ${table}`)).toBe(100);
    expect(sink.lines.some((l) => l.event === 'dlq.summary')).toBe(false);
  });
});
