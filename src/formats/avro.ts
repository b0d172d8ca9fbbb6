/**
 * avro — Avro payloads: the writer's schema (from the registry) compiled
 * with avsc into a decoder, and described as a FieldType tree for the
 * column mapping (mapping.ts).
 *
 * Contract: `avroSchema(text)` parses an Avro schema (JSON text) or returns
 * why it cannot (not JSON, not a record, invalid Avro); its `decode` turns
 * exactly the payload bytes into a plain object or a reason (truncated
 * input, trailing bytes, an invalid union branch…), never throws; its
 * `direct(paths)` is the fast path for a plan (avro-reader.ts reads the
 * bytes straight into column values for the shapes it knows, `decode` is
 * its reference and fallback).
 * Values: int/float/double/boolean/string as JS values; long as a number
 * when it is a safe integer, else a bigint (avsc's default refuses those);
 * bytes and fixed as Buffers; unions with null unwrapped (null or the
 * value); other unions as the branch's value (avsc's `wrapUnions: auto`
 * unwraps those it can tell apart); enums as their symbol.
 * Logical types are read from the schema, not by avsc: timestamp-millis,
 * timestamp-micros (and their local- forms) are instants, date is days,
 * decimal on bytes or fixed is a decimal, uuid is a string (mapping.ts).
 * avsc: the most used Avro implementation for JavaScript (pure JS, no
 * native code), decodes with code it generates per schema.
 */
import avro from 'avsc';
import { errorMessage } from '../errors.js';
import type { ColumnPath, Field, FieldType } from './mapping.js';
import { directReader, type DirectFill } from './avro-reader.js';

export interface AvroSchema {
  readonly root: FieldType & { k: 'record' };
  decode(buf: Uint8Array, start: number, end: number): Record<string, unknown> | string;
  /** A reader from the bytes straight to these columns' values (avro-reader.ts), or undefined: use `decode`. */
  direct(paths: ReadonlyArray<ColumnPath | undefined>): DirectFill | undefined;
}


/**
 * long: a number while it is exact, a bigint beyond (ids, nanosecond counts).
 * The hot path is avsc's own varint read (a number); values of 2^52 or more
 * in size are read again, byte by byte (a number while safe, else a bigint). (avsc's default refuses those;
 * LongType.__with would allocate 8 bytes per long.) Decoding only: sluice
 * never writes Avro.
 */
interface Tap { buf: Buffer; pos: number; readLong(): number }
const AvscLong = avro.types.LongType as unknown as new () => avro.Type;
class ExactLongType extends AvscLong {}
(ExactLongType.prototype as unknown as { _read(tap: Tap): number | bigint })._read = (tap: Tap) => {
  const start = tap.pos;
  const n = tap.readLong();
  // avsc adds the high bytes in floating point: from 2^52 on the zig-zag
  // value (twice the long) is past 2^53 and may have been rounded (-(2^52+1)
  // came back as +2^52), so those are read again exactly.
  if (Number.isSafeInteger(n) && Math.abs(n) < 2 ** 52) return n;
  tap.pos = start;
  let raw = 0n;
  let shift = 0n;
  for (;;) {
    const b = tap.buf[tap.pos++];
    if (b === undefined) return 0; // truncated: avsc reports it once the read is done
    raw |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) break;
    shift += 7n;
  }
  const exact = raw & 1n ? -((raw + 1n) >> 1n) : raw >> 1n;
  return exact >= -MAX_SAFE && exact <= MAX_SAFE ? Number(exact) : exact;
};
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const ExactLong = new ExactLongType();

type Json = string | { readonly [k: string]: unknown } | readonly unknown[];

export function avroSchema(text: string): AvroSchema | string {
  let json: Json;
  try {
    json = JSON.parse(text) as Json;
  } catch (err) {
    return `the Avro schema is not JSON: ${errorMessage(err)}`;
  }
  let type: avro.Type;
  try {
    type = avro.Type.forSchema(json as avro.Schema, { registry: { long: ExactLong } as unknown as Record<string, avro.Type>, wrapUnions: 'auto' });
  } catch (err) {
    return `invalid Avro schema: ${errorMessage(err)}`;
  }
  const named = new Map<string, FieldType>();
  let root: FieldType;
  try {
    root = describe(json, named, '');
  } catch (err) {
    return `Avro schema: ${errorMessage(err)}`;
  }
  if (root.k !== 'record') return `the Avro schema is a ${root.name}, not a record: a row needs named fields`;
  return {
    root,
    decode(buf, start, end) {
      try {
        // In place (no view per record); a read past `end` is caught by the offset check.
        const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
        const { value, offset } = type.decode(b, start) as { value: Record<string, unknown>; offset: number };
        if (offset === end) return value;
        return `payload does not match its Avro schema: ${offset < 0 || offset > end ? 'truncated buffer' : `${end - offset} trailing byte(s)`}`;
      } catch (err) {
        return `payload does not match its Avro schema: ${errorMessage(err)}`;
      }
    },
    direct: (paths) => directReader(json, paths),
  };
}

