/**
 * Avro and Protobuf records into typed rows (record-format.ts, mapping.ts):
 * the bytes a decoded record writes are the bytes writeValues writes for the
 * values the README's type table promises. The registry is preset (no
 * network here); test/integration/schema-registry.test.ts runs it for real.
 */
import avro from 'avsc';
import protobuf from 'protobufjs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeValues, type TableSchema } from '../../../src/formats/decoder.js';
import { createRecordFormat, type FormatName, type RecordFormat } from '../../../src/formats/record-format.js';
import type { RegistrySchema, SchemaType } from '../../../src/formats/registry.js';
import { RowWriter } from '../../../src/formats/row-writer.js';
import { frame } from '../../../src/formats/wire.js';
import { schemaOf } from './helpers.js';

function registryFormat(format: FormatName, schemas: Record<number, { type: SchemaType; schema: string; imports?: Record<string, string> } | null>): RecordFormat {
  const f = createRecordFormat({ format, registry: { url: 'http://127.0.0.1:9' }, protobufFiles: [], protobufMessage: undefined });
  const map = (f as unknown as { schemas: Map<number, RegistrySchema | null> }).schemas;
  for (const [id, s] of Object.entries(schemas)) map.set(Number(id), s && { id: Number(id), type: s.type, schema: s.schema, imports: new Map(Object.entries(s.imports ?? {})) });
  return f;
}

function expected(schema: TableSchema, values: unknown[]): string {
  const w = new RowWriter(64);
  const r = writeValues(schema, 'RowBinary', values, w);
  if (!r.ok) throw new Error(r.reason);
  return w.finish().toString('hex');
}

function decode(f: RecordFormat, schema: TableSchema, value: Buffer): string {
  const w = new RowWriter(64);
  const r = f.decoder(schema, 'RowBinary', false).decode(value, w);
  if (!r.ok) return `refused: ${r.column ?? ''} ${r.reason}`;
  return w.finish().toString('hex');
}

const AVRO = {
  type: 'record', name: 'Ev', namespace: 'shop', fields: [
    { name: 'id', type: 'long' },
    { name: 'big', type: 'long' },
    { name: 'i', type: 'int' },
    { name: 'f', type: 'float' },
    { name: 'd', type: 'double' },
    { name: 'b', type: 'boolean' },
    { name: 's', type: 'string' },
    { name: 'raw', type: 'bytes' },
    { name: 'ts_ms', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'ts_us', type: { type: 'long', logicalType: 'timestamp-micros' } },
    { name: 'day', type: { type: 'int', logicalType: 'date' } },
    { name: 'price', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } },
    { name: 'uid', type: { type: 'string', logicalType: 'uuid' } },
    { name: 'opt', type: ['null', 'string'], default: null },
    { name: 'color', type: { type: 'enum', name: 'Color', symbols: ['RED', 'GREEN'] } },
    { name: 'color_n', type: 'Color' },
    { name: 'tags', type: { type: 'array', items: 'string' } },
    { name: 'attrs', type: { type: 'map', values: 'long' } },
    { name: 'addr', type: { type: 'record', name: 'Addr', fields: [{ name: 'city', type: 'string' }, { name: 'zip', type: 'int' }] } },
  ],
};

const AVRO_TABLE = schemaOf([
  ['id', 'UInt64'], ['big', 'Int64'], ['i', 'Int32'], ['f', 'Float32'], ['d', 'Float64'], ['b', 'UInt8'], ['s', 'String'], ['raw', 'String'],
  ['ts_ms', "DateTime64(3, 'UTC')"], ['ts_us', "DateTime64(6, 'UTC')"], ['day', 'Date'], ['price', 'Decimal(10, 2)'], ['uid', 'UUID'],
  ['opt', 'Nullable(String)'], ['color', "Enum8('RED' = 1, 'GREEN' = 2)"], ['color_n', 'Int8'], ['tags', 'Array(String)'], ['attrs', 'Map(String, Int64)'],
  ['addr', 'Tuple(city String, zip Int32)'], ['addr.city', 'String'], ['missing', 'Int32'],
]);

