/**
 * Kafka metadata columns on the typed-row path: the setting, which types
 * each field takes (a wrong one is refused naming the column), the bytes a
 * row gets (built here independently of the RowWriter), payload fields of
 * the same name ignored, determinism, both row layouts, records from a
 * fetched chunk and plain ones alike, and passthrough refusing such tables.
 */
import { describe, expect, it } from 'vitest';
import { typedEncoder } from '../../../src/formats/batch.js';
import { bindMetadata, DEFAULT_METADATA_COLUMNS_TEXT, headersJson, MetadataTypeError, parseMetadataColumns } from '../../../src/formats/metadata.js';
import { JsonDecoder } from '../../../src/formats/json.js';
import { TableEncoders } from '../../../src/formats/tables.js';
import type { RowLayout } from '../../../src/formats/decoder.js';
import { compactChunk, type RawMessage, type SourceRecord } from '../../../src/kafka/record.js';
import { ConfigError } from '../../../src/errors.js';
import { loadConfig } from '../../../src/config.js';
import { schemaOf } from './helpers.js';

const DEFAULTS = parseMetadataColumns(DEFAULT_METADATA_COLUMNS_TEXT);

// Independent RowBinary pieces.
const u8 = (n: number) => Buffer.from([n]);
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const i32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32LE(n); return b; };
const u64 = (n: number | bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };
const i64 = (n: number | bigint) => { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(n)); return b; };
const str = (s: string | Buffer) => { const b = Buffer.isBuffer(s) ? s : Buffer.from(s); return Buffer.concat([u8(b.length), b]); };

function encoderFor(columns: Array<[string, string]>, layout: RowLayout = 'RowBinary', names = DEFAULTS, strict = false) {
  const { payload, metadata } = bindMetadata(schemaOf(columns), names, layout === 'RowBinaryWithDefaults');
  return typedEncoder('t', new JsonDecoder(payload, { layout, strict }), 1, metadata);
}

const msg = (offset: number, timestamp: number, key: string | null, value: string, headers?: Record<string, unknown>): RawMessage => ({
  offset: String(offset), timestamp: String(timestamp), key: key === null ? null : Buffer.from(key), value: Buffer.from(value), ...(headers && { headers }),
});

const ORIGIN = { topic: 'orders', partition: 7 };

describe('SLUICE_METADATA_COLUMNS', () => {
  it('defaults to every field with its Kafka-engine-like name', () => {
    expect([...DEFAULTS]).toEqual([['topic', '_topic'], ['partition', '_partition'], ['offset', '_offset'], ['timestamp', '_timestamp'], ['key', '_key'], ['headers', '_headers']]);
    expect(loadConfig({ SLUICE_TOPICS: 'a', SLUICE_TABLE: 't' }).metadataColumns).toEqual(DEFAULTS);
  });

  it('takes a subset, other names, or none', () => {
    expect([...parseMetadataColumns(' offset:kafka_offset , partition:p ')]).toEqual([['offset', 'kafka_offset'], ['partition', 'p']]);
    expect(parseMetadataColumns('none').size).toBe(0);
    expect(loadConfig({ SLUICE_TOPICS: 'a', SLUICE_TABLE: 't', SLUICE_METADATA_COLUMNS: 'none' }).metadataColumns.size).toBe(0);
  });

  it('refuses unknown fields, missing names and repeats, naming the variable', () => {
    const bad = (v: string) => () => loadConfig({ SLUICE_TOPICS: 'a', SLUICE_TABLE: 't', SLUICE_METADATA_COLUMNS: v });
    expect(bad('offest:_offset')).toThrow(/SLUICE_METADATA_COLUMNS.*unknown field "offest"/);
    expect(bad('offset')).toThrow(/SLUICE_METADATA_COLUMNS.*names no column/);
    expect(bad('offset:a,offset:b')).toThrow(/SLUICE_METADATA_COLUMNS.*given twice/);
    expect(bad('offset:a,partition:a')).toThrow(/SLUICE_METADATA_COLUMNS.*two fields/);
    expect(bad(',')).toThrow(/SLUICE_METADATA_COLUMNS.*none/);
    expect(bad('offset:a')).not.toThrow();
  });
});

