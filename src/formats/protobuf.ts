/**
 * protobuf — Protobuf payloads: a message type from a registry schema (.proto
 * text and its imports), from a descriptor set file, or from .proto files,
 * compiled with protobufjs, and described as a FieldType tree for the
 * column mapping (mapping.ts).
 *
 * Contract:
 *  - `registryMessage(text, imports, indexes)` finds the message the
 *    Confluent message-index path names (wire.ts) in the schema's file;
 *    `localMessage(files, name)` loads a descriptor set (`protoc
 *    --descriptor_set_out`, any file not ending in .proto) or .proto files
 *    and finds the message by full name. Both return a reason instead of
 *    throwing.
 *  - `decode` turns exactly the payload bytes into a message object or a
 *    reason (truncated input, a wire-type clash, a missing proto2 required
 *    field).
 *  - `direct(paths)` is the fast path for a plan: protobuf-reader.ts reads
 *    the bytes straight into column values where the schema's shape allows
 *    and declines the rest; `decode` is its reference and its fallback.
 * Values: proto3 scalars without presence read their default when absent
 * (0, "", false: the wire cannot tell them from unset); `optional` fields,
 * oneof members and message fields are absent when unset (column default,
 * or NULL for Nullable). 64-bit integers are numbers when exact, else
 * bigints. google.protobuf.Timestamp is an instant; the wrapper types
 * (Int32Value, StringValue…) are their value or absent; enums are their
 * name (number for integer columns); `repeated` is an array; `map<>` a Map;
 * a column named like a oneof takes the name of the member that is set.
 * Field names are kept as written in the .proto (keepCase), so `user_id`
 * maps to column user_id. protobufjs: pure JS, the most used Protobuf
 * library for Node, parses .proto text at run time (what a registry
 * serves) and reads descriptor sets (ext/descriptor); @bufbuild/protobuf
 * needs generated code or a descriptor, not .proto text.
 */
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import 'protobufjs/ext/descriptor/index.js';
import Long from 'long';
import { errorMessage } from '../errors.js';
import type { ColumnPath, Field, FieldType } from './mapping.js';
import { directReader, type DirectFill } from './protobuf-reader.js';

protobuf.util.Long = Long;
protobuf.configure();

export interface ProtobufMessage {
  readonly name: string;
  readonly root: FieldType & { k: 'record' };
  decode(buf: Uint8Array, start: number, end: number): Record<string, unknown> | string;
  /** A reader from the bytes straight to these columns' values (protobuf-reader.ts), or undefined: use `decode`. */
  direct(paths: ReadonlyArray<ColumnPath | undefined>): DirectFill | undefined;
}

const WELL_KNOWN = ['google/protobuf/timestamp.proto', 'google/protobuf/wrappers.proto', 'google/protobuf/duration.proto', 'google/protobuf/empty.proto', 'google/protobuf/struct.proto', 'google/protobuf/any.proto', 'google/protobuf/field_mask.proto'];

function rootWithWellKnown(): protobuf.Root {
  const root = new protobuf.Root();
  for (const f of WELL_KNOWN) {
    const common = protobuf.common.get(f) as { nested?: Record<string, protobuf.AnyNestedObject> } | null;
    if (common?.nested) root.addJSON(common.nested);
  }
  return root;
}

/** The message a registry schema's message-index path names. */
export function registryMessage(text: string, imports: ReadonlyMap<string, string>, indexes: readonly number[]): ProtobufMessage | string {
  try {
    const root = rootWithWellKnown();
    for (const [name, source] of imports) {
      // Well-known types come with protobufjs; a registry may list them as references too.
      if (name.startsWith('google/protobuf/')) continue;
      protobuf.parse(source, root, { keepCase: true });
    }
    const parsed = protobuf.parse(text, root, { keepCase: true });
    root.resolveAll();
    // The index path counts messages in the order the file declares them: read that order from the file alone.
    const alone = protobuf.parse(text, new protobuf.Root(), { keepCase: true });
    const ns = parsed.package ? alone.root.lookup(parsed.package) : alone.root;
    let scope: protobuf.NamespaceBase | null = ns instanceof protobuf.Namespace ? ns : null;
    let type: protobuf.Type | undefined;
    for (const i of indexes) {
      const messages: protobuf.Type[] = (scope?.nestedArray ?? []).filter((n): n is protobuf.Type => n instanceof protobuf.Type);
      type = messages[i];
      if (!type) return `message index path [${indexes.join(',')}] names no message of the schema`;
      scope = type;
    }
    return message(root.lookupType(type!.fullName));
  } catch (err) {
    return `invalid Protobuf schema: ${errorMessage(err)}`;
  }
}