const avroRecord = {
  id: 1, big: 2n ** 62n + 1n, i: -5, f: 1.5, d: 2.25, b: true, s: 'héllo', raw: Buffer.from([1, 2]),
  ts_ms: 1_700_000_000_123, ts_us: 1_700_000_000_123_456, day: 19_000, price: Buffer.from([0xff, 0x85]) /* -123 → -1.23 */,
  uid: '123e4567-e89b-12d3-a456-426614174000', opt: null, color: 'GREEN', color_n: 'GREEN', tags: ['a', 'b'], attrs: { x: 1 },
  addr: { city: 'Oslo', zip: 150 },
};

function avroBytes(schema: object, value: object): Buffer {
  const LongT = avro.types.LongType.__with({
    fromBuffer: (b: Buffer) => b.readBigInt64LE(), toBuffer: (n: bigint | number) => { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(n)); return b; },
    fromJSON: BigInt, toJSON: Number, isValid: (n: unknown) => typeof n === 'bigint' || typeof n === 'number', compare: () => 0,
  });
  return avro.Type.forSchema(schema as avro.Schema, { registry: { long: LongT } as never }).toBuffer(value);
}

describe('Avro through the registry', () => {
  const f = registryFormat('avro', { 1: { type: 'AVRO', schema: JSON.stringify(AVRO) }, 2: null, 3: { type: 'PROTOBUF', schema: 'syntax = "proto3"; message M { int32 a = 1; }' } });

  it('maps every type of the table to its column', () => {
    const got = decode(f, AVRO_TABLE, frame(1, avroBytes(AVRO, avroRecord)));
    expect(got).toBe(expected(AVRO_TABLE, [
      1, 2n ** 62n + 1n, -5, 1.5, 2.25, 1, 'héllo', Buffer.from([1, 2]),
      1_700_000_000_123n, 1_700_000_000_123_456n, 19_000, '-1.23', '123e4567-e89b-12d3-a456-426614174000',
      null, 'GREEN', 1, ['a', 'b'], new Map([['x', 1]]), ['Oslo', 150], 'Oslo', undefined,
    ]));
  });

  it('a value that does not fit its column names the column and the schema id', () => {
    const t = schemaOf([['i', 'UInt8']]);
    expect(decode(f, t, frame(1, avroBytes(AVRO, { ...avroRecord, i: 300 })))).toMatch(/^refused: i .*300.*schema id 1/);
  });

  it('a field type that cannot be its column names both', () => {
    const t = schemaOf([['tags', 'Int32']]);
    expect(decode(f, t, frame(1, avroBytes(AVRO, avroRecord)))).toMatch(/field "tags" \(array<string>\) cannot be column tags \(Int32\)/);
  });

  it('an unknown id, a schema of another type, a corrupt payload and a missing frame are bad records', () => {
    const t = schemaOf([['i', 'Int32']]);
    expect(decode(f, t, frame(2, Buffer.from([2])))).toMatch(/schema id 2 is not in the Schema Registry/);
    expect(decode(f, t, frame(3, Buffer.from([2])))).toMatch(/schema id 3 is a PROTOBUF schema, SLUICE_FORMAT is avro/);
    expect(decode(f, t, frame(1, Buffer.from([2, 4])))).toMatch(/payload does not match its Avro schema/);
    expect(decode(f, t, Buffer.from('{"i":1}'))).toMatch(/not a Schema Registry record/);
  });

  it('prepare() fetches nothing for ids it knows and throws for none', async () => {
    await f.prepare([{ value: frame(1, Buffer.alloc(1)) } as never, { value: Buffer.from('x') } as never]);
  });
});

