/**
 * mapping — from a schema'd record (Avro, Protobuf) to the table's columns,
 * by field name: the rules of the README's "Formats and Schema Registry"
 * type table, in one place for both formats.
 *
 * Contract: a format describes its schema as a FieldType tree (avro.ts,
 * protobuf.ts) and decodes a payload into plain JS objects; `plan()` binds
 * that tree to a TableSchema once per (schema version, table version)
 * (`paths` lets a format's direct reader apply the same rules to bytes):
 *  - column `x` takes the top-level field `x`; a column `a.b` takes field
 *    `b` of the nested record `a` (through arrays of records too: `n.x`
 *    of `n: [{x}]` is the array of the x's — how ClickHouse's Nested
 *    columns are named);
 *  - a column with no field is absent: the column's default (a newer or
 *    older schema version maps through column defaults);
 *  - a field with no column is reported as unknown (schema drift), and
 *    refuses the record in strict mode (decoder.ts);
 *  - a field whose type cannot be its column's type (an array into an
 *    Int32, a record into a Date…) makes the plan fail with a reason naming
 *    the field, its type, the column and the column's type: every record of
 *    that schema version is dead-lettered with it; nothing is guessed.
 * The values handed to the codecs are what codecs/codec.ts `value()` takes
 * (numbers, bigints, strings, bytes, arrays, Maps, objects); a value a codec
 * refuses (out of range, not an Enum element) is that record's reason.
 */
import type { TableSchema } from './decoder.js';
import type { TypeNode } from './types.js';

export type FieldType =
  /** Passed to the codec as decoded (ints, floats, strings, booleans, bytes); `fix` adapts the decoder's value (e.g. a 64-bit Long). */
  | { readonly k: 'scalar'; readonly name: string; readonly bytes?: boolean; readonly fix?: (v: unknown) => unknown }
  /** An instant; `ns` gives nanoseconds since the epoch as a bigint (exact), `ms` milliseconds as a number (the fast path to DateTime and Date). */
  | { readonly k: 'time'; readonly name: string; readonly ns: (v: unknown) => bigint; readonly ms: (v: unknown) => number }
  /** Days since the epoch. */
  | { readonly k: 'date'; readonly name: string }
  /** Two's-complement big-endian unscaled bytes. */
  | { readonly k: 'decimal'; readonly name: string; readonly scale: number }
  | { readonly k: 'enum'; readonly name: string; readonly symbol: (v: unknown) => string; readonly index: (v: unknown) => number }
  | { readonly k: 'array'; readonly name: string; readonly items: FieldType }
  | { readonly k: 'map'; readonly name: string; readonly values: FieldType }
  | { readonly k: 'record'; readonly name: string; readonly fields: readonly Field[] }
  /** May be null (Avro union with null, Protobuf wrappers and optional fields). `unwrap` turns a present value into the inner one. */
  | { readonly k: 'nullable'; readonly name: string; readonly inner: FieldType; readonly unwrap?: (v: unknown) => unknown };

export interface Field {
  readonly name: string;
  readonly type: FieldType;
  /** The field's value from its record object; undefined or null: absent. */
  readonly get: (o: Record<string, unknown>) => unknown;
  /** How `get` reads it, when it is a plain property read (`own`: only an own property counts): lets `plan` compile the reads. */
  readonly access?: { readonly key: string; readonly own: boolean };
}

export type Conv = (v: unknown) => unknown;

export interface Plan {
  /** Per schema column: how to read its value from the record, or undefined (absent: default). */
  readonly readers: ReadonlyArray<((o: Record<string, unknown>) => unknown) | undefined>;
  /** Every column's value into `values` (undefined: absent), as `readers` would, compiled once per plan. */
  readonly fill: (o: Record<string, unknown>, values: unknown[]) => void;
  /** Top-level fields with no column (schema drift). */
  readonly unknown: readonly string[];
  /**
   * Per schema column: the fields from the root to its leaf, the leaf's
   * converter, and whether the path goes through an array of records — what
   * a format needs to read the column straight from its bytes (protobuf-
   * reader.ts) with the same result as `readers`.
   */
  readonly paths: ReadonlyArray<ColumnPath | undefined>;
}

