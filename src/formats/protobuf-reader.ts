/**
 * protobuf-reader — Protobuf wire bytes read straight into a row's column
 * values, for the message types and column shapes common in event streams;
 * protobuf.ts's protobufjs decode stays the reference and the fallback.
 *
 * Contract: `directReader(type, protoOf, paths)` is built once per plan
 * (mapping.ts) and returns undefined when the schema or a column needs a
 * shape it does not read (map fields, groups, proto2 `required`, a column
 * through an array of messages, a message into a Tuple or JSON String
 * column, a oneof-named column). Otherwise it returns `fill(buf, start, end,
 * values)`, which either sets every column's value exactly as
 * `plan.fill(protobufjs decode)` would (same raw values, same converters)
 * and returns true, or returns false having written nothing anyone reads:
 * the caller then runs the protobufjs path, which gives the row or the
 * reason. It returns false for anything it is not sure about — truncated or
 * overlong input, a wire type other than the field's, a group, nesting past
 * 32 — so a payload protobufjs refuses is never read as a row here.
 * Why it is faster: no message object, Long or Timestamp instance per row,
 * strings decoded only for fields a column reads, unread fields skipped
 * (but still checked as protobufjs would read them, message fields
 * included, so a payload it refuses is refused here too).
 * Semantics mirrored from protobufjs 7 (checked by the differential test):
 * last occurrence wins for scalars and replaces a message; repeated fields
 * accumulate, packed or not; oneof members do not clear each other; varints
 * of 32-bit fields are read as protobufjs reads them (low 32 bits, a
 * 10-byte negative encoding).
 */
import type protobuf from 'protobufjs';
import type { ColumnPath, Conv, Field } from './mapping.js';
import { isUtf8 } from 'node:buffer';
import { SPAN, type Spans } from './decoder.js';
import { bare, toJson } from './mapping.js';

/** Fills `values` (and `spans` for strings left in place, decoder.ts SPAN), or returns false: use protobufjs. */
export type DirectFill = (buf: Uint8Array, start: number, end: number, values: unknown[], spans: Spans) => boolean;

// Read kinds (enums read as int32, as protobufjs does).
const I32 = 0, U32 = 1, S32 = 2, BOOL = 3, FX32 = 4, SFX32 = 5, I64 = 6, U64 = 7, S64 = 8, FX64 = 9, SFX64 = 10, FLOAT = 11, DOUBLE = 12, STRING = 13, BYTES = 14, MSG = 15;
const KINDS: Record<string, number> = { int32: I32, uint32: U32, sint32: S32, bool: BOOL, fixed32: FX32, sfixed32: SFX32, int64: I64, uint64: U64, sint64: S64, fixed64: FX64, sfixed64: SFX64, float: FLOAT, double: DOUBLE, string: STRING, bytes: BYTES };
const WIRE = [0, 0, 0, 0, 5, 5, 0, 0, 0, 1, 1, 5, 1, 2, 2, 2];
const MAX_DEPTH = 32;

/** A message as read: a spec per field number; `raw` holds the read values of the fields a column uses (undefined: not on the wire). */
class Msg {
  readonly byId: Array<Spec | undefined> = [];
  raw: unknown[] = [];
  /** For `text` fields: where the string's bytes end (raw holds where they start). */
  readonly ends: number[] = [];
  constructor(readonly type: protobuf.Type) {}
}

interface Spec {
  readonly kind: number;
  readonly wire: number;
  readonly repeated: boolean;
  readonly packable: boolean;
  /** Index in the message's `raw`, or -1: nobody reads it (checked and skipped). */
  slot: number;
  sub: Msg | undefined;
  /** A string read into a String column: left in place (raw: its start) when valid UTF-8, as decoding and re-encoding would write the same bytes. */
  text: boolean;
}

class Unsupported extends Error {}

const WRAPPED = new Set(['.google.protobuf.Timestamp', '.google.protobuf.DoubleValue', '.google.protobuf.FloatValue', '.google.protobuf.Int64Value', '.google.protobuf.UInt64Value', '.google.protobuf.Int32Value', '.google.protobuf.UInt32Value', '.google.protobuf.BoolValue', '.google.protobuf.StringValue', '.google.protobuf.BytesValue']);