/** A message from a descriptor set file or .proto files (no registry). */
export function localMessage(files: readonly string[], name: string): ProtobufMessage | string {
  try {
    let root: protobuf.Root;
    if (files.every((f) => f.endsWith('.proto'))) {
      root = rootWithWellKnown();
      for (const f of files) protobuf.parse(readFileSync(f, 'utf8'), root, { keepCase: true });
    } else if (files.length === 1) {
      const fromDescriptor = (protobuf.Root as unknown as { fromDescriptor(b: Uint8Array): protobuf.Root }).fromDescriptor;
      root = fromDescriptor(readFileSync(files[0]!));
      // Descriptor sets name fields as declared; protobufjs would camelCase them only when asked.
    } else {
      return 'give either one descriptor set file or .proto files';
    }
    root.resolveAll();
    const type = root.lookupType(name.startsWith('.') ? name.slice(1) : name);
    return message(type);
  } catch (err) {
    return errorMessage(err);
  }
}

function message(type: protobuf.Type): ProtobufMessage {
  const origin = new WeakMap<Field, protobuf.Field>();
  const root = describeType(type, new Map(), origin);
  // One reader, pointed at each payload in place: no view or reader object per record.
  const reader = protobuf.Reader.create(Buffer.alloc(0)) as unknown as { buf: Uint8Array; pos: number; len: number };
  return {
    name: type.fullName.replace(/^\./, ''),
    root,
    decode(buf, start, end) {
      try {
        reader.buf = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
        reader.pos = start;
        reader.len = end;
        return type.decode(reader as unknown as protobuf.Reader, end - start) as unknown as Record<string, unknown>;
      } catch (err) {
        return `payload does not match Protobuf message ${type.fullName.replace(/^\./, '')}: ${errorMessage(err)}`;
      }
    },
    direct: (paths) => directReader(type, (f) => origin.get(f), paths),
  };
}


/** A 64-bit value: a number while exact, else a bigint. */
export function fromLong(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  const l = v as Long;
  // high * 2^32 + low is exact below 2^53; above, the float is not a safe integer and the bigint path runs.
  const n = (l.unsigned ? l.high >>> 0 : l.high) * 4294967296 + (l.low >>> 0);
  if (Number.isSafeInteger(n)) return n;
  return l.unsigned ? (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0) : (BigInt(l.high) << 32n) | BigInt(l.low >>> 0);
}

const NO_BYTES = Buffer.alloc(0);

const LONGS = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

const WRAPPERS = new Set(['.google.protobuf.DoubleValue', '.google.protobuf.FloatValue', '.google.protobuf.Int64Value', '.google.protobuf.UInt64Value', '.google.protobuf.Int32Value', '.google.protobuf.UInt32Value', '.google.protobuf.BoolValue', '.google.protobuf.StringValue', '.google.protobuf.BytesValue']);

