/**
 * The typed-row conventions, as one table of cases run against the real
 * servers (typed-roundtrip.test.ts: ClickHouse 18.16 over HTTP;
 * typed-chdb.test.ts: the 26.x engine in chdb).
 *
 * Each case is a column type and a JSON value, with what each server's own
 * JSONEachRow does with it and what sluice does:
 *   's'        both take it and store the same value (compared as TSV
 *              between a RowBinary table fed by sluice and a twin fed by
 *              the server's JSONEachRow)
 *   'x'        both refuse it (the server's insert fails; sluice: bad record)
 *   'R'        the server stores something silently wrong (300 in a UInt8
 *              as 44, 2024-02-30 as 03-01, a truncated decimal): sluice refuses
 *   { v }      sluice stores v (TSV) where the server refuses the value or
 *              stores another one: the documented choice of convention
 * A server column of `undefined` means that server lacks the type.
 */
import { Readable } from 'node:stream';
import type { ClickHouseClient } from '@clickhouse/client';
import { expect } from 'vitest';
import { readTableColumns, type QueryRows } from '../../src/clickhouse/schema.js';
import { tableSchema, type RowLayout } from '../../src/formats/decoder.js';
import { JsonDecoder } from '../../src/formats/json.js';
import { RowWriter } from '../../src/formats/row-writer.js';

export type Expect = 's' | 'x' | 'R' | { v: string };
/** [json value, on 18.16, on 26.x] */
export type Case = readonly [string, Expect | undefined, Expect | undefined];
export interface TypeCases {
  readonly type: string;
  readonly cases: readonly Case[];
  /** Settings for the CREATE on 18.16 (its LowCardinality is experimental). */
  readonly settings18?: Record<string, number>;
}

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