interface Column {
  /** Message fields from the root to the leaf's message: absent one → the column is absent. */
  readonly steps: ReadonlyArray<{ readonly msg: Msg; readonly slot: number }>;
  readonly msg: Msg;
  readonly slot: number;
  /** The value protobufjs's object shows when the field is not on the wire (undefined for fields with presence). */
  readonly absent: unknown;
  /** Timestamp / wrapper leaves: rebuilt as the plain { field: value } object the converters read. */
  readonly object: { readonly msg: Msg; readonly names: readonly string[]; readonly slots: readonly number[]; readonly absent: readonly unknown[] } | undefined;
  readonly conv: Conv | null;
  /** The column's index, for its span. */
  readonly index: number;
  /** Its field is a `text` string: a number in raw is where the bytes start. */
  readonly text: boolean;
}

/** A reader for these columns, or undefined when one of them (or the schema) needs the protobufjs path. */
export function directReader(type: protobuf.Type, protoOf: (f: Field) => protobuf.Field | undefined, paths: ReadonlyArray<ColumnPath | undefined>): DirectFill | undefined {
  try {
    const checkers = new Map<string, Msg>();
    const root = build(type, checkers, new Msg(type));
    const columns: Array<Column | undefined> = paths.map((p, i) => (p ? column(root, p, protoOf, checkers, i) : undefined));
    return (buf, start, end, values, spans) => {
      const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
      pos = start;
      if (!readMsg(root, b, end, 0)) return false;
      spans.buf = b;
      for (let i = 0; i < columns.length; i++) values[i] = columnValue(columns[i], spans);
      return true;
    };
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
}

function column(root: Msg, p: ColumnPath, protoOf: (f: Field) => protobuf.Field | undefined, checkers: Map<string, Msg>, index: number): Column {
  if (p.inArray || p.conv === toJson) throw new Unsupported();
  const steps: Array<{ msg: Msg; slot: number }> = [];
  let msg = root;
  for (let i = 0; i < p.fields.length; i++) {
    const pf = protoOf(p.fields[i]!);
    if (!pf || pf.parent !== msg.type) throw new Unsupported();
    const spec = msg.byId[pf.id]!;
    if (spec.slot < 0) spec.slot = msg.raw.push(undefined) - 1;
    const rt = pf.resolvedType;
    const leaf = i === p.fields.length - 1;
    if (spec.kind !== MSG) {
      if (!leaf) throw new Unsupported();
      if (spec.kind === STRING && !spec.repeated && p.conv === null && bare(p.target).kind === 'string') spec.text = true;
      return { steps, msg, slot: spec.slot, absent: p.fields[i]!.get(emptyOf(msg.type)), object: undefined, conv: p.conv, index, text: spec.text };
    }
    const sub = rt as protobuf.Type;
    if (spec.repeated || (leaf && !WRAPPED.has(sub.fullName)) || (!leaf && WRAPPED.has(sub.fullName))) throw new Unsupported();
    // A message read for its values gets its own Msg (one per path), so its raw values are its own.
    if (!spec.sub || spec.sub === checkers.get(sub.fullName)) spec.sub = build(sub, checkers, new Msg(sub));
    if (leaf) {
      const m = spec.sub;
      const names = sub.fieldsArray.map((f) => f.name);
      if (names.join() !== (sub.fullName === '.google.protobuf.Timestamp' ? 'seconds,nanos' : 'value')) throw new Unsupported();
      const slots = sub.fieldsArray.map((f) => { const s = m.byId[f.id]!; if (s.slot < 0) s.slot = m.raw.push(undefined) - 1; return s.slot; });
      const empty = emptyOf(sub);
      return { steps, msg, slot: spec.slot, absent: undefined, object: { msg: m, names, slots, absent: names.map((n) => empty[n]) }, conv: p.conv, index, text: false };
    }
    steps.push({ msg, slot: spec.slot });
    msg = spec.sub;
  }
  throw new Unsupported();
}

function emptyOf(type: protobuf.Type): Record<string, unknown> {
  return type.decode(new Uint8Array(0)) as unknown as Record<string, unknown>;
}

/** Specs for every field of `type` (so a field no column reads is still read as protobufjs reads it); messages checked by shared `checkers`. */
function build(type: protobuf.Type, checkers: Map<string, Msg>, m: Msg): Msg {
  for (const f of type.fieldsArray) {
    f.resolve();
    if (f.map || f.required || f.id <= 0) throw new Unsupported();
    const rt = f.resolvedType as (protobuf.Type & { group?: boolean }) | protobuf.Enum | null;
    let kind: number | undefined;
    let sub: Msg | undefined;
    if (rt && 'fieldsArray' in rt) {
      if (rt.group) throw new Unsupported();
      kind = MSG;
      sub = checkers.get(rt.fullName);
      if (!sub) {
        sub = new Msg(rt);
        checkers.set(rt.fullName, sub);
        build(rt, checkers, sub);
      }
    } else kind = rt ? I32 : KINDS[f.type];
    if (kind === undefined) throw new Unsupported();
    m.byId[f.id] = { kind, wire: WIRE[kind]!, repeated: f.repeated, packable: f.repeated && kind < STRING, slot: -1, sub, text: false };
  }
  return m;
}

function columnValue(c: Column | undefined, spans: Spans): unknown {
  if (c === undefined) return undefined;
  const steps = c.steps;
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i]!;
    if (s.msg.raw[s.slot] === undefined) return undefined;
  }
  let v = c.msg.raw[c.slot];
  if (v === undefined) v = c.absent;
  else if (c.text && typeof v === 'number') {
    spans.start[c.index] = v;
    spans.end[c.index] = c.msg.ends[c.slot]!;
    return SPAN;
  }
  else if (c.object) {
    const { msg, names, slots, absent } = c.object;
    const raw = msg.raw;
    // Literals for the two shapes (Timestamp, wrappers): one hidden class each, where keyed stores would build a dictionary.
    if (names.length === 1) {
      const x = raw[slots[0]!];
      v = { value: x === undefined ? absent[0] : x };
    } else {
      const s = raw[slots[0]!];
      const n = raw[slots[1]!];
      v = { seconds: s === undefined ? absent[0] : s, nanos: n === undefined ? absent[1] : n };
    }
  }
  return v === undefined || v === null || c.conv === null ? v : c.conv(v);
}

