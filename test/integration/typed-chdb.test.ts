/**
 * Typed rows against the modern engine (chdb, ClickHouse 26.x in-process):
 * the same case table as typed-roundtrip.test.ts (typed-cases.ts), now
 * with the types 18.16 lacks (Bool, Date32, DateTime64, IPv4/6, Int128/256,
 * Map, named Tuple, LowCardinality(Nullable)). sluice's bytes really reach
 * the engine: they are written to a file and inserted with
 * `INSERT INTO t (cols) FROM INFILE 'file' FORMAT RowBinary[WithDefaults]`,
 * which parses them with the engine's own RowBinary reader into the table.
 * Also RowBinaryWithDefaults: an absent field gets the column's DEFAULT
 * expression, exactly as the engine's JSONEachRow gives it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRowBinaryWithDefaults, readTableColumns } from '../../src/clickhouse/schema.js';
import { tableSchema, writeValues } from '../../src/formats/decoder.js';
import { JsonDecoder } from '../../src/formats/json.js';
import { RowWriter } from '../../src/formats/row-writer.js';
import { CASES, runTypeCases, type Server } from './typed-cases.js';
import { loadChdb, type ChdbSession } from '../chdb.js';


let session: ChdbSession;
let dir: string;
let server: Server;
let files = 0;

beforeAll(() => {
  session = new (loadChdb().Session)();
  dir = mkdtempSync(join(tmpdir(), 'sluice-typed-'));
  session.query('CREATE DATABASE typed');
  const q = (sql: string, format?: string) => session.query(sql, format);
  server = {
    which: '26',
    database: 'typed',
    async exec(sql) { q(sql); },
    async insertJson(table, line) {
      try {
        q(`INSERT INTO typed.${table} FORMAT JSONEachRow ${line}`);
        return undefined;
      } catch (err) {
        return String((err as Error).message);
      }
    },
    async insertBinary(table, columns, body, layout) {
      const file = join(dir, `rows-${files++}.bin`);
      writeFileSync(file, body);
      q(`INSERT INTO typed.${table} (${columns.map((c) => '`' + c + '`').join(', ')}) FROM INFILE '${file}' FORMAT ${layout}`);
    },
    async selectTsv(sql) { return q(sql, 'TSV'); },
    async query(sql) { return q(sql, 'JSONEachRow').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>); },
  };
});
afterAll(() => {
  session?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('typed rows on the modern engine (chdb)', () => {
  it('is a modern engine, with RowBinaryWithDefaults', async () => {
    expect(Number((await server.selectTsv('SELECT version()')).split('.')[0])).toBeGreaterThanOrEqual(23);
    expect(await hasRowBinaryWithDefaults(server.query)).toBe(true);
  });

  for (const tc of CASES.filter((t) => t.cases.some((c) => c[2] !== undefined))) {
    it(`round-trips ${tc.type} as the engine's JSONEachRow does`, async () => {
      await runTypeCases(server, tc, 'c');
    });
  }

  it('takes an unflattened Nested column (flatten_nested = 0) as an array of objects', async () => {
    for (const t of ['nn_bin', 'nn_json']) {
      await server.exec(`CREATE TABLE typed.${t} (k UInt32, n Nested(x UInt8, y String)) ENGINE = Memory SETTINGS flatten_nested = 0`);
    }
    const schema = tableSchema(await readTableColumns(server.query, 'typed', 'nn_bin'));
    expect(schema.columns.map((c) => c.type.text)).toEqual(['UInt32', 'Nested(x UInt8, y String)']);
    const lines = ['{"k":1,"n":[{"x":1,"y":"a"},{"y":"b","x":2}]}', '{"k":2,"n":[]}', '{"k":3}'];
    const decoder = new JsonDecoder(schema, { layout: 'RowBinary' });
    const w = new RowWriter();
    for (const l of lines) expect(decoder.decode(Buffer.from(l), w)).toMatchObject({ ok: true });
    await server.insertBinary('nn_bin', schema.columnNames, w.finish(), 'RowBinary');
    for (const l of lines) expect(await server.insertJson('nn_json', l)).toBeUndefined();
    const sel = (t: string) => server.selectTsv(`SELECT * FROM typed.${t} ORDER BY k`);
    const got = await sel('nn_bin');
    expect(got.split('\n')[0]).toBe("1\t[(1,'a'),(2,'b')]");
    expect(got).toBe(await sel('nn_json'));
  });

  it('RowBinaryWithDefaults: an absent field (or null in a non-Nullable column) gets the DEFAULT expression, as JSONEachRow does', async () => {
    const ddl = (t: string) => `CREATE TABLE typed.${t} (k UInt32, a UInt32 DEFAULT 7, b String DEFAULT concat('x', toString(k)),
      n Nullable(UInt8) DEFAULT 3, e Enum8('z' = 5, 'y' = 3), arr Array(UInt8) DEFAULT [1, 2], m UInt32 MATERIALIZED k + 1,
      al UInt32 ALIAS k + 2, ep UInt8 EPHEMERAL, d DateTime64(3) DEFAULT toDateTime64('2024-01-01 00:00:00', 3),
      t Tuple(a UInt8, b String), mp Map(String, UInt8), f Float32 DEFAULT 1.5) ENGINE = MergeTree ORDER BY k`;
    await server.exec(ddl('wd_bin'));
    await server.exec(ddl('wd_json'));
    const info = await readTableColumns(server.query, 'typed', 'wd_bin');
    const schema = tableSchema(info);
    expect(schema.computed).toEqual(expect.arrayContaining(['m', 'al', 'ep']));
    expect(schema.columnNames).toEqual(['k', 'a', 'b', 'n', 'e', 'arr', 'd', 't', 'mp', 'f']);
    const lines = [
      '{"k":1}',
      '{"k":2,"a":null,"b":null,"n":null,"f":null}',
      '{"k":3,"a":5,"b":"q","n":9,"e":"z","arr":[],"d":"2024-06-01 12:00:00.5","t":{"b":"v"},"mp":{"x":1},"f":2}',
      '{"f":4,"mp":{},"k":4,"b":"reordered"}',
    ];
    const decoder = new JsonDecoder(schema, { layout: 'RowBinaryWithDefaults' });
    const w = new RowWriter();
    for (const l of lines) expect(decoder.decode(Buffer.from(l), w)).toMatchObject({ ok: true });
    // The same rows through the plain-value entry point (what Avro/Protobuf decoders will call).
    const values: unknown[][] = [
      [5],
      [6, null, undefined, null, 'y', [4], new Date(Date.UTC(2024, 5, 1, 12, 0, 0, 250)), { a: 1, b: 'w' }, new Map([['p', 2]]), 0.25],
    ];
    for (const v of values) expect(writeValues(schema, 'RowBinaryWithDefaults', v, w)).toMatchObject({ ok: true });
    await server.insertBinary('wd_bin', schema.columnNames, w.finish(), 'RowBinaryWithDefaults');
    for (const l of lines) expect(await server.insertJson('wd_json', l)).toBeUndefined();
    expect(await server.insertJson('wd_json', '{"k":5}')).toBeUndefined();
    expect(await server.insertJson('wd_json', '{"k":6,"a":null,"n":null,"e":"y","arr":[4],"d":"2024-06-01 12:00:00.25","t":{"a":1,"b":"w"},"mp":{"p":2},"f":0.25}')).toBeUndefined();
    const sel = (t: string) => server.selectTsv(`SELECT *, m, al FROM typed.${t} ORDER BY k`);
    const got = await sel('wd_bin');
    expect(got.split('\n')[0]).toBe("1\t7\tx1\t3\ty\t[1,2]\t2024-01-01 00:00:00.000\t(0,'')\t{}\t1.5\t2\t3");
    expect(got).toBe(await sel('wd_json'));
  });
});
