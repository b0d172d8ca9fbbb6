/**
 * protobuf-reader against protobufjs: many generated payloads (every field
 * kind, random values, missing and repeated fields, packed and unpacked
 * repeats, unknown fields, wrong wire types, truncated and corrupted bytes;
 * seeded, so every run is the same) decoded through the registry decoder,
 * which reads directly where it can, and through the protobufjs path
 * (decode, plan.fill, writeValues): same outcome, same row bytes, same
 * reason. Also checks that the direct reader is used (not silently
 * declining everything) and declines the shapes it leaves to protobufjs.
 */
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { writeValues, type TableSchema } from '../../../src/formats/decoder.js';
import { plan, type Plan } from '../../../src/formats/mapping.js';
import { registryMessage, type ProtobufMessage } from '../../../src/formats/protobuf.js';
import { createRecordFormat, type RecordFormat } from '../../../src/formats/record-format.js';
import type { RegistrySchema } from '../../../src/formats/registry.js';
import { RowWriter } from '../../../src/formats/row-writer.js';
import { frame } from '../../../src/formats/wire.js';
import { schemaOf } from './helpers.js';

const PROTO = `syntax = "proto3";
package t.v1;
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
message Inner { string name = 1; int64 n = 2; Deep deep = 3; repeated uint32 xs = 4; }
message Deep { bool on = 1; sfixed64 sf = 2; }
message Ev {
  int32 i32 = 1; uint32 u32 = 2; sint32 s32 = 3; fixed32 f32 = 4; sfixed32 sf32 = 5;
  int64 i64 = 6; uint64 u64 = 7; sint64 s64 = 8; fixed64 f64 = 9; sfixed64 sf64 = 10;
  float fl = 11; double db = 12; bool b = 13; string s = 14; bytes by = 15;
  enum Kind { ZERO = 0; ONE = 1; TWO = 2; }
  Kind kind = 16; Kind kind_n = 17; Kind kind_s = 18;
  google.protobuf.Timestamp ts = 19; google.protobuf.Timestamp ts_s = 20; google.protobuf.Timestamp ts_d = 21;
  google.protobuf.Int64Value w64 = 22; google.protobuf.StringValue ws = 23; google.protobuf.BoolValue wb = 24; google.protobuf.BytesValue wby = 25;
  optional int32 opt = 26; optional string opt_s = 27;
  oneof choice { string c_s = 28; int64 c_n = 29; }
  repeated int32 ri = 30; repeated sint64 rs64 = 31 [packed = false]; repeated string rstr = 32; repeated double rd = 33; repeated Kind rk = 34;
  repeated bytes rby = 35; repeated fixed32 rf = 36;
  Inner inner = 37; Inner unread = 38; repeated Inner many = 39;
  string s_enum = 40; string s_uuid = 41; uint64 u_str = 42; int32 narrow = 43; string nstr = 44;
}`;

const TABLE = schemaOf([
  ['i32', 'Int32'], ['u32', 'UInt32'], ['s32', 'Int64'], ['f32', 'UInt32'], ['sf32', 'Int32'],
  ['i64', 'Int64'], ['u64', 'UInt64'], ['s64', 'Int64'], ['f64', 'UInt64'], ['sf64', 'Int64'],
  ['fl', 'Float32'], ['db', 'Float64'], ['b', 'UInt8'], ['s', 'String'], ['by', 'String'],
  ['kind', "Enum8('ZERO' = 0, 'ONE' = 1, 'TWO' = 2)"], ['kind_n', 'Int8'], ['kind_s', 'String'],
  ['ts', "DateTime64(3, 'UTC')"], ['ts_s', 'String'], ['ts_d', 'DateTime'],
  ['w64', 'Nullable(Int64)'], ['ws', 'Nullable(String)'], ['wb', 'UInt8'], ['wby', 'Nullable(String)'],
  ['opt', 'Nullable(Int32)'], ['opt_s', 'String'], ['c_s', 'Nullable(String)'], ['c_n', 'Nullable(Int64)'],
  ['ri', 'Array(Int32)'], ['rs64', 'Array(Int64)'], ['rstr', 'Array(String)'], ['rd', 'Array(Float64)'], ['rk', "Array(Enum8('ZERO' = 0, 'ONE' = 1, 'TWO' = 2))"],
  ['rby', 'Array(String)'], ['rf', 'Array(UInt32)'],
  ['inner.name', 'Nullable(String)'], ['inner.n', 'Int64'], ['inner.deep.on', 'Nullable(UInt8)'], ['inner.deep.sf', 'Int64'], ['inner.xs', 'Array(UInt32)'],
  ['u_str', 'String'], ['narrow', 'Int32'], ['nstr', 'LowCardinality(Nullable(String))'],
]);