export interface ColumnPath {
  readonly fields: readonly Field[];
  readonly conv: Conv | null;
  readonly inArray: boolean;
  /** The column's type. */
  readonly target: TypeNode;
}

/** A plan, or why the schema cannot fill the table. */
export function plan(root: FieldType & { k: 'record' }, schema: TableSchema): Plan | string {
  const filled = new Set(schema.filled ?? []);
  const used = new Set<string>();
  const readers: Array<((o: Record<string, unknown>) => unknown) | undefined> = [];
  const convs: Array<Conv | null> = [];
  const direct: Array<Field['access'] | undefined> = [];
  const paths: Array<ColumnPath | undefined> = [];
  for (const c of schema.columns) {
    const path = resolve(root, c.name);
    if (!path) {
      paths.push(undefined);
      readers.push(undefined);
      convs.push(null);
      direct.push(undefined);
      continue;
    }
    used.add(path.top);
    const conv = converter(path.type, c.type);
    if (typeof conv === 'string') return `field ${path.label} (${path.type.name}) cannot be column ${c.name} (${c.type.text}): ${conv}`;
    readers.push(path.read(conv));
    paths.push({ fields: path.fields, conv, inArray: path.inArray, target: c.type });
    convs.push(conv);
    direct.push(path.access);
  }
  const unknown = root.fields.map((f) => f.name).filter((n) => !used.has(n) && !filled.has(n) && !schema.computed.includes(n));
  return { readers, unknown, paths, fill: compileFill(readers, convs, direct) };
}

/**
 * One function that reads every column's field: property reads with
 * constant keys (one inline cache each, where a shared `o[key]` closure
 * would be a megamorphic lookup per field — most of the cost of a row).
 * Keys go in as JSON string literals, never as code.
 */
function compileFill(readers: Plan['readers'], convs: ReadonlyArray<Conv | null>, direct: ReadonlyArray<Field['access'] | undefined>): Plan['fill'] {
  const lines: string[] = [];
  for (let i = 0; i < readers.length; i++) {
    const a = direct[i];
    if (!readers[i]) lines.push(`v[${i}] = undefined;`);
    else if (!a) lines.push(`v[${i}] = r[${i}](o);`);
    else {
      const key = JSON.stringify(a.key);
      const read = a.own ? `(has.call(o, ${key}) ? o[${key}] : undefined)` : `o[${key}]`;
      lines.push(convs[i] ? `x = ${read}; v[${i}] = x === undefined || x === null ? x : c[${i}](x);` : `v[${i}] = ${read};`);
    }
  }
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from the schema's field names, quoted
  const make = new Function('r', 'c', 'has', `return function fill(o, v) { let x; ${lines.join(' ')} };`) as (r: Plan['readers'], c: ReadonlyArray<Conv | null>, has: typeof Object.prototype.hasOwnProperty) => Plan['fill'];
  return make(readers, convs, Object.prototype.hasOwnProperty);
}

interface Path {
  readonly top: string;
  /** A top-level field read as a plain property. */
  readonly access?: Field['access'];
  readonly label: string;
  readonly type: FieldType;
  readonly fields: readonly Field[];
  readonly inArray: boolean;
  read(conv: Conv | null): (o: Record<string, unknown>) => unknown;
}