const PROTO = `syntax = "proto3";
package shop.v1;
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
import "common.proto";
message Other { int32 x = 1; }
message Order {
  int64 id = 1;
  uint64 big = 2;
  sint32 delta = 3;
  double amount = 4;
  bool paid = 5;
  string note = 6;
  bytes blob = 7;
  google.protobuf.Timestamp at = 8;
  google.protobuf.Int32Value qty = 9;
  google.protobuf.StringValue coupon = 10;
  enum Status { NEW = 0; SHIPPED = 1; }
  Status status = 11;
  Status status_n = 12;
  repeated string tags = 13;
  map<string, int64> attrs = 14;
  oneof payment { string card = 15; string iban = 16; }
  common.Addr addr = 17;
  optional int32 maybe = 18;
  message Line { string sku = 1; int32 n = 2; }
  repeated Line lines = 19;
}`;

const COMMON = 'syntax = "proto3"; package common; message Addr { string city = 1; int32 zip = 2; }';

const PROTO_TABLE = schemaOf([
  ['id', 'Int64'], ['big', 'UInt64'], ['delta', 'Int32'], ['amount', 'Float64'], ['paid', 'UInt8'], ['note', 'String'], ['blob', 'String'],
  ['at', "DateTime64(9, 'UTC')"], ['qty', 'Nullable(Int32)'], ['coupon', 'Nullable(String)'], ['status', "Enum8('NEW' = 0, 'SHIPPED' = 1)"], ['status_n', 'UInt8'],
  ['tags', 'Array(String)'], ['attrs', 'Map(String, Int64)'], ['payment', 'String'], ['card', 'Nullable(String)'], ['iban', 'Nullable(String)'],
  ['addr', 'Tuple(city String, zip Int32)'], ['addr.zip', 'Int32'], ['maybe', 'Nullable(Int32)'], ['lines.sku', 'Array(String)'], ['lines.n', 'Array(Int32)'],
]);

function protoRoot(): protobuf.Root {
  const root = new protobuf.Root();
  for (const f of ['google/protobuf/timestamp.proto', 'google/protobuf/wrappers.proto']) root.addJSON((protobuf.common.get(f) as { nested: protobuf.AnyNestedObject }).nested as never);
  protobuf.parse(COMMON, root, { keepCase: true });
  protobuf.parse(PROTO, root, { keepCase: true });
  root.resolveAll();
  return root;
}

const order = {
  id: '-9007199254740993', big: '18446744073709551615', delta: -7, amount: 9.5, paid: true, note: 'n', blob: Buffer.from('zz'),
  at: { seconds: 1_700_000_000, nanos: 123_456_789 }, qty: { value: 0 }, status: 1, status_n: 1, tags: ['t'], attrs: { k: '5' },
  iban: 'DE00', addr: { city: 'Rome', zip: 100 }, lines: [{ sku: 'a', n: 1 }, { sku: 'b', n: 2 }],
};

const orderValues = [
  -9007199254740993n, 18446744073709551615n, -7, 9.5, 1, 'n', Buffer.from('zz'), 1_700_000_000_123_456_789n, 0, null, 'SHIPPED', 1,
  ['t'], new Map([['k', 5]]), 'iban', null, 'DE00', ['Rome', 100], 100, null, ['a', 'b'], [1, 2],
];

describe('Protobuf through the registry', () => {
  const Order = protoRoot().lookupType('shop.v1.Order');
  const bytes = Buffer.from(Order.encode(Order.fromObject(order)).finish());
  const f = registryFormat('protobuf', { 4: { type: 'PROTOBUF', schema: PROTO, imports: { 'common.proto': COMMON } } });

  it('maps every type of the table to its column (message index [1]: the second message)', () => {
    expect(decode(f, PROTO_TABLE, frame(4, bytes, [1]))).toBe(expected(PROTO_TABLE, orderValues));
  });

  it('the message-index path picks the message: [0] is Other', () => {
    const t = schemaOf([['x', 'Int32']]);
    const Other = protoRoot().lookupType('shop.v1.Other');
    expect(decode(f, t, frame(4, Buffer.from(Other.encode({ x: 42 }).finish()), [0]))).toBe(expected(t, [42]));
    expect(decode(f, t, frame(4, bytes, [5]))).toMatch(/names no message/);
  });

  it('a corrupt payload is a bad record', () => {
    expect(decode(f, PROTO_TABLE, frame(4, Buffer.from([0x0a, 0xff, 0xff]), [1]))).toMatch(/payload does not match Protobuf message shop.v1.Order/);
  });
});

