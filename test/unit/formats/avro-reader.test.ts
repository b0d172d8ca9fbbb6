/**
 * avro-reader against avsc: generated records (every primitive, logical
 * types, enums, fixed, [null, T] unions, nested and nullable records, a
 * named type used twice; random values and 64-bit edge values), some
 * truncated or corrupted, seeded; decoded through the registry decoder
 * (direct where it can) and through avsc (decode, plan.fill, writeValues):
 * same outcome, same row bytes, same reason. Also: the direct reader is
 * used, and declines arrays, maps, wide unions and whole-record columns.
 */
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { writeValues, type TableSchema } from '../../../src/formats/decoder.js';
import { avroSchema, type AvroSchema } from '../../../src/formats/avro.js';
import { plan, type Plan } from '../../../src/formats/mapping.js';
import { createRecordFormat } from '../../../src/formats/record-format.js';
import type { RegistrySchema } from '../../../src/formats/registry.js';
import { RowWriter } from '../../../src/formats/row-writer.js';
import { frame } from '../../../src/formats/wire.js';
import { schemaOf } from './helpers.js';

const ADDR = { type: 'record', name: 'Addr', fields: [{ name: 'city', type: 'string' }, { name: 'zip', type: ['null', 'int'] }] };
const SCHEMA = {
  type: 'record', name: 'Ev', namespace: 'shop', fields: [
    { name: 'i', type: 'int' }, { name: 'l', type: 'long' }, { name: 'big', type: 'long' }, { name: 'f', type: 'float' }, { name: 'd', type: 'double' },
    { name: 'b', type: 'boolean' }, { name: 's', type: 'string' }, { name: 'raw', type: 'bytes' },
    { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } }, { name: 'ts_us', type: { type: 'long', logicalType: 'timestamp-micros' } },
    { name: 'day', type: { type: 'int', logicalType: 'date' } }, { name: 'price', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } },
    { name: 'fx', type: { type: 'fixed', name: 'F4', size: 4 } }, { name: 'uid', type: { type: 'string', logicalType: 'uuid' } },
    { name: 'color', type: { type: 'enum', name: 'Color', symbols: ['RED', 'GREEN', 'BLUE'] } }, { name: 'color_n', type: 'Color' },
    { name: 'opt', type: ['null', 'string'] }, { name: 'opt_l', type: ['long', 'null'] },
    { name: 'home', type: ADDR }, { name: 'work', type: ['null', 'Addr'] }, { name: 'unread', type: 'string' }, { name: 'ns', type: 'string' },
  ],
};

const TABLE = schemaOf([
  ['i', 'Int64'], ['l', 'Int64'], ['big', 'Int64'], ['f', 'Float32'], ['d', 'Float64'], ['b', 'UInt8'], ['s', 'String'], ['raw', 'String'],
  ['ts', "DateTime64(3, 'UTC')"], ['ts_us', 'DateTime64(6)'], ['day', 'Date32'], ['price', 'Decimal(10, 2)'], ['fx', 'String'], ['uid', 'String'],
  ['color', "Enum8('RED' = 1, 'GREEN' = 2, 'BLUE' = 3)"], ['color_n', 'Int8'], ['opt', 'Nullable(String)'], ['opt_l', 'Nullable(Int64)'],
  ['home.city', 'String'], ['home.zip', 'Nullable(Int32)'], ['work.city', 'Nullable(String)'], ['work.zip', 'Int32'], ['ns', 'LowCardinality(String)'], ['absent', 'Int8'],
]);

const STRICT = schemaOf([['i', 'Int8'], ['uid', 'UUID'], ['color', "Enum8('RED' = 1)"], ['ts', 'DateTime'], ['s', "Enum8('a' = 1)"], ['big', 'UInt32']]);

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
const LONGS = [0, -1, 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 52, -(2 ** 52) - 1, 2 ** 53 - 3, -(2 ** 53) + 3, 1_700_000_000_000, -62_135_596_800_000];
const STRINGS = ['', 'a', 'héllo', '日本', '123e4567-e89b-12d3-a456-426614174000', 'x'.repeat(300), 'RED'];

