/**
 * Kafka metadata columns (issue 12, item 3) on the real services: records
 * produced with keys, headers and explicit timestamps to two partitions go
 * through Kafka and the sink into ClickHouse 18.16, and every row's _topic,
 * _partition, _offset, _timestamp, _key and _headers equal what a plain
 * kafkajs consumer reads for that record — exactly, row for row (a payload
 * field named _offset is ignored). The same topic into a table with the
 * other accepted types (DateTime seconds, String key, JSON headers). A type
 * that cannot hold its value, and passthrough with such a table, stop
 * start-up with one line naming the column. The types 18.16 lacks
 * (DateTime64(3), Map, LowCardinality) go through the 26.x engine (chdb)
 * with RowBinaryWithDefaults.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KafkaMessage } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRowBinaryWithDefaults, readTableColumns } from '../../src/clickhouse/schema.js';
import { typedEncoder } from '../../src/formats/batch.js';
import { tableSchema } from '../../src/formats/decoder.js';
import { JsonDecoder } from '../../src/formats/json.js';
import { bindMetadata, DEFAULT_METADATA_COLUMNS_TEXT, parseMetadataColumns } from '../../src/formats/metadata.js';
import { compactChunk } from '../../src/kafka/record.js';
import { replayCommand } from '../../src/cli/replay.js';
import { BROKERS, CLICKHOUSE_URL, committedTotal, createProducer, createTopic, kafka, randomName, sinkEnv, startSink, useClickHouse, waitFor } from '../helpers.js';

const client = useClickHouse();

interface Read { partition: number; offset: string; timestamp: string; key: string | null; headers: Array<[string, string]>; value: string }

/** What a plain kafkajs consumer reads: the reference the table is compared with. */
async function readAll(topic: string, expected: number): Promise<Read[]> {
  const consumer = kafka.consumer({ groupId: randomName('reader') });
  const out: Read[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }: { partition: number; message: KafkaMessage }) => {
      const headers: Array<[string, string]> = [];
      for (const [k, v] of Object.entries(message.headers ?? {})) for (const one of Array.isArray(v) ? v : [v]) headers.push([k, String(one)]);
      out.push({ partition, offset: message.offset, timestamp: message.timestamp, key: message.key === null ? null : message.key.toString(), headers, value: message.value!.toString() });
    },
  });
  await waitFor(`${expected} messages on ${topic}`, () => out.length >= expected, 60_000);
  await consumer.disconnect();
  return out.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
}

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  const rs = await client().query({ query: sql, format: 'JSONEachRow' });
  return rs.json<Record<string, unknown>>();
}

// Explicit timestamps, so the exact values are known and distinct: an hour back (Kafka 4 refuses an hour
// or more ahead; far back, retention could delete the records mid-test).
const BASE_TS = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

/** 40 records over two partitions: keys (every 5th null), headers on every 3rd, a bogus _offset field in the payload. */
async function produceRecords(topic: string): Promise<number> {
  const producer = await createProducer();
  const messages = Array.from({ length: 40 }, (_, i) => ({
    partition: i % 2,
    key: i % 5 === 0 ? null : `user-${i % 7}`,
    value: JSON.stringify({ id: i, name: `n${i}`, _offset: 999_999, _topic: 'not-the-topic' }),
    timestamp: String(BASE_TS + i * 1_337),
    ...(i % 3 === 0 && { headers: { tenant: `t${i % 4}`, trace: [`a${i}`, `b${i}`] } }),
  }));
  await producer.send({ topic, messages, acks: -1 });
  await producer.disconnect();
  return messages.length;
}

async function sinkUntilCommitted(topic: string, table: string, count: number): Promise<void> {
  const group = randomName('g');
  const sink = startSink(sinkEnv(topic, table, group, { SLUICE_BATCH_MAX_WAIT_MS: '200' }));
  try {
    await waitFor('all records committed', async () => (await committedTotal(group, topic)) === count);
  } finally {
    expect(await sink.stop()).toBe(0);
  }
}

async function startupError(env: Record<string, string>): Promise<{ code: number | null; text: string[] }> {
  const sink = startSink(env);
  const code = await sink.exited;
  return { code, text: sink.lines.filter((l) => l.event === 'text').map((l) => String(l.text)) };
}