export const CASES: readonly TypeCases[] = [
  { type: 'UInt8', cases: [
    ['42', 's', 's'], ['"42"', 's', 's'], ['0', 's', 's'], ['255', 's', 's'], ['42.5', 'x', 'x'], ['"42.5"', 'x', 'x'],
    ['300', 'R', 'R'], ['-1', 'x', 'x'], ['true', 's', 's'], ['false', 's', 's'], ['null', 's', 's'], ['"abc"', 'x', 'x'],
    ['""', 's', 's'], ['1e2', 'x', 'x'], ['"1e2"', 'x', 'x'], ['" 42"', 'x', 'x'], ['"42 "', 'x', 'x'], ['[1]', 'x', 'x'], ['{}', 'x', 'x'],
  ] },
  { type: 'Int8', cases: [['-128', 's', 's'], ['127', 's', 's'], ['128', 'R', 'R'], ['"-5"', 's', 's']] },
  { type: 'UInt16', cases: [['65535', 's', 's'], ['65536', 'R', 'R']] },
  { type: 'Int16', cases: [['-32768', 's', 's'], ['32768', 'R', 'R']] },
  { type: 'UInt32', cases: [['4294967295', 's', 's'], ['4294967296', 'R', 'R'], ['"123"', 's', 's']] },
  { type: 'Int32', cases: [['-2147483648', 's', 's'], ['2147483648', 'R', 'R']] },
  { type: 'Int64', cases: [
    ['9223372036854775807', 's', 's'], ['9223372036854775808', 'R', 'R'], ['-9223372036854775808', 's', 's'], ['-9223372036854775809', 'R', 'R'],
    ['"9223372036854775807"', 's', 's'], ['1.0', 'x', 'x'], ['-0', 's', 's'], ['12345678901234567', 's', 's'], ['-4294967296', 's', 's'], ['-1', 's', 's'],
    ['1717245296123456789', 's', 's'], ['-1717245296123456789', 's', 's'], ['"-9223372036854775808"', 's', 's'],
  ] },
  { type: 'UInt64', cases: [
    ['18446744073709551615', 's', 's'], ['18446744073709551616', 'R', 'R'], ['-1', 'x', 'x'], ['99999999999999999999999', 'R', 'R'], ['4294967296', 's', 's'],
  ] },
  { type: 'Float64', cases: [
    ['1.5', 's', 's'], ['"1.5"', 's', 's'], ['-0.0', 's', 's'], ['1e308', 's', 's'], ['1e400', 's', 's'], ['"nan"', 's', 's'], ['"NaN"', 's', 's'],
    ['"inf"', 's', 's'], ['"-inf"', 's', 's'], ['"Infinity"', 's', 's'], ['true', { v: '1' }, 's'], ['null', { v: '0' }, 's'], ['""', 'R', 'x'],
    ['"abc"', 'x', 'x'], ['"+1"', { v: '1' }, 's'], ['0.1', 's', 's'], ['123456789012345678901234567890', 's', 's'],     ['0.30000000000000004', 's', 's'], ['1.7976931348623157e308', 's', 's'], 
    // 18.16's float parser is not correctly rounded (an ulp off here, and it flushes the subnormal to 0);
    // sluice stores the correctly rounded double, as 26.x does.
    ['-123.456e-7', { v: '-0.0000123456' }, 's'], ['5e-324', { v: '5e-324' }, 's'],
  ] },
  { type: 'Float32', cases: [['0.1', 's', 's'], ['3.4028235e38', 's', 's'], ['1e39', 's', 's'], ['1e-50', 's', 's'], ['16777217', 's', 's'], ['0.1234', 's', 's']] },
  { type: 'Decimal(9, 2)', cases: [
    ['1.23', 's', 's'], ['-1.5', 's', 's'], ['1.234', 'x', 'R'], ['-1.235', 'x', 'R'], ['"1.23"', { v: '1.23' }, 's'], ['1e2', 's', 's'],
    ['12345678.9', 'x', 'x'], ['1234567.89', 's', 's'], ['9999999.999', 'x', 'R'], ['"abc"', 'x', 'x'], ['true', 'x', 'x'],
    ['null', { v: '0.00' }, 's'], ['0.1e1', 's', 's'], ['""', { v: '0.00' }, 's'], ['-9999999.99', 's', 's'],
  ] },
  { type: 'Decimal(18, 4)', cases: [['922337203685.4775', 's', 's'], ['-0.0001', 's', 's'], ['1.23456', 'x', 'R'], ['1e-5', 'x', 'R']] },
  { type: 'Decimal(38, 10)', cases: [['12345678901234567890.1234567891', 's', 's'], ['-0.0000000001', 's', 's']] },
  { type: 'String', cases: [
    ['"abc"', 's', 's'], ['"a\\u00e9\\ud83d\\ude00"', 's', 's'], ['"\\ud800"', 'x', 'x'], ['"tab\\there"', 's', 's'], ['"q\\"uote\\\\back\\/"', 's', 's'],
    ['"ünïcödé"', 's', 's'], ['""', 's', 's'], ['42', { v: '42' }, 's'], ['true', { v: 'true' }, 's'], ['null', { v: '' }, 's'], ['[1]', { v: '[1]' }, 's'],
    ['{"a":1}', { v: '{"a":1}' }, 's'], ['1.50', { v: '1.50' }, 's'], [`"${'x'.repeat(300)}"`, 's', 's'], [`"${'\\n'.repeat(200)}"`, 's', 's'],
  ] },
  { type: 'FixedString(4)', cases: [['"ab"', 's', 's'], ['"abcd"', 's', 's'], ['"abcde"', 'x', 'x'], ['"é"', 's', 's']] },
  { type: 'UUID', cases: [
    ['"61f0c404-5cb3-11e7-907b-a6006ad3dba0"', 's', 's'], ['"61F0C404-5CB3-11E7-907B-A6006AD3DBA0"', 's', 's'],
    ['"61f0c4045cb311e7907ba6006ad3dba0"', { v: '61f0c404-5cb3-11e7-907b-a6006ad3dba0' }, 's'], ['""', 'x', 'x'], ['null', { v: ZERO_UUID }, 's'], ['"zz"', 'x', 'x'],
  ] },
  { type: 'Date', cases: [
    ['"2024-06-01"', 's', 's'], ['"2024-6-1"', 's', 's'], ['"2024/06/01"', 's', 's'], ['19875', { v: '2024-06-01' }, 's'], ['"19875"', 'x', 'x'],
    ['"2024-06-01 12:00:00"', 'x', 'x'], ['"1969-12-31"', 'R', 'R'], ['"2150-01-01"', 'R', 'R'], ['"2024-02-30"', 'R', 'R'], ['"2024-13-01"', 'R', 'R'],
    ['""', 'x', 'x'], ['null', { v: '0000-00-00' }, 's'], ['"0000-00-00"', 's', 's'], ['"20240601"', { v: '2024-06-01' }, 's'],
    ['"1970-01-01"', 's', 's'], ['"2024-02-29"', 's', 's'], ['"2023-02-29"', 'R', 'R'],
    // 18.16's date tables end in 2105 (it stores 2106-01-01 as 0000-00-00 and shows larger day numbers as 1970-01-01);
    // 26.x's Date ends on 2149-06-06.
    ['"2105-12-31"', 's', 's'], ['"2106-01-01"', 'R', 's'], ['"2149-06-06"', 'R', 's'],
  ] },
  { type: 'DateTime', cases: [
    ['"2024-06-01 12:34:56"', 's', 's'], ['1717245296', 's', 's'], ['"1717245296"', 's', 's'], ['"2024-06-01T12:34:56"', 's', 's'],
    ['"2024-06-01T12:34:56Z"', { v: '2024-06-01 12:34:56' }, 's'], ['"2024-06-01"', { v: '2024-06-01 00:00:00' }, 's'],
    ['"2024-06-01 12:34:56.789"', { v: '2024-06-01 12:34:56' }, 's'], ['"2024-06-01T12:34:56+02:00"', { v: '2024-06-01 10:34:56' }, 's'],
    ['"2024-06-01 25:00:00"', 'R', 'R'], ['"1960-01-01 00:00:00"', 'R', 'R'], ['"2200-01-01 00:00:00"', 'R', 'R'],
    ['null', { v: '0000-00-00 00:00:00' }, 's'], ['""', 'x', 'x'], ['1717245296.5', 'x', 'x'], ['-1', 'R', 'R'], ['4294967296', 'R', 'R'],
    ['"0000-00-00 00:00:00"', 's', { v: '1970-01-01 00:00:00' }], ['"2105-12-31 23:59:59"', 's', 's'],
    // The last second of DateTime: 18.16 shows it as 1970-01-01 06:28:15 (its date tables end in 2105), so sluice refuses it there.
    ['4294967295', 'R', 's'], ['"2106-01-01 00:00:00"', 'R', 's'],
  ] },
  { type: "DateTime('Asia/Tokyo')", cases: [
    ['"2024-06-01 12:34:56"', 's', 's'], ['1717245296', 's', 's'], ['"2024-06-01T12:34:56Z"', { v: '2024-06-01 21:34:56' }, 's'],
    ['"2024-06-01 12:34:56+02:00"', { v: '2024-06-01 19:34:56' }, 's'],
  ] },
  { type: "DateTime('America/New_York')", cases: [
    ['"2024-07-01 12:00:00"', 's', 's'], ['"2024-01-15 08:00:00"', 's', 's'],
    // A wall-clock time in the spring-forward gap, and one in the autumn overlap (two instants).
    ['"2024-03-10 02:30:00"', 's', 's'], ['"2024-11-03 01:30:00"', 's', 's'], ['"2024-11-03 00:59:59"', 's', 's'], ['"2024-11-03 02:00:00"', 's', 's'],
  ] },
  { type: "Enum8('a' = 1, 'b' = -2, 'it\\'s' = 3)", cases: [
    ['"a"', 's', 's'], ['"b"', 's', 's'], ['"it\'s"', 's', 's'], ['"c"', 'x', 'x'], ['1', { v: 'a' }, 's'], ['"1"', { v: 'a' }, 's'],
    ['-2', { v: 'b' }, 's'], ['5', 'x', 'x'], ['""', 'x', 'x'],
    // null: 18.16 refuses it; 26.x stores the invalid value 0 (null as the column's raw default) and the table
    // then fails every read, so it is not run there. sluice stores the smallest element, what an omitted field gets.
    ['null', { v: 'b' }, undefined],
  ] },
  { type: "Enum16('x' = 1000, 'y' = -1000)", cases: [['"x"', 's', 's'], ['"y"', 's', 's'], ['"z"', 'x', 'x']] },
  { type: 'Nullable(UInt8)', cases: [['null', 's', 's'], ['1', 's', 's'], ['""', 's', 's'], ['"null"', 'x', 'x'], ['"NULL"', 'x', 'x'], ['300', 'R', 'R']] },
  { type: 'Nullable(String)', cases: [['null', 's', 's'], ['"x"', 's', 's'], ['"null"', 's', 's']] },
  { type: 'Array(UInt8)', cases: [
    ['[1,2]', 's', 's'], ['[]', 's', 's'], ['null', { v: '[]' }, 's'], ['"[1,2]"', 'x', 'x'], ['[1,null]', 's', 's'], ['[[1]]', 'x', 'x'],
    ['[1,300]', 'R', 'R'], [`[${Array.from({ length: 200 }, (_, i) => i % 256).join(',')}]`, 's', 's'],
  ] },
  { type: 'Array(Nullable(String))', cases: [['["a",null,"b\\"c"]', 's', 's'], ['[]', 's', 's']] },
  { type: 'Array(Array(Int32))', cases: [['[[1,2],[],[-3]]', 's', 's'], ['[]', 's', 's'], ['[[1],2]', 'x', 'x']] },
  { type: 'Tuple(UInt8, String)', cases: [
    ['[1,"a"]', 's', 's'], ['{"1":1,"2":"a"}', 'x', 'x'], ['[1]', 'x', 'x'], ['[1,"a",2]', 'x', 'x'], ['null', { v: "(0,'')" }, 's'],
  ] },
  { type: 'LowCardinality(String)', settings18: { allow_experimental_low_cardinality_type: 1 }, cases: [['"x"', 's', 's'], ['"y"', 's', 's']] },
  // 26.x only from here.
  { type: 'Bool', cases: [
    ['true', undefined, 's'], ['false', undefined, 's'], ['1', undefined, 's'], ['0', undefined, 's'], ['2', undefined, 'x'],
    ['"true"', undefined, 'x'], ['"1"', undefined, 'x'], ['null', undefined, 's'], ['""', undefined, 'x'],
  ] },
  { type: 'Date32', cases: [
    ['"1900-01-01"', undefined, 's'], ['"1899-12-31"', undefined, 'R'], ['"2299-12-31"', undefined, 's'], ['"2300-01-01"', undefined, 'R'],
    ['-25567', undefined, 's'], ['"1969-12-31"', undefined, 's'],
  ] },
  { type: 'DateTime64(3)', cases: [
    ['"2024-06-01 12:34:56.789"', undefined, 's'], ['"2024-06-01 12:34:56.7891"', undefined, 's'], ['"2024-06-01 12:34:56"', undefined, 's'],
    ['1717245296789', undefined, 's'], ['1717245296.789', undefined, 'x'], ['"1717245296.789"', undefined, 's'], ['"1717245296789"', undefined, 's'],
    ['"1900-01-01 00:00:00"', undefined, 's'], ['"1899-12-31 23:59:59"', undefined, 'R'], ['"2024-06-01T12:34:56.789Z"', undefined, 's'],
    ['"2024-06-01T12:34:56.789+02:00"', undefined, 's'], ['"1969-07-20 20:17:40.5"', undefined, 's'],
  ] },
  { type: "DateTime64(6, 'Asia/Tokyo')", cases: [['"2024-06-01 12:34:56.123456"', undefined, 's'], ['1717245296.123456', undefined, 'x']] },
  { type: 'DateTime64(9)', cases: [['"2262-01-01 00:00:00.123456789"', undefined, 's'], ['"2024-06-01 12:34:56.123456789"', undefined, 's']] },
  { type: 'IPv4', cases: [
    ['"1.2.3.4"', undefined, 's'], ['16909060', undefined, 'x'], ['"16909060"', undefined, 'x'], ['"1.2.3"', undefined, 'x'],
    ['"256.1.1.1"', undefined, 'x'], ['"::1"', undefined, 'x'], ['null', undefined, 's'], ['"255.255.255.255"', undefined, 's'],
  ] },
  { type: 'IPv6', cases: [
    ['"::1"', undefined, 's'], ['"2001:db8::1"', undefined, 's'], ['"1.2.3.4"', undefined, 's'], ['"::ffff:1.2.3.4"', undefined, 's'],
    ['"zz"', undefined, 'x'], ['"20010db8000000000000000000000001"', undefined, 'x'], ['"fe80::1:2:3:4"', undefined, 's'], ['"1:2:3:4:5:6:7:8"', undefined, 's'],
  ] },
  { type: 'Int128', cases: [
    ['170141183460469231731687303715884105727', undefined, 's'], ['"-170141183460469231731687303715884105728"', undefined, 's'],
    ['170141183460469231731687303715884105728', undefined, 'R'], ['-5', undefined, 's'],
  ] },
  { type: 'UInt256', cases: [['115792089237316195423570985008687907853269984665640564039457584007913129639935', undefined, 's'], ['1', undefined, 's']] },
  { type: 'Int256', cases: [['-57896044618658097711785492504343953926634992332820282019728792003956564819968', undefined, 's']] },
  { type: 'Map(String, UInt8)', cases: [
    ['{"a":1,"b":2}', undefined, 's'], ['{}', undefined, 's'], ['null', undefined, 's'], ['{"a":1,"a":2}', undefined, 's'], ['[["a",1]]', undefined, 'x'],
  ] },
  { type: 'Map(UInt8, String)', cases: [['{"1":"x"}', undefined, 's'], ['{"x":"y"}', undefined, 'x']] },
  { type: 'Tuple(a UInt8, b String)', cases: [
    ['{"a":1,"b":"x"}', undefined, 's'], ['[1,"x"]', undefined, { v: "(1,'x')" }], ['{"b":"x"}', undefined, 's'], ['{"b":"x","a":1,"c":1}', undefined, 's'],
  ] },
  { type: 'LowCardinality(Nullable(String))', cases: [['"x"', undefined, 's'], ['null', undefined, 's']] },
  { type: 'Decimal(40, 5)', cases: [['123456789012345678901234567890.12345', undefined, 's'], ['"-1.5"', undefined, 's']] },
  { type: 'Nullable(DateTime64(3))', cases: [['null', undefined, 's'], ['"2024-06-01 12:34:56.789"', undefined, 's']] },
  { type: 'Array(Map(String, Array(Nullable(Int32))))', cases: [['[{"a":[1,null]},{}]', undefined, 's']] },
];