/** `name` as a top-level field, or as a dotted path through nested records (and arrays of them). */
function resolve(root: FieldType & { k: 'record' }, name: string): Path | undefined {
  const direct = root.fields.find((f) => f.name === name);
  if (direct) return { top: name, label: JSON.stringify(name), type: direct.type, fields: [direct], inArray: false, ...(direct.access && { access: direct.access }), read: (conv) => (conv ? (o) => present(direct.get(o), conv) : direct.get) };
  const parts = name.split('.');
  if (parts.length < 2) return undefined;
  let type: FieldType = root;
  let inArray = false;
  const steps: Array<{ field: Field; nullable: ((v: unknown) => unknown) | undefined; array: boolean }> = [];
  for (const part of parts) {
    let nullable: ((v: unknown) => unknown) | undefined;
    let array = false;
    if (type.k === 'nullable') {
      nullable = type.unwrap ?? ((v) => v);
      type = type.inner;
    }
    if (type.k === 'array' && steps.length > 0) {
      array = true;
      inArray = true;
      type = type.items;
    }
    if (type.k !== 'record') return undefined;
    const field = type.fields.find((f) => f.name === part);
    if (!field) return undefined;
    steps.push({ field, nullable, array });
    type = field.type;
  }
  const leaf = type;
  return {
    top: parts[0]!,
    label: JSON.stringify(name),
    fields: steps.map((s) => s.field),
    inArray,
    // A leaf inside an array of records: the column holds one element per record.
    type: inArray ? { k: 'array', name: `array<${leaf.name}>`, items: leaf } : leaf,
    read(conv) {
      const walk = (o: unknown, i: number): unknown => {
        if (o === null || o === undefined) return undefined;
        if (i === steps.length) return o;
        const s = steps[i]!;
        let v: unknown = o;
        if (s.nullable) v = s.nullable(v);
        if (s.array) return Array.isArray(v) ? v.map((e) => walk(s.field.get(e as Record<string, unknown>), i + 1) ?? null) : undefined;
        return walk(s.field.get(v as Record<string, unknown>), i + 1);
      };
      return (o) => present(walk(o, 0), conv);
    },
  };
}

function present(v: unknown, conv: Conv | null): unknown {
  return v === undefined || v === null || !conv ? v : conv(v);
}

export function bare(t: TypeNode): TypeNode {
  while (t.kind === 'nullable' || t.kind === 'lowcardinality') t = t.inner;
  return t;
}

const TEN = [1n, 10n, 100n, 1000n, 10_000n, 100_000n, 1_000_000n, 10_000_000n, 100_000_000n, 1_000_000_000n];