// The read position: module state, as one payload is read at a time (synchronously).
let pos = 0;
let lo = 0;
let hi = 0;
const FAIL = Symbol('fail');
const f32 = new Float32Array(1);
const f32b = new Uint8Array(f32.buffer);
const f64 = new Float64Array(1);
const f64b = new Uint8Array(f64.buffer);

function readMsg(m: Msg, buf: Buffer, end: number, depth: number): boolean {
  if (depth > MAX_DEPTH) return false;
  const raw = m.raw;
  // Seen again, a message replaces the previous one (protobufjs does not merge).
  for (let i = 0; i < raw.length; i++) raw[i] = undefined;
  const byId = m.byId;
  while (pos < end) {
    const t = u32(buf, end);
    if (t < 0) return false;
    const wire = t & 7;
    const s = byId[t >>> 3];
    if (s === undefined) {
      if (!skip(buf, end, wire)) return false;
      continue;
    }
    if (s.repeated) {
      let list = s.slot >= 0 ? (raw[s.slot] as unknown[] | undefined) : undefined;
      if (s.slot >= 0 && list === undefined) raw[s.slot] = list = [];
      if (wire === 2 && s.packable) {
        const len = u32(buf, end);
        if (len < 0 || pos + len > end) return false;
        const e = pos + len;
        while (pos < e) {
          const v = value(s, buf, e, depth);
          if (v === FAIL) return false;
          if (list) list.push(v);
        }
        continue;
      }
      if (wire !== s.wire) return false;
      const v = value(s, buf, end, depth);
      if (v === FAIL) return false;
      if (list) list.push(v);
      continue;
    }
    if (wire !== s.wire) return false;
    const v = value(s, buf, end, depth);
    if (v === FAIL) return false;
    if (s.slot >= 0) {
      raw[s.slot] = v;
      if (s.text) m.ends[s.slot] = pos;
    }
  }
  return pos === end;
}