describe('Kafka metadata columns through Kafka and the sink (ClickHouse 18.16)', () => {
  let topic: string;
  let produced: number;
  let reference: Read[];

  beforeAll(async () => {
    topic = randomName('meta');
    await createTopic(topic, 2);
    produced = await produceRecords(topic);
    reference = await readAll(topic, produced);
  });

  it('each row carries its record\'s topic, partition, offset, timestamp, key and headers, exactly as a consumer reads them', async () => {
    const table = randomName('meta');
    await client().command({
      query: `CREATE TABLE ${table} (id UInt32, _topic String, _partition Int32, _offset UInt64, _timestamp UInt64, _key Nullable(String),
        _headers Array(Tuple(String, String)), name String) ENGINE = MergeTree ORDER BY (_partition, _offset)`,
    });
    await sinkUntilCommitted(topic, table, produced);
    // 18.16 stores the Array(Tuple(String, String)) as two arrays, `_headers.1` (names) and `_headers.2` (values).
    expect((await rows(`SELECT name FROM system.columns WHERE database = currentDatabase() AND table = '${table}' AND name LIKE '\\_headers%'`)).map((r) => r.name)).toEqual(['_headers.1', '_headers.2']);
    const got = await rows(`SELECT id, name, _topic, _partition, toString(_offset) AS o, toString(_timestamp) AS ts, _key, \`_headers.1\` AS hn, \`_headers.2\` AS hv FROM ${table} ORDER BY _partition, _offset`);
    expect(got).toHaveLength(produced);
    const want = reference.map((r) => {
      const v = JSON.parse(r.value) as { id: number; name: string };
      return { id: v.id, name: v.name, _topic: topic, _partition: r.partition, o: r.offset, ts: r.timestamp, _key: r.key, hn: r.headers.map((h) => h[0]), hv: r.headers.map((h) => h[1]) };
    });
    expect(got).toEqual(want);
    // Both partitions, null and non-null keys, with and without headers: the comparison covered each case.
    expect(new Set(got.map((r) => r._partition))).toEqual(new Set([0, 1]));
    expect(got.filter((r) => r._key === null).length).toBe(8);
    expect(got.filter((r) => (r.hn as unknown[]).length === 3).length).toBe(14);
    console.log(`[metadata e2e] ${got.length} rows; first: ${JSON.stringify(got[0])}`);
  });

  it('DateTime seconds, a plain String key (\'\' for none), headers as JSON, a narrower partition type', async () => {
    const table = randomName('meta_alt');
    await client().command({
      query: `CREATE TABLE ${table} (id UInt32, _topic String, _partition UInt8, _offset Int64, _timestamp DateTime, _key String, _headers String,
        name String) ENGINE = MergeTree ORDER BY id`,
    });
    await sinkUntilCommitted(topic, table, produced);
    const got = await rows(`SELECT id, _partition, toString(_offset) AS o, toUInt32(_timestamp) AS ts, _key, _headers FROM ${table} ORDER BY _partition, _offset`);
    const want = reference.map((r) => {
      const json: Record<string, string | string[]> = {};
      for (const [k, v] of r.headers) json[k] = k in json ? [json[k] as string, v].flat() : v;
      return { id: (JSON.parse(r.value) as { id: number }).id, _partition: r.partition, o: r.offset, ts: Math.floor(Number(r.timestamp) / 1000), _key: r.key ?? '', _headers: JSON.stringify(json) };
    });
    expect(got).toEqual(want);
  });

  it('refuses to start, naming the column, when a metadata column cannot hold its value', async () => {
    const table = randomName('meta_bad');
    await client().command({ query: `CREATE TABLE ${table} (id UInt32, _offset UInt32) ENGINE = MergeTree ORDER BY id` });
    const r = await startupError(sinkEnv(topic, table, randomName('g')));
    expect(r.code).toBe(2);
    expect(r.text).toHaveLength(1);
    expect(r.text[0]).toMatch(new RegExp(`SLUICE_METADATA_COLUMNS: table default\\.${table}: column _offset \\(Kafka offset\\) is UInt32; it must be UInt64 or Int64`));
  });

  it('passthrough (jsoneachrow) cannot fill them: a table with one is refused at start-up, unless SLUICE_METADATA_COLUMNS=none', async () => {
    const table = randomName('meta_pass');
    await client().command({ query: `CREATE TABLE ${table} (id UInt32, name String, _partition Int32, _offset UInt64) ENGINE = MergeTree ORDER BY id` });
    const r = await startupError(sinkEnv(topic, table, randomName('g'), { SLUICE_INSERT_FORMAT: 'jsoneachrow' }));
    expect(r.code).toBe(2);
    expect(r.text).toHaveLength(1);
    expect(r.text[0]).toContain(`SLUICE_INSERT_FORMAT: table default.${table} has Kafka metadata column(s) _partition, _offset, which jsoneachrow (passthrough) cannot fill`);
    // With none, the columns are the payload's: the server takes the JSON's _offset field as it is (and skips its _topic).
    const group = randomName('g');
    const sink = startSink(sinkEnv(topic, table, group, { SLUICE_INSERT_FORMAT: 'jsoneachrow', SLUICE_METADATA_COLUMNS: 'none', SLUICE_SKIP_UNKNOWN_FIELDS: 'true', SLUICE_BATCH_MAX_WAIT_MS: '200' }));
    try {
      await waitFor('all records committed', async () => (await committedTotal(group, topic)) === produced);
    } finally {
      expect(await sink.stop()).toBe(0);
    }
    expect(await rows(`SELECT DISTINCT toString(_offset) AS o, _partition FROM ${table}`)).toEqual([{ o: '999999', _partition: 0 }]);
  });
});