function randomRecord(r: Rand): Record<string, unknown> {
  const addr = () => ({ city: pick(r, STRINGS), zip: r() < 0.3 ? null : Math.floor((r() - 0.5) * 2e5) });
  return {
    i: Math.floor((r() - 0.5) * 2 ** 32), l: pick(r, LONGS), big: pick(r, LONGS), f: pick(r, [0, 1.5, -2.25, r()]), d: pick(r, [0, -1e300, r(), Infinity]),
    b: r() < 0.5, s: pick(r, STRINGS), raw: Buffer.from(pick(r, STRINGS)), ts: Math.floor(r() * 4e12), ts_us: pick(r, LONGS), day: Math.floor((r() - 0.3) * 1e5),
    price: pick(r, [Buffer.from([0x01, 0x00]), Buffer.from([0xff]), Buffer.alloc(0)]), fx: Buffer.from([1, 2, 3, Math.floor(r() * 256)]), uid: pick(r, STRINGS),
    color: pick(r, ['RED', 'GREEN', 'BLUE']), color_n: pick(r, ['RED', 'GREEN', 'BLUE']), opt: r() < 0.4 ? null : pick(r, STRINGS), opt_l: r() < 0.4 ? null : pick(r, LONGS),
    home: addr(), work: r() < 0.4 ? null : addr(), unread: pick(r, STRINGS), ns: pick(r, STRINGS),
  };
}

/** Records written by avsc; longs past 2^53 and invalid UTF-8 patched in as bytes. */
function payload(type: avro.Type, r: Rand): Buffer {
  let b: Buffer;
  if (r() < 0.15) {
    // A long past 2^53 (or near it, odd: where avsc's float arithmetic rounds) in `l`: written by hand after i = 0.
    const huge = pick(r, [
      [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
      [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40], [0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10], [0x83, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20],
    ]);
    const plain = type.toBuffer({ ...randomRecord(r), i: 0, l: 0 });
    b = Buffer.concat([plain.subarray(0, 1), Buffer.from(huge), plain.subarray(2)]);
  } else b = type.toBuffer(randomRecord(r));
  if (r() < 0.05) {
    const i = b.indexOf(Buffer.from('héllo'));
    if (i > 0) { b = Buffer.from(b); b[i + 1] = 0xff; }
  }
  const x = r();
  if (x < 0.75) return b;
  if (x < 0.85) return b.subarray(0, Math.floor(r() * b.length));
  const c = Buffer.from(b);
  for (let n = 1 + Math.floor(r() * 3); n > 0; n--) c[Math.floor(r() * c.length)] = Math.floor(r() * 256);
  return r() < 0.5 ? c : Buffer.concat([c, Buffer.from([Math.floor(r() * 256)])]);
}

function reference(a: AvroSchema, p: Plan, schema: TableSchema, buf: Buffer, start: number): { ok: boolean; text: string } {
  const obj = a.decode(buf, start, buf.length);
  if (typeof obj === 'string') return { ok: false, text: obj };
  const values = new Array<unknown>(schema.columns.length);
  try {
    p.fill(obj, values);
  } catch (err) {
    // The decoder turns a converter's throw into a bad record with the message.
    return { ok: false, text: (err as Error).message };
  }
  const w = new RowWriter(64);
  const o = writeValues(schema, 'RowBinary', values, w);
  return o.ok ? { ok: true, text: w.finish().toString('hex') } : { ok: false, text: o.reason };
}

function differential(schema: TableSchema, count: number, seed: number): { direct: number; ok: number } {
  const text = JSON.stringify(SCHEMA);
  const a = avroSchema(text);
  if (typeof a === 'string') throw new Error(a);
  const p = plan(a.root, schema);
  if (typeof p === 'string') throw new Error(p);
  const direct = a.direct(p.paths);
  expect(direct).toBeDefined();
  const f = createRecordFormat({ format: 'avro', registry: { url: 'http://127.0.0.1:9' }, protobufFiles: [], protobufMessage: undefined });
  (f as unknown as { schemas: Map<number, RegistrySchema | null> }).schemas.set(3, { id: 3, type: 'AVRO', schema: text, imports: new Map() });
  const decoder = f.decoder(schema, 'RowBinary', false);
  const type = avro.Type.forSchema(SCHEMA as avro.Schema);
  const r = mulberry32(seed);
  const counts = { direct: 0, ok: 0 };
  const values = new Array<unknown>(schema.columns.length);
  const spans = { buf: new Uint8Array(0), start: [] as number[], end: [] as number[] };
  for (let i = 0; i < count; i++) {
    const body = payload(type, r);
    const framed = frame(3, body);
    const want = reference(a, p, schema, framed, 5);
    const out = new RowWriter(64);
    const label = `payload ${i}: ${body.toString('hex')}`;
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
      read = direct!(framed, 5, framed.length, values, spans);
    } catch {
      // A converter's throw, checked against avsc's path above.
    }
    if (read) {
      counts.direct++;
      expect(typeof a.decode(framed, 5, framed.length), label).toBe('object');
    }
  }
  return counts;
}