function value(s: Spec, buf: Buffer, end: number, depth: number): unknown {
  switch (s.kind) {
    case I32: { const v = u32(buf, end); return v < 0 ? FAIL : v | 0; }
    case U32: { const v = u32(buf, end); return v < 0 ? FAIL : v; }
    case S32: { const v = u32(buf, end); return v < 0 ? FAIL : ((v >>> 1) ^ -(v & 1)) | 0; }
    case BOOL: { const v = u32(buf, end); return v < 0 ? FAIL : v !== 0; }
    case I64: return v64(buf, end) ? signed() : FAIL;
    case U64: return v64(buf, end) ? unsigned() : FAIL;
    case S64: {
      if (!v64(buf, end)) return FAIL;
      const mask = -(lo & 1);
      lo = (((lo >>> 1) | (hi << 31)) ^ mask) >>> 0;
      hi = ((hi >>> 1) ^ mask) >>> 0;
      return signed();
    }
    case FX32: return pos + 4 > end ? FAIL : fixed32(buf);
    case SFX32: return pos + 4 > end ? FAIL : fixed32(buf) | 0;
    case FX64:
    case SFX64:
      if (pos + 8 > end) return FAIL;
      lo = fixed32(buf);
      hi = fixed32(buf);
      return s.kind === FX64 ? unsigned() : signed();
    case FLOAT:
      if (pos + 4 > end) return FAIL;
      f32b[0] = buf[pos]!; f32b[1] = buf[pos + 1]!; f32b[2] = buf[pos + 2]!; f32b[3] = buf[pos + 3]!;
      pos += 4;
      return f32[0];
    case DOUBLE:
      if (pos + 8 > end) return FAIL;
      for (let i = 0; i < 8; i++) f64b[i] = buf[pos + i]!;
      pos += 8;
      // A signalling NaN comes out of protobufjs's object quieted (bit 51 set): the same bytes reach the column.
      if (f64[0] !== f64[0]) f64b[6]! |= 0x08;
      return f64[0];
    case STRING:
    case BYTES: {
      const len = u32(buf, end);
      if (len < 0 || pos + len > end) return FAIL;
      const from = pos;
      pos += len;
      if (s.slot < 0) return null;
      if (s.kind === STRING) {
        if (s.text && (ascii(buf, from, pos) || isUtf8(buf.subarray(from, pos)))) return from;
        return (buf as Buffer & { utf8Slice(a: number, b: number): string }).utf8Slice(from, pos);
      }
      return len === 0 ? Buffer.alloc(0) : buf.subarray(from, pos);
    }
    default: {
      const len = u32(buf, end);
      if (len < 0 || pos + len > end) return FAIL;
      return readMsg(s.sub!, buf, pos + len, depth + 1) ? true : FAIL;
    }
  }
}

/** A varint as protobufjs's uint32 reads it, or -1 where it would throw or read differently (then protobufjs decides). */
function u32(buf: Buffer, end: number): number {
  if (pos >= end) return -1;
  let b = buf[pos++]!;
  let v = b & 127;
  if (b < 128) return v;
  for (let shift = 7; shift < 28; shift += 7) {
    if (pos >= end) return -1;
    b = buf[pos++]!;
    v |= (b & 127) << shift;
    if (b < 128) return v;
  }
  if (pos >= end) return -1;
  b = buf[pos++]!;
  v = (v | ((b & 15) << 28)) >>> 0;
  if (b < 128) return v;
  // protobufjs skips the next 5 bytes unseen: only a well-formed 10-byte varint reads the same both ways.
  if (pos + 5 > end) return -1;
  for (let i = 0; i < 4; i++) if (buf[pos + i]! < 128) return -1;
  if (buf[pos + 4]! >= 128) return -1;
  pos += 5;
  return v;
}

/** A 64-bit varint into lo/hi; false if truncated or longer than 10 bytes. */
function v64(buf: Buffer, end: number): boolean {
  lo = 0;
  hi = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) return false;
    const b = buf[pos++]!;
    if (i < 4) lo = (lo | ((b & 127) << (i * 7))) >>> 0;
    else if (i === 4) {
      lo = (lo | ((b & 127) << 28)) >>> 0;
      hi = (hi | ((b & 127) >> 4)) >>> 0;
    } else hi = (hi | ((b & 127) << ((i - 5) * 7 + 3))) >>> 0;
    if (b < 128) return true;
  }
  return false;
}

function ascii(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i]! > 127) return false;
  return true;
}

function fixed32(buf: Buffer): number {
  const v = (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
  pos += 4;
  return v;
}

/** lo/hi as protobuf.ts fromLong gives a Long: a number while exact, else a bigint. */
function signed(): number | bigint {
  const n = (hi | 0) * 4294967296 + lo;
  return Number.isSafeInteger(n) ? n : (BigInt(hi | 0) << 32n) | BigInt(lo);
}

function unsigned(): number | bigint {
  const n = hi * 4294967296 + lo;
  return Number.isSafeInteger(n) ? n : (BigInt(hi) << 32n) | BigInt(lo);
}

/** An unknown field skipped as protobufjs's skipType does; groups and invalid wire types: false. */
function skip(buf: Buffer, end: number, wire: number): boolean {
  switch (wire) {
    case 0:
      do if (pos >= end) return false;
      while (buf[pos++]! & 128);
      return true;
    case 1:
      if (pos + 8 > end) return false;
      pos += 8;
      return true;
    case 2: {
      const len = u32(buf, end);
      if (len < 0 || pos + len > end) return false;
      pos += len;
      return true;
    }
    case 5:
      if (pos + 4 > end) return false;
      pos += 4;
      return true;
    default:
      return false;
  }
}