describe('types a metadata column takes', () => {
  const bind = (name: string, type: string) => () => bindMetadata(schemaOf([['v', 'UInt8'], [name, type]]), DEFAULTS, false);
  it.each([
    ['_topic', 'String'], ['_topic', 'LowCardinality(String)'],
    ['_partition', 'Int32'], ['_partition', 'UInt16'], ['_partition', 'Int64'],
    ['_offset', 'UInt64'], ['_offset', 'Int64'],
    ['_timestamp', 'DateTime'], ["_timestamp", "DateTime('Asia/Tokyo')"], ['_timestamp', 'DateTime64(3)'], ['_timestamp', 'DateTime64(6)'], ['_timestamp', 'DateTime64(9)'], ['_timestamp', 'DateTime64(0)'], ['_timestamp', 'Int64'], ['_timestamp', 'UInt64'],
    ['_key', 'String'], ['_key', 'Nullable(String)'], ['_key', 'LowCardinality(String)'], ['_key', 'LowCardinality(Nullable(String))'],
    ['_headers', 'Map(String, String)'], ['_headers', 'Array(Tuple(String, String))'], ['_headers', 'String'],
  ])('%s %s', (name, type) => {
    expect(bind(name, type)).not.toThrow();
  });

  it.each([
    ['_topic', 'UInt32', /must be String/], ['_topic', 'Nullable(String)', /must be String/],
    ['_partition', 'String', /integer/], ['_partition', 'Float64', /integer/],
    ['_offset', 'UInt32', /UInt64 or Int64/], ['_offset', 'String', /UInt64 or Int64/],
    ['_timestamp', 'UInt32', /64 bits/], ['_timestamp', 'Date', /DateTime/], ['_timestamp', 'String', /DateTime/],
    ['_key', 'UInt64', /Nullable\(String\)/], ['_key', 'FixedString(8)', /Nullable\(String\)/],
    ['_headers', 'Map(String, UInt8)', /Map\(String, String\)/], ['_headers', 'Array(String)', /Map\(String, String\)/], ['_headers', 'Array(Tuple(String, String, String))', /Map/],
  ])('refuses %s %s naming the column', (name, type, why) => {
    expect(bind(name, type)).toThrow(MetadataTypeError);
    expect(bind(name, type)).toThrow(new RegExp(`column ${name} .*is ${type.replace(/[()]/g, '\\$&')}; it must be`));
    expect(bind(name, type)).toThrow(why);
  });

  it('leaves a table without metadata columns alone', () => {
    const schema = schemaOf([['id', 'UInt8'], ['offset', 'UInt64']]);
    const bound = bindMetadata(schema, DEFAULTS, false);
    expect(bound.metadata).toBeUndefined();
    expect(bound.payload).toBe(schema);
  });
});