/** What a round trip needs from one server. */
export interface Server {
  readonly which: '18' | '26';
  exec(sql: string, settings?: Record<string, string | number>): Promise<void>;
  /** One JSONEachRow insert of `line`; resolves with the server's error message, or undefined if it took the row. */
  insertJson(table: string, line: string): Promise<string | undefined>;
  insertBinary(table: string, columns: readonly string[], body: Buffer, layout: RowLayout): Promise<void>;
  selectTsv(sql: string): Promise<string>;
  query: QueryRows;
  database: string;
}

/** A Server over HTTP with @clickhouse/client (what the writer will use: exec with a body stream). */
export function httpServer(client: ClickHouseClient, database: string): Server {
  const drain = async (r: { stream: NodeJS.ReadableStream }) => {
    for await (const _ of r.stream) void _;
  };
  return {
    which: '18',
    database,
    async exec(sql, settings) { await client.command({ query: sql, clickhouse_settings: settings }); },
    async insertJson(table, line) {
      try {
        await drain(await client.exec({ query: `INSERT INTO ${database}.${table} FORMAT JSONEachRow`, values: Readable.from([Buffer.from(line)]) }));
        return undefined;
      } catch (err) {
        return String((err as Error).message);
      }
    },
    async insertBinary(table, columns, body, layout) {
      await drain(await client.exec({ query: `INSERT INTO ${database}.${table} (${columns.map((c) => '`' + c + '`').join(', ')}) FORMAT ${layout}`, values: Readable.from([body]) }));
    },
    async selectTsv(sql) { return (await client.query({ query: sql, format: 'TabSeparated' })).text(); },
    async query(sql) { return (await client.query({ query: sql, format: 'JSONEachRow' })).json<Record<string, unknown>>(); },
  };
}