/** Columns that refuse many of the generated values: the reasons must match too. */
const STRICT = schemaOf([
  ['s_enum', "Enum8('a' = 1, 'b' = 2)"], ['s_uuid', 'UUID'], ['narrow', 'Int8'], ['kind', "Enum8('ZERO' = 0, 'ONE' = 1)"], ['inner.xs', 'Array(UInt16)'],
  ['ts_s', 'String'], ['rk', "Array(Enum8('ZERO' = 0))"], ['u64', 'Int64'],
]);

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const WIRE: Record<string, number> = { double: 1, fixed64: 1, sfixed64: 1, float: 5, fixed32: 5, sfixed32: 5, string: 2, bytes: 2 };
const STRINGS = ['', 'a', 'b', 'héllo', '日本', '123e4567-e89b-12d3-a456-426614174000', 'x'.repeat(200), 'ONE'];

function int64Text(r: Rand, unsigned: boolean): string {
  const pool = unsigned
    ? ['0', '1', '9007199254740991', '9007199254740993', '18446744073709551615', String(Math.floor(r() * 1e6))]
    : ['0', '-1', '9007199254740993', '-9007199254740993', '-9223372036854775808', '9223372036854775807', String(Math.floor((r() - 0.5) * 1e9))];
  return pick(r, pool);
}

/** One value of a scalar type, written by protobufjs's own Writer. */
function scalar(w: protobuf.Writer, type: string, r: Rand, name = ''): void {
  // Timestamps mostly within what DateTime64 holds, sometimes not.
  if (name === 'seconds' && r() < 0.9) { w.int64(Math.floor(r() * 4e9)); return; }
  if (name === 'nanos' && r() < 0.9) { w.int32(Math.floor(r() * 1e9)); return; }
  switch (type) {
    case 'int32': w.int32(pick(r, [0, 1, -1, 127, 128, -2147483648, 2147483647, Math.floor((r() - 0.5) * 1e6)])); break;
    case 'uint32': w.uint32(pick(r, [0, 1, 300, 65535, 65536, 4294967295])); break;
    case 'sint32': w.sint32(pick(r, [0, -1, 1, -2147483648, 2147483647, 12345])); break;
    case 'fixed32': w.fixed32(pick(r, [0, 1, 4294967295, 123456])); break;
    case 'sfixed32': w.sfixed32(pick(r, [0, -1, 2147483647, -2147483648])); break;
    case 'int64': w.int64(int64Text(r, false)); break;
    case 'uint64': w.uint64(int64Text(r, true)); break;
    case 'sint64': w.sint64(int64Text(r, false)); break;
    case 'fixed64': w.fixed64(int64Text(r, true)); break;
    case 'sfixed64': w.sfixed64(int64Text(r, false)); break;
    case 'float': w.float(pick(r, [0, 1.5, -2.25, 3.4e38, NaN, Infinity, r()])); break;
    case 'double': w.double(pick(r, [0, 1.5, -1e300, NaN, -Infinity, r()])); break;
    case 'bool': w.uint32(pick(r, [0, 1, 2])); break;
    case 'string':
      // Now and then invalid UTF-8 (protobufjs reads U+FFFD for it) or a lone surrogate's bytes.
      if (r() < 0.05) w.bytes(pick(r, [Buffer.from([0x61, 0xff]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xc3])]));
      else w.string(pick(r, STRINGS));
      break;
    case 'bytes': w.bytes(pick(r, [Buffer.alloc(0), Buffer.from('zz'), Buffer.from([0xff, 0xfe, 0x00])])); break;
    default: w.int32(r() < 0.03 ? pick(r, [3, -1]) : pick(r, [0, 1, 2])); // enums, now and then a number the enum lacks
  }
}