describe('rows with metadata', () => {
  const COLUMNS: Array<[string, string]> = [
    ['_topic', 'LowCardinality(String)'], ['id', 'UInt32'], ['_partition', 'Int32'], ['_offset', 'UInt64'],
    ['_timestamp', 'DateTime64(3)'], ['_key', 'Nullable(String)'], ['_headers', 'Map(String, String)'], ['s', 'String'],
  ];

  it('fills every metadata column from the record, after the payload columns', () => {
    const enc = encoderFor(COLUMNS);
    expect(enc.columns).toEqual(['id', 's', '_topic', '_partition', '_offset', '_timestamp', '_key', '_headers']);
    const records = compactChunk([
      msg(5_000_000_000, 1_764_300_000_123, 'user-1', '{"id":1,"s":"a"}', { tenant: Buffer.from('acme'), trace: [Buffer.from('x'), Buffer.from('y')] }),
      msg(6, 1_764_300_000_999, null, '{"s":"b","id":2}'),
    ]);
    const batch = enc.encode(records, ORIGIN);
    expect(batch.invalid).toEqual([]);
    const row1 = Buffer.concat([
      u32(1), str('a'), str('orders'), i32(7), u64(5_000_000_000), i64(1_764_300_000_123), u8(0), str('user-1'),
      u8(3), str('tenant'), str('acme'), str('trace'), str('x'), str('trace'), str('y'),
    ]);
    const row2 = Buffer.concat([u32(2), str('b'), str('orders'), i32(7), u64(6), i64(1_764_300_000_999), u8(1), u8(0)]);
    expect(Buffer.concat(batch.body(0, 2)).toString('hex')).toBe(Buffer.concat([row1, row2]).toString('hex'));
    expect(Buffer.concat(batch.body(1, 2)).toString('hex')).toBe(row2.toString('hex'));
  });

  it('gives the same bytes for the same records, from a chunk or as plain records', () => {
    const raw = [msg(10, 1_700_000_000_000, 'k', '{"id":3,"s":"x"}', { a: Buffer.from('1') }), msg(11, 1_700_000_000_001, null, '{"id":4}')];
    const plain: SourceRecord[] = raw.map((m) => ({ offset: Number(m.offset), timestamp: Number(m.timestamp), key: m.key, value: m.value, headers: m.headers }));
    const a = Buffer.concat(encoderFor(COLUMNS).encode(compactChunk(raw), ORIGIN).body(0, 2));
    const b = Buffer.concat(encoderFor(COLUMNS).encode(compactChunk(raw), ORIGIN).body(0, 2));
    const c = Buffer.concat(encoderFor(COLUMNS).encode(plain, ORIGIN).body(0, 2));
    expect(b.equals(a)).toBe(true);
    expect(c.equals(a)).toBe(true);
    // And another partition's record at the same offset is another row.
    expect(Buffer.concat(encoderFor(COLUMNS).encode(compactChunk(raw), { topic: 'orders', partition: 8 }).body(0, 2)).equals(a)).toBe(false);
  });

  it('ignores a payload field named like a metadata column, in strict mode too', () => {
    for (const strict of [false, true]) {
      const batch = encoderFor([['id', 'UInt8'], ['_offset', 'UInt64']], 'RowBinary', DEFAULTS, strict).encode(compactChunk([msg(42, 0, null, '{"_offset":999,"id":1}')]), ORIGIN);
      expect(batch.invalid).toEqual([]);
      expect(batch.unknown.size).toBe(0);
      expect(Buffer.concat(batch.body(0, 1)).toString('hex')).toBe(Buffer.concat([u8(1), u64(42)]).toString('hex'));
    }
  });

  it('fills a field left out of the setting from the payload', () => {
    const names = parseMetadataColumns('partition:_partition');
    const batch = encoderFor([['_offset', 'UInt64'], ['_partition', 'UInt8']], 'RowBinary', names).encode(compactChunk([msg(42, 0, null, '{"_offset":999}')]), ORIGIN);
    expect(Buffer.concat(batch.body(0, 1)).toString('hex')).toBe(Buffer.concat([u64(999), u8(7)]).toString('hex'));
  });

  it('writes each metadata column with its 0 prefix under RowBinaryWithDefaults', () => {
    const batch = encoderFor([['id', 'UInt8'], ['_partition', 'UInt16'], ['_key', 'String']], 'RowBinaryWithDefaults').encode(compactChunk([msg(1, 0, null, '{"id":5}')]), ORIGIN);
    expect(Buffer.concat(batch.body(0, 1)).toString('hex')).toBe(Buffer.concat([u8(0), u8(5), u8(0), Buffer.from([7, 0]), u8(0), str('')]).toString('hex'));
  });

  it('converts the timestamp to the column: DateTime seconds, DateTime64 ticks, integer milliseconds', () => {
    const ts = 1_764_300_000_987;
    const cases: Array<[string, Buffer]> = [
      ['DateTime', u32(1_764_300_000)],
      ['DateTime64(0)', i64(1_764_300_000)],
      ['DateTime64(1)', i64(17_643_000_009)],
      ['DateTime64(3)', i64(ts)],
      ['DateTime64(6)', i64(ts * 1000)],
      ['DateTime64(9)', i64(BigInt(ts) * 1_000_000n)],
      ['UInt64', u64(ts)],
      ['Int64', i64(ts)],
    ];
    for (const [type, want] of cases) {
      const batch = encoderFor([['id', 'UInt8'], ['_timestamp', type]]).encode(compactChunk([msg(1, ts, null, '{"id":1}')]), ORIGIN);
      expect(Buffer.concat(batch.body(0, 1)).subarray(1).toString('hex'), type).toBe(want.toString('hex'));
    }
  });

  it('writes headers as pairs for Array(Tuple(String, String)) and as JSON for String', () => {
    const headers = { b: Buffer.from('2'), a: [Buffer.from('x'), Buffer.from('y')] };
    const pairs = encoderFor([['id', 'UInt8'], ['_headers', 'Array(Tuple(String, String))']]).encode(compactChunk([msg(1, 0, null, '{"id":1}', headers)]), ORIGIN);
    expect(Buffer.concat(pairs.body(0, 1)).toString('hex')).toBe(Buffer.concat([u8(1), u8(3), str('b'), str('2'), str('a'), str('x'), str('a'), str('y')]).toString('hex'));
    const json = encoderFor([['id', 'UInt8'], ['_headers', 'String']]).encode(compactChunk([msg(1, 0, null, '{"id":1}', headers), msg(2, 0, null, '{"id":2}')]), ORIGIN);
    expect(Buffer.concat(json.body(0, 2)).toString('hex')).toBe(Buffer.concat([u8(1), str('{"b":"2","a":["x","y"]}'), u8(2), str('{}')]).toString('hex'));
    expect(JSON.parse(headersJson({ t: Buffer.from('ü') }))).toEqual({ t: 'ü' });
  });

  it('writes headers as two parallel arrays for <h>.name/<h>.value (Nested, the Kafka engine\'s form) and <h>.1/<h>.2 (18.16\'s Array(Tuple))', () => {
    const headers = { b: Buffer.from('2'), a: [Buffer.from('x'), Buffer.from('y')] };
    const names = Buffer.concat([u8(3), str('b'), str('a'), str('a')]);
    const values = Buffer.concat([u8(3), str('2'), str('x'), str('y')]);
    for (const [n, v] of [['_headers.name', '_headers.value'], ['_headers.1', '_headers.2']] as const) {
      const enc = encoderFor([['id', 'UInt8'], [v, 'Array(String)'], [n, 'Array(LowCardinality(String))']]);
      expect(enc.columns).toEqual(['id', v, n]);
      const batch = enc.encode(compactChunk([msg(1, 0, null, '{"id":1}', headers), msg(2, 0, null, '{"id":2}')]), ORIGIN);
      expect(Buffer.concat(batch.body(0, 2)).toString('hex')).toBe(Buffer.concat([u8(1), values, names, u8(2), u8(0), u8(0)]).toString('hex'));
    }
    // A column named _headers itself takes precedence; other dotted names stay payload columns.
    expect(encoderFor([['_headers', 'String'], ['_headers.name', 'Array(String)']]).columns).toEqual(['_headers.name', '_headers']);
    expect(() => encoderFor([['id', 'UInt8'], ['_headers.name', 'Array(UInt8)']])).toThrow(/column _headers.name \(Kafka headers\) is Array\(UInt8\); it must be Array\(String\)/);
  });

  it('a value a narrow column cannot hold makes that record invalid, by itself, naming the column', () => {
    const enc = encoderFor([['id', 'UInt8'], ['_partition', 'UInt8']]);
    const records = compactChunk([msg(1, 0, null, '{"id":1}'), msg(2, 0, null, '{"id":2}')]);
    const ok = enc.encode(records, { topic: 't', partition: 255 });
    expect(ok.invalid).toEqual([]);
    const batch = enc.encode(records, { topic: 't', partition: 300 });
    expect(batch.rows).toEqual([]);
    expect(batch.bytes).toBe(0);
    expect(batch.invalid.map((i) => [i.record.offset, i.column, i.unknownField])).toEqual([[1, '_partition', false], [2, '_partition', false]]);
    expect(batch.invalid[0]!.reason).toMatch(/300/);
  });

  it('takes a per-record origin (replay: the dead letter\'s source record)', () => {
    const enc = encoderFor([['id', 'UInt8'], ['_topic', 'String'], ['_partition', 'Int32'], ['_offset', 'UInt64'], ['_key', 'Nullable(String)']]);
    const records = compactChunk([msg(900, 0, 'k', '{"id":1}')]);
    const batch = enc.encode(records, (r) => ({ topic: 'src', partition: 2, offset: 41, timestamp: 0, key: r.key, headers: undefined }));
    expect(Buffer.concat(batch.body(0, 1)).toString('hex')).toBe(Buffer.concat([u8(1), str('src'), i32(2), u64(41), u8(0), str('k')]).toString('hex'));
  });
});

