/**
 * avro-reader — Avro binary read straight into a row's column values, for
 * flat and nested records of primitive fields (the usual event schema);
 * avro.ts's avsc decode stays the reference and the fallback.
 *
 * Contract: `directReader(schema, paths)` (schema: the parsed Avro JSON) is
 * built once per plan and returns undefined when the schema has a shape it
 * does not read — arrays, maps, unions other than [null, T], a named record
 * inside itself — or a column reads a record whole (Tuple, JSON String) or
 * goes through an array. Otherwise `fill(buf, start, end, values, spans)`
 * sets every column's value as `plan.fill(avsc decode)` would and returns
 * true, or returns false (a read past `end`, trailing bytes, a bad union
 * or enum index, a negative length, a NaN, a varint past 10 bytes) and the
 * caller runs avsc, which gives the row or the reason.
 * Numbers are avsc's exactly: int and long varints go through avsc's own
 * arithmetic (Tap.readLong, float past 28 bits), and a long of 2^52 or
 * more in size is re-read exactly as avro.ts's ExactLong does. Strings into
 * String columns stay in the record's bytes when valid UTF-8 (decoder.ts
 * SPAN); the other values are what avsc returns (enum symbols, bytes).
 */
import { isUtf8 } from 'node:buffer';
import { SPAN, type Spans } from './decoder.js';
import { bare, toJson, type ColumnPath, type Conv } from './mapping.js';

export type DirectFill = (buf: Uint8Array, start: number, end: number, values: unknown[], spans: Spans) => boolean;

const NULL = 0, BOOL = 1, INT = 2, LONG = 3, FLOAT = 4, DOUBLE = 5, STRING = 6, BYTES = 7, FIXED = 8, ENUM = 9, RECORD = 10, UNION = 11;
const PRIMITIVE: Record<string, number> = { null: NULL, boolean: BOOL, int: INT, long: LONG, float: FLOAT, double: DOUBLE, string: STRING, bytes: BYTES };
const MAX_DEPTH = 64;

interface Node {
  readonly kind: number;
  readonly size: number;
  readonly symbols: readonly string[];
  /** RECORD: fields in order; UNION: the two branches. */
  readonly fields: readonly Node[];
  readonly names: readonly string[];
  /** RECORD: per field, index in `raw` (-1: read and dropped), and whether it is a string left in place. */
  readonly slots: number[];
  readonly text: boolean[];
  raw: unknown[];
  readonly ends: number[];
}

class Unsupported extends Error {}

function node(kind: number, extra: Partial<Node> = {}): Node {
  return { kind, size: 0, symbols: [], fields: [], names: [], slots: [], text: [], raw: [], ends: [], ...extra };
}

interface Column {
  readonly steps: ReadonlyArray<{ readonly rec: Node; readonly i: number }>;
  readonly rec: Node;
  readonly i: number;
  readonly conv: Conv | null;
  readonly index: number;
}

