/**
 * Issue #4 on the real services: bad records of every kind are isolated and
 * dead-lettered with unchanged bytes and full headers while every good
 * record lands once; a flood of rejections stops the sink instead of
 * dead-lettering everything; without a dead-letter topic a bad record
 * stalls its partition and nothing is skipped.
 */
import { describe, expect, it } from 'vitest';
import type { KafkaMessage } from 'kafkajs';
import {
  useClickHouse,
  EVENTS_DDL,
  committedByPartition,
  committedTotal,
  createTopic,
  endOffsets,
  event,
  produce,
  randomName,
  scalar,
  sinkEnv,
  startSink,
  waitFor,
  readMessages,
} from '../helpers.js';

const client = useClickHouse();

const header = (m: KafkaMessage, k: string) => m.headers?.[k]?.toString();

describe('dead-letter topic', () => {
  it('dead-letters exactly the bad records with unchanged bytes and full headers; every good record lands once', async () => {
    const topic = randomName('dlq');
    const table = randomName('dlq');
    const group = randomName('g');
    await createTopic(topic, 2);
    await client().command({ query: EVENTS_DDL(table) });

    const N = 10_000;
    const bad = new Map<number, { value: Buffer | null; kind: string }>([
      [17, { value: Buffer.from('{"id": 17 "ts": "2026-11-25 10:00:00"}'), kind: 'invalid JSON' }],
      [1234, { value: Buffer.from(JSON.stringify({ id: 'not-a-number', ts: '2026-11-25 10:00:00', user: 'u', amount: 1, kind: 'x' })), kind: 'wrong type' }],
      [2345, { value: Buffer.from(JSON.stringify({ id: 2345, ts: '2026-11-25 10:00:00', user: 'u', amount: 1, kind: 'x', country: 'NL' })), kind: 'unknown column' }],
      [3456, { value: null, kind: 'null value' }],
      [4567, { value: Buffer.from(JSON.stringify({ id: 4567, ts: '2026-11-25 10:00:00', user: 'x'.repeat(5000), amount: 1, kind: 'x' })), kind: 'oversized' }],
      [5678, { value: Buffer.from('[1,2,3]'), kind: 'array' }],
      [6789, { value: Buffer.concat([Buffer.from('{"id": 6789, "user": "'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), kind: 'invalid UTF-8' }],
      [7890, { value: Buffer.from('42'), kind: 'scalar' }],
    ]);
    const values = Array.from({ length: N }, (_, i) => (bad.has(i) ? bad.get(i)!.value : Buffer.from(event(i))));
    await produce(topic, values, 2);

    const sink = startSink(sinkEnv(topic, table, group, { SLUICE_MAX_RECORD_BYTES: '4096', SLUICE_BATCH_MAX_ROWS: '3000' }));
    const ends = await endOffsets(topic);
    await waitFor('commits at the end offsets', async () => {
      const c = await committedByPartition(group, topic);
      return [...ends].every(([p, end]) => c.get(p) === end);
    });
    expect(await sink.stop()).toBe(0);

    const good = N - bad.size;
    expect(await scalar(client(), `SELECT count() FROM ${table}`)).toBe(good);
    expect(await scalar(client(), `SELECT uniqExact(id) FROM ${table}`)).toBe(good);
    const badIds = [...bad.keys()].join(',');
    expect(await scalar(client(), `SELECT count() FROM ${table} WHERE id IN (${badIds})`)).toBe(0);

    const letters = await readMessages(`${topic}.dlq`, bad.size);
    expect(letters).toHaveLength(bad.size);
    const byOffset = new Map(letters.map((m) => [`${header(m, 'sluice.source.partition')}:${header(m, 'sluice.source.offset')}`, m]));
    const seen = new Map<string, string>();
    for (const [id, b] of bad) {
      // produce() puts record i on partition i % 2 at offset floor(i / 2).
      const letter = byOffset.get(`${id % 2}:${Math.floor(id / 2)}`);
      expect(letter, `dead letter for record ${id} (${b.kind})`).toBeDefined();
      expect(letter!.value === null ? null : Buffer.from(letter!.value)).toEqual(b.value === null ? null : b.value);
      expect(header(letter!, 'sluice.source.topic')).toBe(topic);
      expect(header(letter!, 'sluice.target.table')).toBe(table);
      expect(Number(header(letter!, 'sluice.source.timestamp'))).toBeGreaterThan(0);
      expect(header(letter!, 'sluice.version')).toMatch(/^\d+\.\d+\.\d+/);
      expect(Date.parse(header(letter!, 'sluice.failed.at')!)).toBeGreaterThan(0);
      expect(header(letter!, 'sluice.error.message')!.length).toBeGreaterThan(0);
      seen.set(b.kind, `${header(letter!, 'sluice.error.class')}/${header(letter!, 'sluice.error.code')}`);
    }
    console.log('[dlq test] error class/code per kind:', Object.fromEntries(seen));
    expect(seen.get('null value')).toBe('null_value/');
    expect(seen.get('oversized')).toBe('too_large/');
    expect(seen.get('array')).toBe('not_json_object/');
    expect(seen.get('scalar')).toBe('not_json_object/');
    expect(seen.get('invalid UTF-8')).toBe('invalid_utf8/');
    // Found by sluice's own decoding (typed rows), before any insert: the
    // class is `invalid`, with the column when one value was wrong.
    for (const kind of ['invalid JSON', 'wrong type', 'unknown column']) expect(seen.get(kind)).toBe('invalid/');
    expect(header(byOffset.get(`${1234 % 2}:${Math.floor(1234 / 2)}`)!, 'sluice.error.column')).toBe('id');
    expect(header(byOffset.get(`${2345 % 2}:${Math.floor(2345 / 2)}`)!, 'sluice.error.message')).toContain('country');
  });

  it('stops instead of flooding the dead-letter topic when most records are rejected, and resumes once the table is fixed', async () => {
    const topic = randomName('flood');
    const table = randomName('flood');
    const group = randomName('g');
    await createTopic(topic, 1);
    // The producer already sends `country`; the migration adding it has not run.
    await client().command({ query: EVENTS_DDL(table) });
    const values = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ ...JSON.parse(event(i)), country: 'NL' }));
    await produce(topic, values, 1);

    const sink = startSink(sinkEnv(topic, table, group, { SLUICE_READY_STALL_MS: '0', SLUICE_METRICS_PORT: '0' }));
    const tripped = await sink.waitForEvent('dlq.ratio_exceeded');
    // Every record carries the unknown field: all are held (none written, none dead-lettered).
    expect(tripped.invalid).toBe(3000);
    expect(await committedTotal(group, topic)).toBe(0);

    await client().command({ query: `ALTER TABLE ${table} ADD COLUMN country String` });
    await waitFor('all rows after the migration', async () => (await scalar(client(), `SELECT uniqExact(id) FROM ${table}`)) === 3000);
    await waitFor('commit at the end', async () => (await committedTotal(group, topic)) === 3000);
    expect(await sink.stop()).toBe(0);
    expect(await scalar(client(), `SELECT count() FROM ${table}`)).toBe(3000);
    expect(sink.lines.some((l) => l.event === 'dlq.sent')).toBe(false);
  });

  it('without a dead-letter topic, a rejected record stalls its partition and nothing is skipped', async () => {
    const topic = randomName('nodlq');
    const table = randomName('nodlq');
    const group = randomName('g');
    await createTopic(topic, 1);
    await client().command({ query: EVENTS_DDL(table) });
    await produce(topic, Array.from({ length: 100 }, (_, i) => event(i)), 1);
    const sink = startSink(sinkEnv(topic, table, group, { SLUICE_DLQ_TOPIC: 'none', SLUICE_BATCH_MAX_WAIT_MS: '50' }));
    await waitFor('first 100 committed', async () => (await committedTotal(group, topic)) === 100);

    await produce(topic, [JSON.stringify({ ...JSON.parse(event(100)), country: 'NL' }), ...Array.from({ length: 99 }, (_, i) => event(101 + i))], 1);
    const stalled = await sink.waitForEvent('partition.stalled');
    expect(String(stalled.reason)).toContain('SLUICE_DLQ_TOPIC');
    expect(String(stalled.reason)).toContain('record at offset 100 is not a row of the table');
    expect(await committedTotal(group, topic)).toBe(100);

    await client().command({ query: `ALTER TABLE ${table} ADD COLUMN country String` });
    await waitFor('commit at the end', async () => (await committedTotal(group, topic)) === 200);
    expect(await sink.stop()).toBe(0);
    expect(await scalar(client(), `SELECT uniqExact(id) FROM ${table}`)).toBe(200);
  });
});