describe('sluice replay fills metadata columns with the source record\'s, not the dead-letter topic\'s', () => {
  it('a record dead-lettered by the sink lands after the fix with its own topic, partition, offset, timestamp, key and headers', async () => {
    const topic = randomName('meta_rp');
    const table = randomName('meta_rp');
    await createTopic(topic, 2);
    await client().command({
      query: `CREATE TABLE ${table} (id UInt32, v UInt8, _topic String, _partition Int32, _offset UInt64, _timestamp UInt64, _key Nullable(String),
        _headers Nested(name String, value String)) ENGINE = MergeTree ORDER BY id`,
    });
    // Records 0..9 over two partitions; 3 and 8 carry v = 300, which a UInt8 cannot hold: dead letters (class invalid).
    const producer = await createProducer();
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: 10 }, (_, i) => ({
        partition: i % 2, key: `k${i}`, value: JSON.stringify({ id: i, v: i === 3 || i === 8 ? 300 : i }), timestamp: String(BASE_TS + i), headers: { h: `x${i}` },
      })),
    });
    await producer.disconnect();
    const reference = await readAll(topic, 10);
    await sinkUntilCommitted(topic, table, 10);
    expect(Number((await rows(`SELECT count() AS n FROM ${table}`))[0]!.n)).toBe(8);

    await client().command({ query: `ALTER TABLE ${table} MODIFY COLUMN v UInt16` });
    let out = '';
    const env = { SLUICE_KAFKA_BROKERS: BROKERS.join(','), SLUICE_CLICKHOUSE_URL: CLICKHOUSE_URL, SLUICE_TABLE: table, SLUICE_TOPICS: topic };
    const code = await replayCommand(['--topic', topic, '--json'], { out: (x) => (out += x), err: () => {}, env, isTTY: false });
    expect(code, out).toBe(0);
    const got = await rows(`SELECT id, v, _topic, _partition, toString(_offset) AS o, toString(_timestamp) AS ts, _key, \`_headers.name\` AS hn, \`_headers.value\` AS hv FROM ${table} ORDER BY id`);
    const want = reference
      .map((r) => {
        const v = JSON.parse(r.value) as { id: number; v: number };
        return { id: v.id, v: v.v, _topic: topic, _partition: r.partition, o: r.offset, ts: r.timestamp, _key: r.key, hn: r.headers.map((h) => h[0]), hv: r.headers.map((h) => h[1]) };
      })
      .sort((a, b) => a.id - b.id);
    expect(got).toEqual(want);
  });
});

// The types 18.16 lacks, on the 26.x engine in-process (as typed-chdb.test.ts).
interface ChdbSession { query(sql: string, format?: string): string; cleanup(): void }
const CHDB = new URL('../../.local/chdb/node_modules/chdb', import.meta.url).pathname;

