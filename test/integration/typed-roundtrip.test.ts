/**
 * Typed rows against the real ClickHouse 18.16 server: for every type it
 * has, JSON → sluice's RowBinary → INSERT (explicit column list) FORMAT
 * RowBinary over HTTP with @clickhouse/client `exec`, read back, and
 * compared row by row with a twin table fed the same JSON through the
 * server's own JSONEachRow (typed-cases.ts holds the case table). Also:
 * absent fields next to DEFAULT expressions, MATERIALIZED/ALIAS columns,
 * Nested arrays, and the schema read from system.columns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRowBinaryWithDefaults, readTableColumns } from '../../src/clickhouse/schema.js';
import { tableSchema } from '../../src/formats/decoder.js';
import { JsonDecoder } from '../../src/formats/json.js';
import { RowWriter } from '../../src/formats/row-writer.js';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { CLICKHOUSE_URL, randomName } from '../helpers.js';
import { CASES, httpServer, runTypeCases, type Server } from './typed-cases.js';

const database = randomName('sluice_typed');
let server: Server;
let client: ClickHouseClient;
// Its own client: refused JSONEachRow inserts are expected here, and the library would log each one.
const ch = () => client;

beforeAll(async () => {
  client = createClient({ url: CLICKHOUSE_URL, request_timeout: 60_000, log: { level: ClickHouseLogLevel.OFF } });
  await ch().command({ query: `CREATE DATABASE ${database}` });
  server = httpServer(ch(), database);
});
afterAll(async () => {
  await ch().command({ query: `DROP DATABASE IF EXISTS ${database}` });
  await client.close();
});

describe('typed rows on ClickHouse 18.16', () => {
  it('is the 18.16 server, which has no RowBinaryWithDefaults', async () => {
    expect((await server.selectTsv('SELECT version()')).trim()).toMatch(/^18\.16\./);
    expect(await hasRowBinaryWithDefaults(server.query)).toBe(false);
  });

  for (const tc of CASES.filter((t) => t.cases.some((c) => c[1] !== undefined))) {
    it(`round-trips ${tc.type} as the server's JSONEachRow does`, async () => {
      await runTypeCases(server, tc, 't');
    });
  }

  it('gives an absent field the zero value, as 18.16 does despite DEFAULT expressions; never writes MATERIALIZED/ALIAS', async () => {
    const ddl = (t: string) => `CREATE TABLE ${database}.${t} (k UInt32, a UInt32 DEFAULT 7, b String DEFAULT concat('x', toString(k)),
      c DateTime DEFAULT now(), m UInt32 MATERIALIZED k + 1, al UInt32 ALIAS k + 2, e Enum8('b' = 2, 'a' = 1), n Nullable(UInt8) DEFAULT 3,
      f Float64, arr Array(UInt8) DEFAULT [1, 2], d Date, u UUID, fs FixedString(2), t Tuple(UInt8, String), de Decimal(9, 2)) ENGINE = MergeTree ORDER BY k`;
    await server.exec(ddl('dflt_bin'));
    await server.exec(ddl('dflt_json'));
    const info = await readTableColumns(server.query, database, 'dflt_bin');
    expect(info.serverTimezone).not.toBe('');
    const kinds = Object.fromEntries(info.columns.map((c) => [c.name, c.defaultKind]));
    expect(kinds).toMatchObject({ k: '', a: 'DEFAULT', m: 'MATERIALIZED', al: 'ALIAS' });
    const schema = tableSchema(info);
    expect(schema.columnNames).not.toContain('m');
    expect(schema.computed).toEqual(expect.arrayContaining(['m', 'al']));
    const lines = ['{"k":1}', '{"k":2,"a":5,"b":"q","e":"b","n":9,"f":2.5,"arr":[]}', '{"f":1,"k":3,"a":null}'];
    const w = new RowWriter();
    const decoder = new JsonDecoder(schema, { layout: 'RowBinary' });
    for (const l of lines) expect(decoder.decode(Buffer.from(l), w)).toMatchObject({ ok: true });
    // A field named like a MATERIALIZED column is skipped, and is not schema drift.
    expect(decoder.decode(Buffer.from('{"k":4,"m":100}'), w)).toMatchObject({ ok: true, unknown: [] });
    await server.insertBinary('dflt_bin', schema.columnNames, w.finish(), 'RowBinary');
    for (const l of lines) expect(await server.insertJson('dflt_json', l)).toBeUndefined();
    // 18.16 refuses a MATERIALIZED field in JSONEachRow; the same row without it:
    expect(await server.insertJson('dflt_json', '{"k":4,"m":100}')).toMatch(/Unknown field/);
    expect(await server.insertJson('dflt_json', '{"k":4}')).toBeUndefined();
    const sel = (t: string) => server.selectTsv(`SELECT *, m, al FROM ${database}.${t} ORDER BY k`);
    const got = await sel('dflt_bin');
    expect(got).toBe(await sel('dflt_json'));
    expect(got.split('\n')[0]).toMatch(/^1\t0\t\t0000-00-00 00:00:00\ta\t\\N\t0\t\[\]/);
  });

  it('takes Nested as n.x / n.y arrays and refuses a record whose arrays differ in length (the server would refuse the whole insert)', async () => {
    for (const t of ['nest_bin', 'nest_json']) {
      await server.exec(`CREATE TABLE ${database}.${t} (k UInt32, n Nested(x UInt8, y String)) ENGINE = MergeTree ORDER BY k`);
    }
    const schema = tableSchema(await readTableColumns(server.query, database, 'nest_bin'));
    expect(schema.columnNames).toEqual(['k', 'n.x', 'n.y']);
    const decoder = new JsonDecoder(schema, { layout: 'RowBinary' });
    const w = new RowWriter();
    const good = ['{"k":1,"n.x":[1,2],"n.y":["a","b"]}', '{"k":2}', '{"n.y":[],"k":3,"n.x":[]}'];
    for (const l of good) expect(decoder.decode(Buffer.from(l), w)).toMatchObject({ ok: true });
    const badLines = ['{"k":4,"n.x":[1,2],"n.y":["a"]}', '{"k":5,"n.x":[1]}'];
    for (const l of badLines) {
      expect(decoder.decode(Buffer.from(l), w)).toMatchObject({ ok: false, reason: expect.stringMatching(/different lengths/) });
      expect(await server.insertJson('nest_json', l)).toMatch(/different array sizes/);
    }
    // An array of objects under "n" is not how either server takes Nested: unknown field.
    expect(decoder.decode(Buffer.from('{"k":6,"n":[{"x":1,"y":"a"}]}'), w)).toMatchObject({ ok: true, unknown: ['n'] });
    expect(await server.insertJson('nest_json', '{"k":6,"n":[{"x":1,"y":"a"}]}')).toMatch(/Unknown field/);
    expect(await server.insertJson('nest_json', '{"k":6}')).toBeUndefined();
    await server.insertBinary('nest_bin', schema.columnNames, w.finish(), 'RowBinary');
    for (const l of good) expect(await server.insertJson('nest_json', l)).toBeUndefined();
    const sel = (t: string) => server.selectTsv(`SELECT * FROM ${database}.${t} ORDER BY k`);
    expect(await sel('nest_bin')).toBe(await sel('nest_json'));
  });

  it('reads a wide row whose keys come in another order than the columns, in one insert with other rows', async () => {
    const cols = 'ts DateTime, id UInt64, user_id UInt32, event_type String, country String, status UInt16, duration_ms UInt32, price Float64, score Float32, sku String, url String';
    for (const t of ['wide_bin', 'wide_json']) await server.exec(`CREATE TABLE ${database}.${t} (${cols}) ENGINE = MergeTree ORDER BY id`);
    const schema = tableSchema(await readTableColumns(server.query, database, 'wide_bin'));
    const decoder = new JsonDecoder(schema, { layout: 'RowBinary' });
    const w = new RowWriter(256);
    const lines: string[] = [];
    for (let i = 1; i <= 500; i++) {
      const o: Record<string, unknown> = { ts: `2024-06-01 00:${String(i % 60).padStart(2, '0')}:00`, id: i, user_id: i * 7, event_type: i % 3 ? 'click' : 'page_view',
        country: 'DE', status: 200, duration_ms: i * 3, price: i / 8, score: 0.5, sku: `SKU-${i}`, url: `https://ex.com/p/${i}?q=a+b` };
      // Every third record lists its keys backwards, every fifth drops one.
      const keys = Object.keys(o);
      if (i % 3 === 0) keys.reverse();
      if (i % 5 === 0) keys.splice(keys.indexOf('sku'), 1);
      lines.push(JSON.stringify(Object.fromEntries(keys.map((k) => [k, o[k]]))));
    }
    for (const l of lines) expect(decoder.decode(Buffer.from(l), w)).toMatchObject({ ok: true });
    await server.insertBinary('wide_bin', schema.columnNames, w.finish(), 'RowBinary');
    expect(await server.insertJson('wide_json', lines.join('\n'))).toBeUndefined();
    const sel = (t: string) => server.selectTsv(`SELECT * FROM ${database}.${t} ORDER BY id`);
    const a = await sel('wide_bin');
    expect(a.split('\n').filter(Boolean)).toHaveLength(500);
    expect(a).toBe(await sel('wide_json'));
  });
});
