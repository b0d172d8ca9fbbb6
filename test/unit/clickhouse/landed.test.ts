/**
 * The last landed record per partition (clickhouse/landed.ts) on a current
 * engine (chdb): DateTime64 and DateTime timestamps, a LowCardinality
 * Nullable key, the topic filter, and tables it cannot use. The 18.16 side
 * (UInt64 milliseconds, Nullable(String) key) runs in
 * test/integration/failover.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastLanded } from '../../../src/clickhouse/landed.js';
import type { Writer } from '../../../src/clickhouse/writer.js';
import { loadChdb, type ChdbSession } from '../../chdb.js';

let session: ChdbSession;
const writer = {
  async queryRows(sql: string) {
    const text = session.query(sql, 'JSONEachRow');
    return text.trim() === '' ? [] : text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  },
} as unknown as Writer;
const columns = { topic: '_topic', partition: '_partition', offset: '_offset', timestamp: '_timestamp', key: '_key' };

beforeAll(() => {
  session = new (loadChdb().Session)();
  session.query('CREATE DATABASE landed');
  session.query(`CREATE TABLE landed.ms (id UInt32, _topic LowCardinality(String), _partition UInt16, _offset UInt64,
    _timestamp DateTime64(3, 'UTC'), _key LowCardinality(Nullable(String))) ENGINE = MergeTree ORDER BY id`);
  session.query(`INSERT INTO landed.ms VALUES
    (1, 'events', 0, 10, '2026-11-28 10:00:00.125', 'a'), (2, 'events', 0, 11, '2026-11-28 10:00:00.250', NULL),
    (3, 'events', 1, 7, '2026-11-28 10:00:01.000', 'k\\xff'), (4, 'other', 0, 99, '2026-11-28 11:00:00.000', 'z')`);
  session.query('CREATE TABLE landed.s (id UInt32, _partition Int32, _offset Int64, _timestamp DateTime, _key String) ENGINE = MergeTree ORDER BY id');
  session.query(`INSERT INTO landed.s VALUES (1, 0, 5, '2026-11-28 10:00:00', 'x'), (2, 0, 6, '2026-11-28 10:00:02', '')`);
});
afterAll(() => session?.cleanup());

describe('lastLanded', () => {
  it('gives per partition the last offset, its millisecond timestamp and key bytes, for the topic asked', async () => {
    const a = await lastLanded(writer, 'landed', 'ms', columns, 'events');
    expect(a).toEqual({
      precisionMs: 1,
      byTopic: true,
      partitions: [
        { partition: 0, offset: 11, timestamp: Date.parse('2026-11-28T10:00:00.250Z'), key: null, rows: 2 },
        { partition: 1, offset: 7, timestamp: Date.parse('2026-11-28T10:00:01Z'), key: 'k\xff', rows: 1 },
      ],
    });
  });

  it('reads DateTime to the second and says the table has no topic column', async () => {
    const a = await lastLanded(writer, 'landed', 's', columns, 'events');
    expect(a).toEqual({ precisionMs: 1000, byTopic: false, partitions: [{ partition: 0, offset: 6, timestamp: Date.parse('2026-11-28T10:00:02Z'), key: '', rows: 2 }] });
  });

  it('names what is missing instead of failing', async () => {
    expect(await lastLanded(writer, 'landed', 's', { ...columns, offset: '_off' }, 'events')).toEqual({ missing: ['_off'] });
    expect(await lastLanded(writer, 'landed', 'nosuch', columns, 'events')).toEqual({ missing: ['table landed.nosuch'] });
  });
});