/** A random message of `type`: fields in random order, some absent, some twice, some with the wrong wire type, unknown fields. */
function message(w: protobuf.Writer, type: protobuf.Type, r: Rand, depth: number): void {
  const fields = [...type.fieldsArray].sort(() => r() - 0.5);
  for (const f of fields) {
    if (r() < 0.3) continue;
    for (let k = r() < 0.1 ? 2 : 1; k > 0; k--) {
      const rt = f.resolvedType;
      if (r() < 0.02) {
        // A wrong wire type for the field.
        w.uint32((f.id << 3) | pick(r, [0, 1, 2, 5]));
        scalar(w, pick(r, ['uint32', 'fixed64', 'string', 'fixed32']), r);
        continue;
      }
      if (rt instanceof protobuf.Type) {
        if (depth > 3) continue;
        for (let n = f.repeated ? Math.floor(r() * 3) : 1; n > 0; n--) {
          w.uint32((f.id << 3) | 2).fork();
          message(w, rt, r, depth + 1);
          w.ldelim();
        }
        continue;
      }
      const t = rt instanceof protobuf.Enum ? 'enum' : f.type;
      const wire = WIRE[t] ?? 0;
      if (f.repeated && wire !== 2 && r() < 0.5) {
        w.uint32((f.id << 3) | 2).fork();
        for (let n = Math.floor(r() * 4); n > 0; n--) scalar(w, t, r);
        w.ldelim();
      } else {
        for (let n = f.repeated ? Math.floor(r() * 3) : 1; n > 0; n--) {
          w.uint32((f.id << 3) | wire);
          scalar(w, t, r, f.name);
        }
      }
    }
  }
  if (r() < 0.2) {
    const wire = pick(r, [0, 1, 2, 5]);
    w.uint32(((100 + Math.floor(r() * 50)) << 3) | wire);
    scalar(w, ['uint64', 'fixed64', 'string', '', '', 'fixed32'][wire]!, r);
  }
}

function corrupt(b: Buffer, r: Rand): Buffer {
  const x = r();
  if (b.length === 0 || x < 0.7) return b;
  if (x < 0.85) return b.subarray(0, Math.floor(r() * b.length));
  const c = Buffer.from(b);
  for (let n = 1 + Math.floor(r() * 3); n > 0; n--) c[Math.floor(r() * c.length)] = Math.floor(r() * 256);
  return r() < 0.5 ? c : Buffer.concat([c, Buffer.from([Math.floor(r() * 256)])]);
}

function registryFormat(schema: string): RecordFormat {
  const f = createRecordFormat({ format: 'protobuf', registry: { url: 'http://127.0.0.1:9' }, protobufFiles: [], protobufMessage: undefined });
  (f as unknown as { schemas: Map<number, RegistrySchema | null> }).schemas.set(7, { id: 7, type: 'PROTOBUF', schema, imports: new Map() });
  return f;
}

/** What the protobufjs path gives: the row's bytes, or the reason. */
function reference(m: ProtobufMessage, p: Plan, schema: TableSchema, buf: Buffer, start: number): { ok: boolean; text: string } {
  // Offsets in protobufjs's reasons count from the start of the record's bytes: decode in place, as the decoder does.
  const obj = m.decode(buf, start, buf.length);
  if (typeof obj === 'string') return { ok: false, text: obj };
  const values = new Array<unknown>(schema.columns.length);
  // A Timestamp beyond what Date holds, into a String column, throws in the
  // converter; the decoder turns that into a bad record with the message.
  try {
    p.fill(obj, values);
  } catch (err) {
    return { ok: false, text: (err as Error).message };
  }
  const w = new RowWriter(64);
  const o = writeValues(schema, 'RowBinary', values, w);
  return o.ok ? { ok: true, text: w.finish().toString('hex') } : { ok: false, text: o.reason };
}

