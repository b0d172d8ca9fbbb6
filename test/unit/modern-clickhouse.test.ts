/**
 * The modern-ClickHouse side of sluice, checked against a current engine
 * (chdb, ClickHouse 26.x in-process; the local server is Debian's 18.16):
 * every setting sluice sends exists there, an INSERT with exactly those
 * settings works, a byte-identical re-insert (what a re-read batch is, see
 * batcher.ts) is deduplicated while different rows are not, and the
 * engine's real error messages classify as sluice expects.
 */
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyClickHouseError } from '../../src/clickhouse-errors.js';
import { encode } from '../../src/encoder.js';
import { insertSettings } from '../../src/features.js';

// chdb lives outside the project's dependencies (scripts/test.sh installs it
// into .local/chdb): its lock entries for platforms npm cannot resolve here
// make `npm ci` refuse the project's lockfile.
interface ChdbSession {
  query(sql: string, format?: string): string;
  cleanup(): void;
}
const CHDB = new URL('../../.local/chdb/node_modules/chdb', import.meta.url).pathname;
function loadChdb(): { Session: new () => ChdbSession } {
  try {
    return createRequire(import.meta.url)(CHDB) as { Session: new () => ChdbSession };
  } catch (err) {
    throw new Error(`chdb is not installed at ${CHDB}: run scripts/test.sh (npm test), which installs it (${String(err)})`);
  }
}

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

function insertError(body: string, skipUnknownFields = false, table = 't'): unknown {
  const settings = insertSettings({ skipUnknownFields });
  try {
    session.query(`INSERT INTO ${table} ${settingsClause(settings)} FORMAT JSONEachRow ${body}`);
    return undefined;
  } catch (err) {
    return err;
  }
}

describe('modern ClickHouse (chdb)', () => {
  it('is a modern version', () => {
    expect(Number(version.split('.')[0])).toBeGreaterThanOrEqual(23);
  });

  it('knows every setting sluice sends it', () => {
    const names = Object.keys(insertSettings({ skipUnknownFields: false }));
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

  it('drops a byte-identical re-insert of a batch, and keeps different rows of the same shape', () => {
    const rec = (id: number, name: string) => ({ offset: id, timestamp: 0, key: null, value: Buffer.from(JSON.stringify({ id, s: name })) });
    const body = (records: ReturnType<typeof rec>[]) => Buffer.concat(encode(records).chunks).toString();
    const batch = [rec(10, 'a'), rec(11, 'b'), rec(12, 'c')];
    expect(insertError(body(batch), false, 'd')).toBeUndefined();
    // The same offsets re-read after a crash: the same bytes, deduplicated.
    expect(insertError(body(batch), false, 'd')).toBeUndefined();
    expect(Number(session.query('SELECT count() FROM d', 'TSV'))).toBe(3);
    // Same offsets, different data (a topic created anew): kept, not lost.
    expect(insertError(body([rec(10, 'x'), rec(11, 'y'), rec(12, 'z')]), false, 'd')).toBeUndefined();
    expect(Number(session.query('SELECT count() FROM d', 'TSV'))).toBe(6);
  });
});