const SCALARS = new Set(['int', 'long', 'float', 'double', 'boolean', 'string', 'null']);

/** The FieldType of an Avro schema node; named types are remembered by full and short name. */
function describe(s: unknown, named: Map<string, FieldType>, ns: string): FieldType {
  if (typeof s === 'string') {
    if (SCALARS.has(s)) return { k: 'scalar', name: s };
    if (s === 'bytes') return { k: 'scalar', name: s, bytes: true };
    const t = named.get(s) ?? named.get(ns ? `${ns}.${s}` : s);
    if (!t) throw new Error(`unknown type name ${s}`);
    return t;
  }
  if (Array.isArray(s)) {
    const branches = s.filter((b) => b !== 'null');
    if (branches.length === 1 && branches.length < s.length) {
      const inner = describe(branches[0], named, ns);
      return { k: 'nullable', name: `union<null,${inner.name}>`, inner };
    }
    // Other unions: the branch's value as it is (the codec decides).
    for (const b of branches) describe(b, named, ns);
    return { k: 'scalar', name: 'union' };
  }
  const o = s as Record<string, unknown>;
  const type = o.type;
  const logical = typeof o.logicalType === 'string' ? o.logicalType : undefined;
  if (logical) {
    if ((logical === 'timestamp-millis' || logical === 'local-timestamp-millis') && type === 'long') return { k: 'time', name: logical, ns: (v) => BigInt(v as number | bigint) * 1_000_000n, ms: (v) => Number(v) };
    if ((logical === 'timestamp-micros' || logical === 'local-timestamp-micros') && type === 'long') return { k: 'time', name: logical, ns: (v) => BigInt(v as number | bigint) * 1_000n, ms: (v) => Number(v) / 1e3 };
    if ((logical === 'timestamp-nanos' || logical === 'local-timestamp-nanos') && type === 'long') return { k: 'time', name: logical, ns: (v) => BigInt(v as number | bigint), ms: (v) => Number(BigInt(v as number | bigint) / 1000n) / 1e3 };
    if (logical === 'date' && type === 'int') return { k: 'date', name: 'date' };
    if (logical === 'decimal' && (type === 'bytes' || type === 'fixed')) {
      if (type === 'fixed') remember(o, { k: 'scalar', name: 'fixed', bytes: true }, named, ns);
      return { k: 'decimal', name: `decimal(${String(o.precision)},${String(o.scale ?? 0)})`, scale: Number(o.scale ?? 0) };
    }
    // uuid, time-millis/micros, unknown logical types: the underlying type (Avro's rule for unknown ones).
  }
  switch (type) {
    case 'record':
    case 'error': {
      const name = String(o.name);
      const space = typeof o.namespace === 'string' ? o.namespace : name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : ns;
      const fields: Field[] = [];
      const rec = { k: 'record' as const, name: `record ${name}`, fields };
      remember(o, rec, named, ns);
      for (const f of (o.fields as Array<{ name: string; type: unknown }>) ?? []) {
        const fname = f.name;
        fields.push({ name: fname, type: describe(f.type, named, space), get: (r) => r[fname], access: { key: fname, own: false } });
      }
      return rec;
    }
    case 'enum': {
      const symbols = (o.symbols as string[]) ?? [];
      const index = new Map(symbols.map((x, i) => [x, i]));
      const t: FieldType = { k: 'enum', name: `enum ${String(o.name)}`, symbol: (v) => v as string, index: (v) => index.get(v as string) ?? -1 };
      remember(o, t, named, ns);
      return t;
    }
    case 'fixed': {
      const t: FieldType = { k: 'scalar', name: `fixed(${String(o.size)})`, bytes: true };
      remember(o, t, named, ns);
      return t;
    }
    case 'array': {
      const items = describe(o.items, named, ns);
      return { k: 'array', name: `array<${items.name}>`, items };
    }
    case 'map': {
      const values = describe(o.values, named, ns);
      return { k: 'map', name: `map<${values.name}>`, values };
    }
    default:
      return describe(type, named, ns);
  }
}

function remember(o: Record<string, unknown>, t: FieldType, named: Map<string, FieldType>, ns: string): void {
  const name = String(o.name);
  const space = typeof o.namespace === 'string' ? o.namespace : ns;
  named.set(name, t);
  if (!name.includes('.') && space) named.set(`${space}.${name}`, t);
}