/** A long as Avro writes it: zig-zag, then base-128 varint. */
function avroLong(v: bigint): Buffer {
  let z = v < 0n ? (-v << 1n) - 1n : v << 1n;
  const out: number[] = [];
  do {
    const b = Number(z & 0x7fn);
    z >>= 7n;
    out.push(z > 0n ? b | 0x80 : b);
  } while (z > 0n);
  return Buffer.from(out);
}

describe('avro longs', () => {
  it('are exact from 2^52 on, through avsc and the direct reader (avsc alone read -(2^52+1) as +2^52)', () => {
    const s = { type: 'record', name: 'L', fields: [{ name: 'v', type: 'long' }] };
    const text = JSON.stringify(s);
    const a = avroSchema(text);
    if (typeof a === 'string') throw new Error(a);
    const table = schemaOf([['v', 'Int64']]);
    const p = plan(a.root, table);
    if (typeof p === 'string') throw new Error(p);
    const f = createRecordFormat({ format: 'avro', registry: { url: 'http://127.0.0.1:9' }, protobufFiles: [], protobufMessage: undefined });
    (f as unknown as { schemas: Map<number, RegistrySchema | null> }).schemas.set(4, { id: 4, type: 'AVRO', schema: text, imports: new Map() });
    const decoder = f.decoder(table, 'RowBinary', false);
    const edges = [0n, -1n, 2n ** 52n - 1n, 2n ** 52n, 2n ** 52n + 1n, -(2n ** 52n), -(2n ** 52n + 1n), -(2n ** 52n + 3n), 2n ** 53n + 1n, -(2n ** 53n + 1n), 2n ** 63n - 1n, -(2n ** 63n)];
    for (const v of edges) {
      const body = avroLong(v);
      // avsc's decode through avro.ts (ExactLong), then the registry decoder (direct reader first).
      const obj = a.decode(Buffer.concat([Buffer.alloc(5), body]), 5, 5 + body.length) as Record<string, unknown>;
      expect(BigInt(obj.v as number | bigint), String(v)).toBe(v);
      const out = new RowWriter(16);
      expect(decoder.decode(frame(4, body), out).ok).toBe(true);
      expect(out.finish().readBigInt64LE(0), String(v)).toBe(v);
    }
  });
});

describe('avro-reader: same rows as avsc', () => {
  it('every supported type, random and edge values, corrupt payloads (seeded)', () => {
    const { direct, ok } = differential(TABLE, 4000, 5);
    expect(ok).toBeGreaterThan(1500);
    expect(direct).toBeGreaterThan(ok * 0.9);
  });

  it('columns that refuse values: same reasons', () => {
    differential(STRICT, 2000, 11);
  });

  it('declines arrays, maps, wide unions and whole-record columns', () => {
    const reads = (s: unknown, cols: Array<[string, string]>) => {
      const a = avroSchema(JSON.stringify(s));
      if (typeof a === 'string') throw new Error(a);
      const p = plan(a.root, schemaOf(cols));
      if (typeof p === 'string') throw new Error(p);
      return a.direct(p.paths) !== undefined;
    };
    const rec = (t: unknown) => ({ type: 'record', name: 'R', fields: [{ name: 'x', type: 'int' }, { name: 'y', type: t }] });
    expect(reads(rec('string'), [['x', 'Int32']])).toBe(true);
    expect(reads(rec({ type: 'array', items: 'int' }), [['x', 'Int32']])).toBe(false);
    expect(reads(rec({ type: 'map', values: 'int' }), [['x', 'Int32']])).toBe(false);
    expect(reads(rec(['null', 'int', 'string']), [['x', 'Int32']])).toBe(false);
    expect(reads(rec(ADDR), [['y', 'Tuple(city String, zip Nullable(Int32))']])).toBe(false);
    expect(reads(rec(ADDR), [['y', 'String']])).toBe(false);
  });
});