describe('passthrough', () => {
  const query = (columns: Array<[string, string]>) => async (sql: string) =>
    sql.includes('system.columns') ? columns.map(([name, type]) => ({ name, type, default_kind: '', default_expression: '' })) : [{ tz: 'UTC', version: '18.16.1' }];

  it('refuses at start-up a table with a metadata column it cannot fill', async () => {
    const enc = new TableEncoders({ database: 'db', tables: ['t'], mode: 'passthrough', strict: false, query: query([['id', 'UInt8'], ['_offset', 'UInt64']]) });
    const err = await enc.load().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(String((err as Error).message)).toMatch(/SLUICE_INSERT_FORMAT.*db\.t has Kafka metadata column\(s\) _offset.*SLUICE_METADATA_COLUMNS=none/);
  });

  it('starts when the table has none, or with SLUICE_METADATA_COLUMNS=none', async () => {
    await new TableEncoders({ database: 'db', tables: ['t'], mode: 'passthrough', strict: false, query: query([['id', 'UInt8']]) }).load();
    await new TableEncoders({ database: 'db', tables: ['t'], mode: 'passthrough', strict: false, metadata: parseMetadataColumns('none'), query: query([['_offset', 'UInt64']]) }).load();
  });

  it('typed: a wrong metadata type is a ConfigError naming the table and column', async () => {
    const enc = new TableEncoders({ database: 'db', tables: ['t'], mode: 'typed', strict: false, query: query([['id', 'UInt8'], ['_offset', 'String']]) });
    await expect(enc.load()).rejects.toThrow(/SLUICE_METADATA_COLUMNS.*table db\.t: column _offset \(Kafka offset\) is String; it must be UInt64 or Int64/);
  });
});