describe('Protobuf without a registry', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-proto-'));
  writeFileSync(join(dir, 'common.proto'), COMMON);
  writeFileSync(join(dir, 'order.proto'), PROTO);
  const Order = protoRoot().lookupType('shop.v1.Order');
  const bytes = Buffer.from(Order.encode(Order.fromObject(order)).finish());

  it('from .proto files', () => {
    const f = createRecordFormat({ format: 'protobuf', registry: undefined, protobufFiles: [join(dir, 'common.proto'), join(dir, 'order.proto')], protobufMessage: 'shop.v1.Order' });
    expect(decode(f, PROTO_TABLE, bytes)).toBe(expected(PROTO_TABLE, orderValues));
    // A Confluent frame in front is skipped (byte 0 is never a Protobuf tag).
    expect(decode(f, PROTO_TABLE, frame(99, bytes, [1]))).toBe(expected(PROTO_TABLE, orderValues));
  });

  it('from a descriptor set file', () => {
    const desc = (protoRoot() as unknown as { toDescriptor(s: string): { constructor: { encode(m: unknown): { finish(): Uint8Array } } } }).toDescriptor('proto3');
    const file = join(dir, 'order.desc');
    writeFileSync(file, (desc.constructor as unknown as { encode(m: unknown): { finish(): Uint8Array } }).encode(desc).finish());
    const f = createRecordFormat({ format: 'protobuf', registry: undefined, protobufFiles: [file], protobufMessage: 'shop.v1.Order' });
    expect(decode(f, PROTO_TABLE, bytes)).toBe(expected(PROTO_TABLE, orderValues));
  });

  it('unset fields: proto3 defaults for scalars (bytes included), absent for optional, wrapper and message fields', () => {
    const f = createRecordFormat({ format: 'protobuf', registry: undefined, protobufFiles: [join(dir, 'common.proto'), join(dir, 'order.proto')], protobufMessage: 'shop.v1.Order' });
    const t = schemaOf([['id', 'Int64'], ['blob', 'String'], ['note', 'String'], ['qty', 'Nullable(Int32)'], ['maybe', 'Nullable(Int32)'], ['addr.zip', 'Int32'], ['payment', 'String'], ['attrs', 'String']]);
    const empty = Buffer.from(Order.encode(Order.fromObject({})).finish());
    expect(decode(f, t, empty)).toBe(expected(t, [0, '', '', null, null, undefined, undefined, '{}']));
  });

  it('a map read from a descriptor set (repeated entries) is a map, also as JSON text', () => {
    const desc = (protoRoot() as unknown as { toDescriptor(s: string): { constructor: unknown } }).toDescriptor('proto3');
    const file = join(dir, 'order2.desc');
    writeFileSync(file, (desc.constructor as { encode(m: unknown): { finish(): Uint8Array } }).encode(desc).finish());
    const f = createRecordFormat({ format: 'protobuf', registry: undefined, protobufFiles: [file], protobufMessage: 'shop.v1.Order' });
    const t = schemaOf([['attrs', 'String'], ['m', 'Int32']]);
    const withMap = Buffer.from(Order.encode(Order.fromObject({ attrs: { a: '1', b: '9007199254740993' } })).finish());
    expect(decode(f, t, withMap)).toBe(expected(t, ['{"a":"1","b":"9007199254740993"}', undefined]));
  });

  it('an unknown message name is a config error', () => {
    expect(() => createRecordFormat({ format: 'protobuf', registry: undefined, protobufFiles: [join(dir, 'order.proto')], protobufMessage: 'shop.v1.Nope' })).toThrow(/SLUICE_PROTOBUF_DESCRIPTOR/);
  });
});
