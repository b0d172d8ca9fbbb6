/**
 * The modern-ClickHouse side of sluice, checked against a current engine
 * (chdb, ClickHouse 26.x in-process; the local server is Debian's 18.16):
 * every setting sluice sends exists there, an INSERT with exactly those
 * settings works, a byte-identical re-insert (what a re-read batch is, see
 * pipeline/batcher.ts) is deduplicated while different rows are not, and the
 * engine's real error messages classify as sluice expects.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyClickHouseError } from '../../../src/clickhouse/errors.js';
import { encode } from '../../../src/formats/encoder.js';
import { insertSettings, serverFeatures, type InsertIdentity } from '../../../src/clickhouse/features.js';
import { loadChdb, type ChdbSession } from '../../chdb.js';


let session: ChdbSession;
let version = '';

beforeAll(() => {
  session = new (loadChdb().Session)();
  version = session.query('SELECT version()', 'TSV').trim();
  session.query('CREATE TABLE t (id UInt64, s String) ENGINE = MergeTree ORDER BY id');
  // How a production table opts in to insert deduplication without replication.
  session.query('CREATE TABLE d (id UInt64, s String) ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 100');
});
afterAll(() => session.cleanup());

const settingsClause = (settings: Record<string, string | number>) =>
  'SETTINGS ' + Object.entries(settings).map(([k, v]) => `${k} = ${typeof v === 'number' ? v : `'${v}'`}`).join(', ');

function insertError(body: string, skipUnknownFields = false, table = 't', rows?: InsertIdentity): unknown {
  const settings = insertSettings(serverFeatures(version), { skipUnknownFields }, rows);
  try {
    session.query(`INSERT INTO ${table} ${settingsClause(settings)} FORMAT JSONEachRow ${body}`);
    return undefined;
  } catch (err) {
    return err;
  }
}

describe('modern ClickHouse (chdb)', () => {
  it('is a modern version, which gets the deduplication token', () => {
    expect(Number(version.split('.')[0])).toBeGreaterThanOrEqual(23);
    expect(serverFeatures(version).insertDeduplicationToken).toBe(true);
  });

  it('knows every setting sluice sends it', () => {
    const rows = { topic: 't', partition: 0, firstOffset: 0, lastOffset: 0, chunks: [Buffer.from('{}\n')] };
    const names = Object.keys(insertSettings(serverFeatures(version), { skipUnknownFields: false }, rows));
    expect(names).toContain('insert_deduplication_token');
    const known = session.query(`SELECT name FROM system.settings WHERE name IN (${names.map((n) => `'${n}'`).join(',')})`, 'TSV');
    expect(known.trim().split('\n').sort()).toEqual([...names].sort());
  });

  it('accepts an INSERT with exactly those settings', () => {
    expect(insertError('{"id":1,"s":"a"}\n{"id":2,"s":"b"}\n')).toBeUndefined();
    expect(Number(session.query('SELECT count() FROM t', 'TSV'))).toBe(2);
  });

  it('rejects an unknown field as a data error when skipping is off (modern servers skip by default)', () => {
    const err = classifyClickHouseError(insertError('{"id":3,"s":"c","extra":1}\n'));
    expect(err.kind).toBe('data');
    expect(err.row).toBe(1);
    expect(insertError('{"id":4,"s":"d","extra":1}\n', true)).toBeUndefined();
  });

  it('classifies a wrong type with the row the engine names', () => {
    const err = classifyClickHouseError(insertError('{"id":5,"s":"a"}\n{"id":"x","s":"b"}\n'));
    expect(err.kind).toBe('data');
    expect(err.code).toBe(27);
    expect(err.row).toBe(2);
  });

  it('classifies malformed JSON as data and a missing table as fatal', () => {
    expect(classifyClickHouseError(insertError('{"id":6 "s":"a"}\n')).kind).toBe('data');
    let missing: unknown;
    try {
      session.query('INSERT INTO nope FORMAT JSONEachRow {"id":1}');
    } catch (err) {
      missing = err;
    }
    const err = classifyClickHouseError(missing);
    expect(err.kind).toBe('fatal');
    expect(err.code).toBe(60);
  });

  it('drops a re-read batch, keeps equal rows from other offsets and other rows at reused offsets', () => {
    const rec = (offset: number, id: number, name: string) => ({ offset, timestamp: 0, key: null, value: Buffer.from(JSON.stringify({ id, s: name })) });
    const insert = (records: ReturnType<typeof rec>[]) => {
      const { chunks } = encode(records);
      const rows = { topic: 'events', partition: 0, firstOffset: records[0]!.offset, lastOffset: records[records.length - 1]!.offset, chunks };
      return insertError(Buffer.concat(chunks).toString(), false, 'd', rows);
    };
    const count = () => Number(session.query('SELECT count() FROM d', 'TSV'));
    const batch = [rec(10, 1, 'a'), rec(11, 2, 'b')];
    expect(insert(batch)).toBeUndefined();
    // The same offsets re-read after a crash: the same bytes, dropped as a repeat.
    expect(insert(batch)).toBeUndefined();
    expect(count()).toBe(2);
    // Equal bytes from other offsets (a quiet topic repeating itself): kept.
    expect(insert([rec(12, 1, 'a'), rec(13, 2, 'b')])).toBeUndefined();
    expect(count()).toBe(4);
    // Other rows at the same offsets (a topic created anew): kept, not lost.
    expect(insert([rec(10, 3, 'x'), rec(11, 4, 'y')])).toBeUndefined();
    expect(count()).toBe(6);
  });

  it('does not send the token to servers that lack it', () => {
    const rows = { topic: 't', partition: 0, firstOffset: 0, lastOffset: 0, chunks: [Buffer.from('{}\n')] };
    expect(insertSettings(serverFeatures('18.16.1'), { skipUnknownFields: false }, rows)).toEqual({ input_format_skip_unknown_fields: 0 });
    expect(serverFeatures('22.1.3').insertDeduplicationToken).toBe(false);
    expect(serverFeatures('22.2.1').insertDeduplicationToken).toBe(true);
    expect(serverFeatures('nonsense').insertDeduplicationToken).toBe(false);
  });
});