const tableSafe = (s: string) => s.replace(/[^A-Za-z0-9]+/g, '_').replace(/_+$/, '').toLowerCase();

/**
 * Runs every case of `tc` on `server`: a table fed by sluice's RowBinary
 * and its twin fed by the server's JSONEachRow, one row per case, then
 * checks each case against its expectation.
 */
export async function runTypeCases(server: Server, tc: TypeCases, prefix: string): Promise<void> {
  const col = server.which === '18' ? 1 : 2;
  const cases = tc.cases.filter((c) => c[col] !== undefined);
  if (cases.length === 0) return;
  const base = `${prefix}_${tableSafe(tc.type)}`.slice(0, 80);
  for (const t of [`${base}_bin`, `${base}_json`]) {
    await server.exec(`CREATE TABLE ${server.database}.${t} (k UInt32, v ${tc.type}) ENGINE = MergeTree ORDER BY k`, server.which === '18' ? tc.settings18 : undefined);
  }
  const schema = tableSchema(await readTableColumns(server.query, server.database, `${base}_bin`));
  const decoder = new JsonDecoder(schema, { layout: 'RowBinary' });
  const w = new RowWriter();
  const ours = new Map<number, boolean>();
  const theirs = new Map<number, string | undefined>();
  const reasons = new Map<number, string>();
  for (let i = 0; i < cases.length; i++) {
    const line = `{"k":${i},"v":${cases[i]![0]}}`;
    const r = decoder.decode(Buffer.from(line), w);
    ours.set(i, r.ok);
    if (!r.ok) reasons.set(i, `${r.column}: ${r.reason}`);
    theirs.set(i, await server.insertJson(`${base}_json`, line));
  }
  if (w.pos > 0) await server.insertBinary(`${base}_bin`, schema.columnNames, w.finish(), 'RowBinary');
  const rows = async (t: string) => new Map((await server.selectTsv(`SELECT k, v FROM ${server.database}.${t} ORDER BY k`))
    .split('\n').filter(Boolean).map((l) => { const tab = l.indexOf('\t'); return [Number(l.slice(0, tab)), l.slice(tab + 1)] as const; }));
  const bin = await rows(`${base}_bin`);
  const json = await rows(`${base}_json`);
  for (let i = 0; i < cases.length; i++) {
    const [value, ...exp] = cases[i]!;
    const e = exp[col - 1]!;
    const what = `${tc.type} ← ${value.length > 60 ? value.slice(0, 60) + '…' : value} on ${server.which === '18' ? '18.16' : '26.x'}`;
    const serverTook = theirs.get(i) === undefined;
    if (e === 's') {
      expect(serverTook, `${what}: the server refused it: ${theirs.get(i)}`).toBe(true);
      expect(ours.get(i), `${what}: sluice refused it: ${reasons.get(i)}`).toBe(true);
      expect(bin.get(i), `${what}: stored value`).toBe(json.get(i));
    } else if (e === 'x') {
      expect(serverTook, `${what}: the server took it as ${json.get(i)}`).toBe(false);
      expect(ours.get(i), `${what}: sluice took it as ${bin.get(i)}`).toBe(false);
    } else if (e === 'R') {
      expect(serverTook, `${what}: the server refused it: ${theirs.get(i)}`).toBe(true);
      expect(ours.get(i), `${what}: sluice took it as ${bin.get(i)}`).toBe(false);
    } else {
      expect(ours.get(i), `${what}: sluice refused it: ${reasons.get(i)}`).toBe(true);
      expect(bin.get(i), `${what}: stored value`).toBe(e.v);
      // The documented choice differs from the server's own JSONEachRow: make sure it does.
      if (serverTook) expect(json.get(i), `${what}: the server now agrees with sluice; make it an 's' case`).not.toBe(e.v);
    }
  }
}