function differential(schemaText: string, typeName: string, schema: TableSchema, count: number, seed: number): { direct: number; ok: number } {
  const m = registryMessage(schemaText, new Map(), [2]);
  if (typeof m === 'string') throw new Error(m);
  const p = plan(m.root, schema);
  if (typeof p === 'string') throw new Error(p);
  const direct = m.direct(p.paths);
  const root = new protobuf.Root();
  for (const f of ['google/protobuf/timestamp.proto', 'google/protobuf/wrappers.proto']) root.addJSON((protobuf.common.get(f) as { nested: protobuf.AnyNestedObject }).nested as never);
  protobuf.parse(schemaText, root, { keepCase: true });
  root.resolveAll();
  const type = root.lookupType(typeName);
  const decoder = registryFormat(schemaText).decoder(schema, 'RowBinary', false);
  const r = mulberry32(seed);
  const counts = { direct: 0, ok: 0 };
  const values = new Array<unknown>(schema.columns.length);
  const spans = { buf: new Uint8Array(0), start: [] as number[], end: [] as number[] };
  for (let i = 0; i < count; i++) {
    const w = protobuf.Writer.create();
    message(w, type, r, 0);
    const payload = corrupt(Buffer.from(w.finish()), r);
    const framed = frame(7, payload, [2]);
    const want = reference(m, p, schema, framed, framed.length - payload.length);
    const out = new RowWriter(64);
    const label = `payload ${i}: ${payload.toString('hex')}`;
    // Never a throw out of decode: every input is a row or a reason.
    const got = decoder.decode(framed, out);
    expect(got.ok, label).toBe(want.ok);
    if (got.ok) expect(out.finish().toString('hex'), label).toBe(want.text);
    else {
      expect(out.pos, label).toBe(0);
      expect((got as { reason: string }).reason, label).toContain(want.text);
    }
    if (want.ok) counts.ok++;
    let read = false;
    try {
      read = direct?.(payload, 0, payload.length, values, spans) ?? false;
    } catch {
      // The converter's throw above (checked against protobufjs's path already).
    }
    if (read) {
      counts.direct++;
      // Whatever the direct reader accepts, protobufjs accepts.
      expect(typeof m.decode(payload, 0, payload.length), label).toBe('object');
    }
  }
  return counts;
}

describe('protobuf-reader: same rows as protobufjs', () => {
  it('every field kind, random payloads, corrupt ones included (seeded)', () => {
    const { direct, ok } = differential(PROTO, 't.v1.Ev', TABLE, 4000, 13);
    // Most well-formed payloads are read directly; the rest fell back (wrong wire types, corrupt bytes).
    expect(ok).toBeGreaterThan(1500);
    expect(direct).toBeGreaterThan(ok * 0.5);
  });

  it('another seed, RowBinary of a narrower table (columns absent, fields unknown)', () => {
    const narrow = schemaOf([['i64', 'Int64'], ['s', 'String'], ['inner.deep.sf', 'Int64'], ['missing', 'Int32'], ['ts', "DateTime64(9, 'UTC')"]]);
    const { direct } = differential(PROTO, 't.v1.Ev', narrow, 2000, 99);
    expect(direct).toBeGreaterThan(500);
  });

  it('columns that refuse values: same reasons', () => {
    differential(PROTO, 't.v1.Ev', STRICT, 2000, 7);
  });

  it('declines the shapes it leaves to protobufjs: maps, messages into Tuple or JSON, arrays of messages, oneof columns', () => {
    const m = registryMessage(PROTO, new Map(), [2]);
    if (typeof m === 'string') throw new Error(m);
    const reads = (cols: Array<[string, string]>) => {
      const p = plan(m.root, schemaOf(cols));
      if (typeof p === 'string') throw new Error(p);
      return m.direct(p.paths) !== undefined;
    };
    expect(reads([['i32', 'Int32']])).toBe(true);
    expect(reads([['inner', 'String']])).toBe(false);
    expect(reads([['inner', 'Tuple(name String, n Int64)']])).toBe(false);
    expect(reads([['many.name', 'Array(String)']])).toBe(false);
    expect(reads([['choice', 'String']])).toBe(false);
    expect(reads([['ri', 'String']])).toBe(false);
    const withMap = registryMessage('syntax = "proto3"; message A { int32 x = 1; map<string, int32> m = 2; }', new Map(), [0]);
    if (typeof withMap === 'string') throw new Error(withMap);
    const p = plan(withMap.root, schemaOf([['x', 'Int32']]));
    if (typeof p === 'string') throw new Error(p);
    expect(withMap.direct(p.paths)).toBeUndefined();
  });
});