export function directReader(schema: unknown, paths: ReadonlyArray<ColumnPath | undefined>): DirectFill | undefined {
  try {
    const root = build(schema, new Map(), '', new Set(), 0);
    if (root.kind !== RECORD) return undefined;
    const columns = paths.map((p, i) => (p ? column(root, p, i) : undefined));
    return (buf, start, end, values, spans) => {
      const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
      pos = start;
      if (readRecord(root, b, end, 0) === FAIL || pos !== end) return false;
      spans.buf = b;
      for (let i = 0; i < columns.length; i++) values[i] = columnValue(columns[i], spans);
      return true;
    };
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
}

/** A reading tree: one node per occurrence (a named type used twice gets two, so their values do not mix). */
function build(s: unknown, named: Map<string, unknown>, ns: string, open: Set<string>, depth: number): Node {
  if (depth > MAX_DEPTH) throw new Unsupported();
  const sub = (x: unknown, space: string) => build(x, named, space, open, depth + 1);
  if (typeof s === 'string') {
    const k = PRIMITIVE[s];
    if (k !== undefined) return node(k);
    const full = named.has(s) ? s : ns ? `${ns}.${s}` : s;
    const def = named.get(full) ?? named.get(s);
    if (def === undefined || open.has(full)) throw new Unsupported();
    return sub(def, ns);
  }
  if (Array.isArray(s)) {
    if (s.length !== 2 || !s.includes('null') || s[0] === s[1]) throw new Unsupported();
    return node(UNION, { fields: [sub(s[0], ns), sub(s[1], ns)] });
  }
  const o = s as Record<string, unknown>;
  const type = o.type;
  if (type === 'record' || type === 'error' || type === 'enum' || type === 'fixed') {
    const name = String(o.name);
    const space = typeof o.namespace === 'string' ? o.namespace : name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : ns;
    const full = name.includes('.') ? name : space ? `${space}.${name}` : name;
    if (!named.has(full)) { named.set(full, o); named.set(name, o); }
    if (type === 'enum') return node(ENUM, { symbols: (o.symbols as string[]) ?? [] });
    if (type === 'fixed') return node(FIXED, { size: Number(o.size) });
    open.add(full);
    const fs = (o.fields as Array<{ name: string; type: unknown }>) ?? [];
    const fields = fs.map((f) => sub(f.type, space));
    open.delete(full);
    return node(RECORD, { fields, names: fs.map((f) => f.name), slots: fields.map(() => -1), text: fields.map(() => false) });
  }
  if (type === 'array' || type === 'map') throw new Unsupported();
  // A primitive written as an object, logical types included: avsc (no logical type registry) reads the underlying type.
  return sub(type, ns);
}

function column(root: Node, p: ColumnPath, index: number): Column {
  if (p.inArray || p.conv === toJson) throw new Unsupported();
  const steps: Array<{ rec: Node; i: number }> = [];
  let rec = root;
  for (let k = 0; k < p.fields.length; k++) {
    const i = rec.names.indexOf(p.fields[k]!.name);
    if (i < 0) throw new Unsupported();
    if (rec.slots[i]! < 0) rec.slots[i] = rec.raw.push(undefined) - 1;
    let f = rec.fields[i]!;
    if (f.kind === UNION) f = f.fields[0]!.kind === NULL ? f.fields[1]! : f.fields[0]!;
    if (k === p.fields.length - 1) {
      if (f.kind === RECORD) throw new Unsupported();
      if (f.kind === STRING && p.conv === null && bare(p.target).kind === 'string') rec.text[i] = true;
      return { steps, rec, i, conv: p.conv, index };
    }
    if (f.kind !== RECORD) throw new Unsupported();
    steps.push({ rec, i });
    rec = f;
  }
  throw new Unsupported();
}

function columnValue(c: Column | undefined, spans: Spans): unknown {
  if (c === undefined) return undefined;
  const steps = c.steps;
  for (let k = 0; k < steps.length; k++) {
    const s = steps[k]!;
    if (s.rec.raw[s.rec.slots[s.i]!] === null) return undefined;
  }
  const slot = c.rec.slots[c.i]!;
  const v = c.rec.raw[slot];
  if (c.rec.text[c.i] && typeof v === 'number') {
    spans.start[c.index] = v;
    spans.end[c.index] = c.rec.ends[slot]!;
    return SPAN;
  }
  return v === undefined || v === null || c.conv === null ? v : c.conv(v);
}

let pos = 0;
/** Where the last string left in place ends. */
let textEnd = 0;
const FAIL = Symbol('fail');

function readRecord(r: Node, buf: Buffer, end: number, depth: number): unknown {
  if (depth > MAX_DEPTH) return FAIL;
  const { fields, slots, text, raw } = r;
  for (let i = 0; i < fields.length; i++) {
    const v = read(fields[i]!, buf, end, depth, text[i]!);
    if (v === FAIL) return FAIL;
    const slot = slots[i]!;
    if (slot >= 0) {
      raw[slot] = v;
      if (text[i]) r.ends[slot] = textEnd;
    }
  }
  return true;
}

function read(n: Node, buf: Buffer, end: number, depth: number, text: boolean): unknown {
  switch (n.kind) {
    case NULL: return null;
    case BOOL: return pos < end ? !!buf[pos++] : FAIL;
    case INT: { const v = readLong(buf, end); return Number.isSafeInteger(v) ? v : FAIL; }
    case LONG: {
      const from = pos;
      const v = readLong(buf, end);
      if (v !== v) return FAIL;
      // As avro.ts ExactLong: from 2^52 on the float arithmetic above may have rounded.
      if (Number.isSafeInteger(v) && Math.abs(v) < 2 ** 52) return v;
      const exact = exactLong(buf, from);
      return exact >= -MAX_SAFE && exact <= MAX_SAFE ? Number(exact) : exact;
    }
    case FLOAT: { if (pos + 4 > end) return FAIL; const v = buf.readFloatLE(pos); pos += 4; return v !== v ? FAIL : v; }
    case DOUBLE: { if (pos + 8 > end) return FAIL; const v = buf.readDoubleLE(pos); pos += 8; return v !== v ? FAIL : v; }
    case STRING: {
      const len = readLong(buf, end);
      if (!(len >= 0) || pos + len > end) return FAIL;
      const from = pos;
      pos += len;
      if (text && (ascii(buf, from, pos) || isUtf8(buf.subarray(from, pos)))) { textEnd = pos; return from; }
      return (buf as Buffer & { utf8Slice(a: number, b: number): string }).utf8Slice(from, pos);
    }
    case BYTES: {
      const len = readLong(buf, end);
      if (!(len >= 0) || pos + len > end) return FAIL;
      pos += len;
      return buf.subarray(pos - len, pos);
    }
    case FIXED:
      if (pos + n.size > end) return FAIL;
      pos += n.size;
      return buf.subarray(pos - n.size, pos);
    case ENUM: {
      const i = readLong(buf, end);
      const s = n.symbols[i];
      return s === undefined ? FAIL : s;
    }
    case RECORD: return readRecord(n, buf, end, depth + 1);
    default: {
      const i = readLong(buf, end);
      if (i !== 0 && i !== 1) return FAIL;
      return read(n.fields[i]!, buf, end, depth, text);
    }
  }
}

/** avsc's Tap.readLong, bounded by `end` (NaN past it or past 10 bytes): the same arithmetic, so the same numbers. */
function readLong(buf: Buffer, end: number): number {
  let n = 0;
  let k = 0;
  let b = 0;
  let h = 0;
  do {
    if (pos >= end) return NaN;
    b = buf[pos++]!;
    h = b & 0x80;
    n |= (b & 0x7f) << k;
    k += 7;
  } while (h && k < 28);
  if (!h) return (n >> 1) ^ -(n & 1);
  let f = n;
  let fk = 268435456;
  let count = 4;
  do {
    if (pos >= end || ++count > 10) return NaN;
    b = buf[pos++]!;
    f += (b & 0x7f) * fk;
    fk *= 128;
  } while (b & 0x80);
  return (f % 2 ? -(f + 1) : f) / 2;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** avro.ts ExactLong's re-read of a long past 2^52 (the varint was read whole above, so it ends before `end`). */
function exactLong(buf: Buffer, from: number): bigint {
  let raw = 0n;
  let shift = 0n;
  for (let p = from; ; p++) {
    const b = buf[p]!;
    raw |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) break;
    shift += 7n;
  }
  return raw & 1n ? -((raw + 1n) >> 1n) : raw >> 1n;
}

function ascii(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i]! > 127) return false;
  return true;
}