/** How a value of `ft` becomes a value the column's codec takes; null: as it is; a string: it cannot. */
export function converter(ft: FieldType, target: TypeNode): Conv | null | string {
  const t = bare(target);
  switch (ft.k) {
    case 'nullable': {
      const inner = converter(ft.inner, target);
      if (typeof inner === 'string') return inner;
      const unwrap = ft.unwrap;
      if (!unwrap) return inner;
      return inner ? (v) => { const u = unwrap(v); return u === null || u === undefined ? u : inner(u); } : unwrap;
    }
    case 'scalar':
      if (t.kind === 'array' || t.kind === 'map' || t.kind === 'tuple') return 'a scalar cannot fill a composite column';
      return ft.fix ?? null;
    case 'time': {
      const { ns, ms } = ft;
      if (t.kind === 'datetime64') { const div = TEN[9 - t.precision]!; return (v) => floorDiv(ns(v), div); }
      // Whole seconds and days from a float millisecond count: exact for any instant DateTime or Date can hold.
      if (t.kind === 'datetime') return (v) => Math.floor(ms(v) / 1000);
      if (t.kind === 'date' || t.kind === 'date32') return (v) => Math.floor(ms(v) / 86_400_000);
      if (t.kind === 'string') return (v) => isoFromNs(ns(v));
      if (t.kind === 'int' || t.kind === 'float' || t.kind === 'decimal') return null;
      return 'an instant fits DateTime, DateTime64, Date, Date32, String or an integer column';
    }
    case 'date':
      if (t.kind === 'date' || t.kind === 'date32' || t.kind === 'int' || t.kind === 'float') return null;
      if (t.kind === 'datetime') return (v) => (v as number) * 86_400;
      if (t.kind === 'datetime64') { const m = TEN[t.precision]!; return (v) => BigInt(v as number) * 86_400n * m; }
      if (t.kind === 'string') return (v) => new Date((v as number) * 86_400_000).toISOString().slice(0, 10);
      return 'a date fits Date, Date32, DateTime, DateTime64, String or an integer column';
    case 'decimal': {
      if (t.kind !== 'decimal' && t.kind !== 'string' && t.kind !== 'float') return 'a decimal fits Decimal, String or Float columns';
      const scale = ft.scale;
      return (v) => decimalText(v as Uint8Array, scale);
    }
    case 'enum': {
      if (t.kind === 'enum' || t.kind === 'string') return ft.symbol;
      if (t.kind === 'int') return ft.index;
      return 'an enum fits Enum, String or integer columns';
    }
    case 'array': {
      if (t.kind === 'string') return toJson;
      if (t.kind !== 'array') return 'an array fits Array columns (or String, as JSON)';
      const inner = converter(ft.items, t.inner);
      if (typeof inner === 'string') return inner;
      return inner ? (v) => (v as unknown[]).map((e) => (e === null || e === undefined ? e : inner(e))) : null;
    }
    case 'map': {
      if (t.kind === 'string') return toJson;
      if (t.kind !== 'map') return 'a map fits Map columns (or String, as JSON)';
      const inner = converter(ft.values, t.value);
      if (typeof inner === 'string') return inner;
      return inner ? (v) => mapValues(v, inner) : null;
    }
    case 'record': {
      if (t.kind === 'string') return toJson;
      if (t.kind !== 'tuple') return 'a record fits Tuple columns, String (as JSON) or flattened `a.b` columns';
      const names = t.names;
      const fields: Array<{ get: Field['get']; conv: Conv | null }> = [];
      for (let i = 0; i < t.elements.length; i++) {
        const f = names ? ft.fields.find((x) => x.name === names[i]) : ft.fields[i];
        if (!f) {
          if (names) return `the record has no field ${names[i]} for the tuple element`;
          return `the record has ${ft.fields.length} fields, the tuple ${t.elements.length} elements`;
        }
        const c = converter(f.type, t.elements[i]!);
        if (typeof c === 'string') return `field ${f.name}: ${c}`;
        fields.push({ get: f.get, conv: c });
      }
      // Always positional: the tuple codec takes an array in element order.
      return (v) => fields.map((f) => present(f.get(v as Record<string, unknown>), f.conv));
    }
  }
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b < 0n ? q - 1n : q;
}

/** The largest instant a JS Date holds, in ms either side of 1970. */
const DATE_LIMIT_MS = 8_640_000_000_000_000n;

function isoFromNs(ns: bigint): string {
  const ms = floorDiv(ns, 1_000_000n);
  if (ms > DATE_LIMIT_MS || ms < -DATE_LIMIT_MS) throw new RangeError(`instant ${ns} ns is past what a date can be (±8.64e15 ms from 1970)`);
  const sub = ns - ms * 1_000_000n;
  const iso = new Date(Number(ms)).toISOString();
  return sub === 0n ? iso : iso.replace('Z', String(sub).padStart(6, '0') + 'Z');
}

/** Unscaled two's-complement big-endian bytes as decimal text (what the Decimal codec parses exactly). */
export function decimalText(bytes: Uint8Array, scale: number): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  if (bytes.length > 0 && bytes[0]! & 0x80) n -= 1n << BigInt(bytes.length * 8);
  const neg = n < 0n;
  const digits = (neg ? -n : n).toString().padStart(scale + 1, '0');
  const text = scale > 0 ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return neg ? '-' + text : text;
}

function mapValues(v: unknown, conv: Conv): Map<unknown, unknown> {
  const entries = v instanceof Map ? [...v.entries()] : Object.entries(v as object);
  return new Map(entries.map(([k, x]) => [k, x === null || x === undefined ? x : conv(x)]));
}

/** Nested values as JSON text: bigints as numbers' text, bytes as base64. */
export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return x.toString();
    if (x instanceof Map) return Object.fromEntries(x);
    if (x instanceof Uint8Array) return Buffer.from(x).toString('base64');
    if (x !== null && typeof x === 'object' && typeof (x as { toJSON?: unknown }).toJSON !== 'function' && 'low' in x && 'high' in x && 'unsigned' in x) return String(x);
    return x;
  });
}