function describeType(type: protobuf.Type, seen: Map<string, FieldType & { k: 'record' }>, origin: WeakMap<Field, protobuf.Field>): FieldType & { k: 'record' } {
  const known = seen.get(type.fullName);
  if (known) return known;
  const fields: Field[] = [];
  const rec = { k: 'record' as const, name: `message ${type.fullName.replace(/^\./, '')}`, fields };
  seen.set(type.fullName, rec);
  for (const f of type.fieldsArray) {
    f.resolve();
    const name = f.name;
    let ft = fieldType(f, seen, origin);
    // Presence: unset message fields, `optional` fields and oneof members are absent (no default from the prototype).
    const tracked = !f.repeated && !f.map && (f.resolvedType instanceof protobuf.Type || f.partOf !== null || f.options?.proto3_optional === true);
    if (tracked && ft.k !== 'nullable') ft = { k: 'nullable', name: `optional ${ft.name}`, inner: ft };
    if (isMapEntry(f)) {
      // A map<> read from a descriptor set: protobufjs shows it as `repeated XEntry { key, value }`.
      const entry = f.resolvedType as protobuf.Type;
      const values = valueType(entry.fields.value!, seen, origin);
      fields.push({ name, type: { k: 'map', name: `map<${entry.fields.key!.type},${values.name}>`, values }, get: (m) => entryMap(m[name]) });
      continue;
    }
    const field: Field = { name, type: ft, get: tracked ? (m) => (Object.prototype.hasOwnProperty.call(m, name) ? m[name] : undefined) : (m) => m[name], access: { key: name, own: tracked } };
    origin.set(field, f);
    fields.push(field);
  }
  for (const o of type.oneofsArray) {
    // proto3 `optional` is a synthetic oneof named _field: not a oneof of the schema's author.
    if (o.name.startsWith('_') && o.oneof.length === 1) continue;
    const members = o.oneof;
    fields.push({ name: o.name, type: { k: 'scalar', name: `oneof ${o.name}` }, get: (m) => members.find((n) => Object.prototype.hasOwnProperty.call(m, n) && m[n] !== null) });
  }
  return rec;
}

function isMapEntry(f: protobuf.Field): boolean {
  const rt = f.resolvedType;
  return f.repeated && rt instanceof protobuf.Type && (rt.options as Record<string, unknown> | undefined)?.map_entry === true && rt.fields.key !== undefined && rt.fields.value !== undefined;
}

function entryMap(v: unknown): Map<unknown, unknown> | undefined {
  if (!Array.isArray(v)) return undefined;
  return new Map(v.map((e: { key: unknown; value: unknown }) => [fromLong(e.key), e.value]));
}

function fieldType(f: protobuf.Field, seen: Map<string, FieldType & { k: 'record' }>, origin: WeakMap<Field, protobuf.Field>): FieldType {
  if (f instanceof protobuf.MapField) {
    const values = valueType(f, seen, origin);
    return { k: 'map', name: `map<${f.keyType},${values.name}>`, values };
  }
  const one = valueType(f, seen, origin);
  return f.repeated ? { k: 'array', name: `repeated ${one.name}`, items: one } : one;
}

function valueType(f: protobuf.Field, seen: Map<string, FieldType & { k: 'record' }>, origin: WeakMap<Field, protobuf.Field>): FieldType {
  const rt = f.resolvedType;
  if (rt instanceof protobuf.Enum) {
    const byId = rt.valuesById;
    return { k: 'enum', name: `enum ${rt.name}`, symbol: (v) => byId[v as number] ?? String(v), index: (v) => v as number };
  }
  if (rt instanceof protobuf.Type) {
    if (rt.fullName === '.google.protobuf.Timestamp') {
      return {
        k: 'time',
        name: 'google.protobuf.Timestamp',
        ns: (v) => { const t = v as { seconds: unknown; nanos: number }; return BigInt(fromLong(t.seconds) as number | bigint) * 1_000_000_000n + BigInt(t.nanos ?? 0); },
        ms: (v) => { const t = v as { seconds: unknown; nanos: number }; return Number(fromLong(t.seconds)) * 1000 + (t.nanos ?? 0) / 1e6; },
      };
    }
    if (WRAPPERS.has(rt.fullName)) {
      const inner = rt.fields.value!;
      const t = scalar(inner.type);
      return { k: 'nullable', name: rt.name, inner: t, unwrap: (v) => (v as { value: unknown }).value };
    }
    return describeType(rt, seen, origin);
  }
  return scalar(f.type);
}

function scalar(name: string): FieldType {
  if (LONGS.has(name)) return { k: 'scalar', name, fix: fromLong };
  // An unset proto3 bytes field reads protobufjs's prototype default, an empty array.
  if (name === 'bytes') return { k: 'scalar', name, bytes: true, fix: (v) => (Array.isArray(v) ? NO_BYTES : v) };
  return { k: 'scalar', name };
}