describe('Kafka metadata columns on the modern engine (chdb): DateTime64(3), Map, LowCardinality, RowBinaryWithDefaults', () => {
  let session: ChdbSession;
  let dir: string;
  beforeAll(() => {
    session = new (createRequire(import.meta.url)(CHDB) as { Session: new () => ChdbSession }).Session();
    dir = mkdtempSync(join(tmpdir(), 'sluice-meta-'));
    session.query('CREATE DATABASE meta');
  });
  afterAll(() => {
    session?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('stores each record\'s metadata exactly', async () => {
    const query = async (sql: string) => session.query(sql, 'JSONEachRow').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    session.query(`CREATE TABLE meta.t (id UInt32, _topic LowCardinality(String), _partition UInt16, _offset UInt64, _timestamp DateTime64(3, 'UTC'),
      _key LowCardinality(Nullable(String)), _headers Map(String, String), note String DEFAULT 'dflt') ENGINE = MergeTree ORDER BY id`);
    expect(await hasRowBinaryWithDefaults(query)).toBe(true);
    const { payload, metadata } = bindMetadata(tableSchema(await readTableColumns(query, 'meta', 't')), parseMetadataColumns(DEFAULT_METADATA_COLUMNS_TEXT), true);
    const enc = typedEncoder('t', new JsonDecoder(payload, { layout: 'RowBinaryWithDefaults' }), 1, metadata);
    const records = compactChunk([
      { offset: '17', timestamp: '1764300000123', key: Buffer.from('k1'), value: Buffer.from('{"id":1,"_offset":5}'), headers: { a: Buffer.from('1'), b: Buffer.from('2') } },
      { offset: '4294967301', timestamp: '1764300000999', key: null, value: Buffer.from('{"id":2,"note":"n"}') },
    ]);
    const batch = enc.encode(records, { topic: 'events', partition: 3 });
    expect(batch.invalid).toEqual([]);
    const file = join(dir, 'rows.bin');
    writeFileSync(file, Buffer.concat(batch.body(0, 2)));
    session.query(`INSERT INTO meta.t (${enc.columns!.map((c) => '`' + c + '`').join(', ')}) FROM INFILE '${file}' FORMAT RowBinaryWithDefaults`);
    expect(await query('SELECT id, _topic, _partition, toString(_offset) AS o, toString(_timestamp) AS ts, _key, _headers, note FROM meta.t ORDER BY id')).toEqual([
      { id: 1, _topic: 'events', _partition: 3, o: '17', ts: '2025-11-28 03:20:00.123', _key: 'k1', _headers: { a: '1', b: '2' }, note: 'dflt' },
      { id: 2, _topic: 'events', _partition: 3, o: '4294967301', ts: '2025-11-28 03:20:00.999', _key: null, _headers: {}, note: 'n' },
    ]);

    // Headers as Nested(name, value) (the Kafka engine's _headers.name / _headers.value) and as Array(Tuple(String, String)).
    session.query(`CREATE TABLE meta.n (id UInt32, _headers Nested(name String, value String), h2 Array(Tuple(String, String)), _timestamp DateTime('UTC'), _key String) ENGINE = MergeTree ORDER BY id`);
    const bound = bindMetadata(tableSchema(await readTableColumns(query, 'meta', 'n')), parseMetadataColumns('headers:_headers,timestamp:_timestamp,key:_key'), true);
    const enc2 = typedEncoder('n', new JsonDecoder(bound.payload, { layout: 'RowBinaryWithDefaults' }), 1, bound.metadata);
    const enc3 = bindMetadata(tableSchema(await readTableColumns(query, 'meta', 'n')), parseMetadataColumns('headers:h2'), true);
    expect(enc2.columns).toEqual(['id', 'h2', '_headers.name', '_headers.value', '_timestamp', '_key']);
    expect(enc3.metadata!.columns).toEqual(['h2']);
    const b2 = enc2.encode(records, { topic: 'events', partition: 3 });
    writeFileSync(file, Buffer.concat(b2.body(0, 2)));
    session.query(`INSERT INTO meta.n (${enc2.columns!.map((c) => '`' + c + '`').join(', ')}) FROM INFILE '${file}' FORMAT RowBinaryWithDefaults`);
    const b3 = typedEncoder('n', new JsonDecoder(enc3.payload, { layout: 'RowBinaryWithDefaults', strict: false }), 2, enc3.metadata).encode(records, { topic: 'events', partition: 3 });
    writeFileSync(file, Buffer.concat(b3.body(0, 2)));
    session.query(`INSERT INTO meta.n (${enc3.payload.columnNames.concat(enc3.metadata!.columns).map((c) => '`' + c + '`').join(', ')}) FROM INFILE '${file}' FORMAT RowBinaryWithDefaults`);
    expect(await query('SELECT id, `_headers.name` AS hn, `_headers.value` AS hv, h2, toUnixTimestamp(_timestamp) AS ts, _key FROM meta.n ORDER BY id, ts')).toEqual([
      { id: 1, hn: [], hv: [], h2: [['a', '1'], ['b', '2']], ts: 0, _key: '' },
      { id: 1, hn: ['a', 'b'], hv: ['1', '2'], h2: [], ts: 1764300000, _key: 'k1' },
      { id: 2, hn: [], hv: [], h2: [], ts: 0, _key: '' },
      { id: 2, hn: [], hv: [], h2: [], ts: 1764300000, _key: '' },
    ]);
  });
});
