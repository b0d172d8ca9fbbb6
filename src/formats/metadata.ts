/**
 * metadata — Kafka metadata columns: table columns sluice fills from the
 * Kafka record (topic, partition, offset, timestamp, key, headers) instead
 * of from its payload, like the virtual columns of ClickHouse's Kafka
 * engine. They make "what is in the warehouse" answerable per partition and
 * offset (failover, audits).
 *
 * Contract:
 *  - `parseMetadataColumns(text)` reads SLUICE_METADATA_COLUMNS
 *    (`field:column,…`, or `none`) into field → column name; throws an
 *    Error saying what is wrong (config.ts names the variable).
 *  - `bindMetadata(schema, columns)` splits a table's schema once per
 *    schema version: the payload schema (what a RowDecoder fills, with the
 *    metadata names listed in `filled` so a payload field of that name is
 *    skipped, never schema drift) and a MetadataWriter for the metadata
 *    columns the table has (undefined when it has none). A metadata column
 *    whose type cannot hold its value throws MetadataTypeError naming the
 *    column, the field and the types it takes: a start-up error.
 *  - `MetadataWriter.write` appends the metadata columns of one row after
 *    the payload columns (the INSERT names payload columns, then metadata
 *    columns: `columns`). It allocates nothing for a record without headers
 *    (the key is copied from the record's chunk, strings are written in
 *    place). Only pure functions of the record: the same record gives the
 *    same bytes, which insert deduplication depends on. It returns a reason
 *    (and sets `failedColumn`) when a value does not fit a narrow type
 *    (partition 300 into a UInt8): that record is then invalid, by itself.
 * Types taken: topic String / LowCardinality(String); partition any
 * integer; offset (U)Int64 or wider; timestamp DateTime, DateTime64(p) or
 * an integer of 64 bits or more (milliseconds); key String,
 * Nullable(String) (NULL for a record without key; plain String stores '')
 * and their LowCardinality forms; headers Map(String, String),
 * Array(Tuple(String, String)) (both in the record's header order, a
 * repeated header once per value; kafkajs hands headers over as a JS
 * object, so names that are whole numbers come first, in numeric order —
 * still the same order for the same record) or String (a JSON object; a repeated
 * header's values as an array) — or, when the table has no column of that
 * name, `<name>.name` and `<name>.value` Array(String) columns: a
 * `Nested(name String, value String)` column, the Kafka engine's own
 * `_headers.name` / `_headers.value`; also `<name>.1` and `<name>.2`,
 * which is how 18.16 stores an Array(Tuple(String, String)) column (it
 * splits it into two arrays; it has no Map).
 */
import { SluiceError } from '../errors.js';
import { ChunkRecord, type SourceRecord } from '../kafka/record.js';
import type { Codec, Reason } from './codecs/index.js';
import type { ColumnSchema, TableSchema } from './decoder.js';
import type { RowWriter } from './row-writer.js';
import type { TypeNode } from './types.js';
import { envelopeStep, isTimeColumn } from './envelope-columns.js';
import type { EnvelopeReader, FieldRef } from './envelope.js';

export const METADATA_FIELDS = ['topic', 'partition', 'offset', 'timestamp', 'key', 'headers'] as const;
export type MetadataField = (typeof METADATA_FIELDS)[number];
/** Field → the name of the column that receives it. */
export type MetadataColumns = ReadonlyMap<MetadataField, string>;

export const DEFAULT_METADATA_COLUMNS_TEXT = METADATA_FIELDS.map((f) => `${f}:_${f}`).join(',');

export function parseMetadataColumns(text: string): MetadataColumns {
  const out = new Map<MetadataField, string>();
  if (text.trim() === 'none') return out;
  const names = new Set<string>();
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const colon = item.indexOf(':');
    const field = (colon < 0 ? item : item.slice(0, colon)).trim();
    const column = colon < 0 ? '' : item.slice(colon + 1).trim();
    if (!(METADATA_FIELDS as readonly string[]).includes(field)) throw new Error(`unknown field "${field}" (fields: ${METADATA_FIELDS.join(', ')}; or none)`);
    if (column === '') throw new Error(`"${item}" names no column (write ${field}:<column>)`);
    if (out.has(field as MetadataField)) throw new Error(`field ${field} is given twice`);
    if (names.has(column)) throw new Error(`column ${column} is given for two fields`);
    out.set(field as MetadataField, column);
    names.add(column);
  }
  if (out.size === 0) throw new Error('no field:column pair (write none to fill no metadata column)');
  return out;
}

/** A metadata column whose type cannot take its value: a start-up error naming the column. */
export class MetadataTypeError extends SluiceError {
  constructor(readonly column: string, readonly field: MetadataField, type: string, takes: string) {
    super('fatal', `column ${column} (Kafka ${field}) is ${type}; it must be ${takes}`);
    this.name = 'MetadataTypeError';
  }
}

/** The coordinates of a record's source, for rows whose record is not the source record itself (sluice replay). */
export interface SourceMeta {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly headers: Readonly<Record<string, unknown>> | undefined;
}

/** Whose metadata the rows carry: the records' own partition, or per record (replay). */
export type RowOrigin = { readonly topic: string; readonly partition: number } | ((record: SourceRecord) => SourceMeta);

/** `r`: whose metadata; `record`: the record itself (its value, for envelope fields). */
type Step = (out: RowWriter, topic: string, partition: number, r: SourceRecord | SourceMeta, record: SourceRecord) => Reason;

export class MetadataWriter {
  /** The columns written, in the order written (after the payload's). */
  readonly columns: readonly string[];
  /** The column of the last write that returned a reason. */
  failedColumn = '';
  private readonly steps: Step[];

  constructor(cols: ReadonlyArray<{ column: string; step: Step }>, private readonly withDefaults: boolean) {
    this.columns = cols.map((c) => c.column);
    this.steps = cols.map((c) => c.step);
  }

  /** Appends the metadata columns of the row of `record` (see the module contract). */
  write(out: RowWriter, origin: RowOrigin, record: SourceRecord): Reason {
    let topic: string;
    let partition: number;
    let r: SourceRecord | SourceMeta;
    if (typeof origin === 'function') {
      r = origin(record);
      topic = r.topic;
      partition = r.partition;
    } else {
      r = record;
      topic = origin.topic;
      partition = origin.partition;
    }
    for (let i = 0; i < this.steps.length; i++) {
      if (this.withDefaults) out.u8(0);
      const reason = this.steps[i]!(out, topic, partition, r, record);
      if (reason !== undefined) {
        this.failedColumn = this.columns[i]!;
        return reason;
      }
    }
    return undefined;
  }
}

export interface BoundSchema {
  /** The columns a RowDecoder fills (metadata columns removed, their names in `filled`). */
  readonly payload: TableSchema;
  readonly metadata: MetadataWriter | undefined;
}

/** Columns filled from envelope fields (SLUICE_ENVELOPE_COLUMNS, envelope-columns.ts). */
export interface EnvelopeColumns {
  readonly columns: ReadonlyMap<string, FieldRef>;
  readonly reader: EnvelopeReader;
}

export function bindMetadata(schema: TableSchema, columns: MetadataColumns, withDefaults: boolean, envelope?: EnvelopeColumns): BoundSchema {
  const fieldOf = new Map<string, MetadataField>();
  for (const [f, c] of columns) fieldOf.set(c, f);
  const payload: ColumnSchema[] = [];
  const steps: Array<{ column: string; step: Step }> = [];
  // Headers as the Kafka engine shows them, and as a `Nested(name String,
  // value String)` column is stored: two parallel arrays `<h>.name` and
  // `<h>.value` (18.16 splits an Array(Tuple(…)) into `<h>.1` and `<h>.2`).
  const headers = columns.get('headers');
  const nestedHeaders = headers !== undefined && !schema.columns.some((c) => c.name === headers);
  for (const c of schema.columns) {
    const field = fieldOf.get(c.name);
    const names = nestedHeaders && c.name.startsWith(headers) ? HEADER_ARRAYS.get(c.name.slice(headers.length)) : undefined;
    const ref = envelope?.columns.get(c.name);
    if (field !== undefined) steps.push({ column: c.name, step: stepFor(field, c) });
    else if (ref !== undefined) steps.push({ column: c.name, step: envelopeColumnStep(c, ref, envelope!.reader) });
    else if (names !== undefined) steps.push({ column: c.name, step: headerArrayStep(c, names) });
    else payload.push(c);
  }
  if (steps.length === 0) return { payload: schema, metadata: undefined };
  return {
    payload: { ...schema, columns: payload, columnNames: payload.map((c) => c.name), filled: steps.map((s) => s.column) },
    metadata: new MetadataWriter(steps, withDefaults),
  };
}

const STRING_TYPES = 'String or LowCardinality(String)';

function stepFor(field: MetadataField, c: ColumnSchema): Step {
  const t = c.type;
  const codec = c.codec;
  const refuse = (takes: string) => new MetadataTypeError(c.name, field, t.text, takes);
  switch (field) {
    case 'topic':
      if (!isString(t)) throw refuse(STRING_TYPES);
      return topicStep(codec);
    case 'partition':
      if (t.kind !== 'int') throw refuse('an integer type (Int32, UInt16, …)');
      return (out, _t, partition) => codec.value(partition, out);
    case 'offset':
      if (t.kind !== 'int' || t.bits < 64) throw refuse('UInt64 or Int64 (Kafka offsets are 64-bit)');
      return (out, _t, _p, r) => codec.value(r.offset, out);
    case 'timestamp':
      return timestampStep(c, refuse);
    case 'key': {
      const inner = t.kind === 'lowcardinality' ? t.inner : t;
      if (!isString(t) && !(inner.kind === 'nullable' && inner.inner.kind === 'string')) throw refuse(`${STRING_TYPES} or Nullable(String)`);
      return (out, _t, _p, r) => writeKey(codec, out, r);
    }
    case 'headers':
      return headersStep(c, refuse);
  }
}

/** The topic's UTF-8 bytes are made once per topic, not per row (encoding a JS string per row cost ~80 ns). */
function topicStep(codec: Codec): Step {
  let last: string | undefined;
  let bytes = Buffer.alloc(0);
  return (out, topic) => {
    if (topic !== last) {
      bytes = Buffer.from(topic, 'utf8');
      last = topic;
    }
    return codec.text(bytes, 0, bytes.length, out);
  };
}

function isString(t: TypeNode): boolean {
  return t.kind === 'string' || (t.kind === 'lowcardinality' && t.inner.kind === 'string');
}

function timestampStep(c: ColumnSchema, refuse: (takes: string) => Error): Step {
  const write = timeWriter(c, refuse);
  return (out, _t, _p, r) => write(out, r.timestamp);
}

/** Writes a time in ms into the column's type (DateTime, DateTime64(p), a 64-bit integer of ms; Nullable of them too). */
function timeWriter(c: ColumnSchema, refuse: (takes: string) => Error): (out: RowWriter, ms: number) => Reason {
  const t = c.type.kind === 'nullable' ? c.type.inner : c.type;
  const codec = c.codec;
  if (t.kind === 'datetime') return (out, ms) => codec.value(Math.floor(ms / 1000), out);
  if (t.kind === 'datetime64') {
    const p = t.precision;
    if (p <= 3) {
      const div = 10 ** (3 - p);
      return (out, ms) => codec.value(Math.floor(ms / div), out);
    }
    // ms × 10^(p-3) stays exact below 2^53 up to microseconds; finer goes through one BigInt.
    if (p <= 6) {
      const mul = 10 ** (p - 3);
      return (out, ms) => codec.value(ms * mul, out);
    }
    const mul = 10n ** BigInt(p - 3);
    return (out, ms) => codec.value(BigInt(ms) * mul, out);
  }
  // A current time in ms is ~1.7e12: narrower integers can never hold it.
  if (t.kind === 'int' && t.bits >= 64) return (out, ms) => codec.value(ms, out);
  throw refuse('DateTime, DateTime64(3) or an integer of 64 bits or more (milliseconds)');
}

function envelopeColumnStep(c: ColumnSchema, ref: FieldRef, reader: EnvelopeReader): Step {
  const write = isTimeColumn(c.type) ? timeWriter(c, () => new Error(`column ${c.name}: not a time type`)) : undefined;
  const step = envelopeStep(c, ref, reader, (out, ms) => write!(out, ms));
  return (out, topic, _p, _r, record) => step(out, topic, record);
}

/** The key's bytes straight from the record's chunk (no Buffer view); null for a record without key. */
function writeKey(codec: Codec, out: RowWriter, r: SourceRecord | SourceMeta): Reason {
  if (r instanceof ChunkRecord) {
    const keys = r.keys;
    if (keys === undefined || r.keyStart < 0) return codec.value(null, out);
    return codec.text(keys, r.keyStart, r.keyEnd, out);
  }
  return codec.value(r.key, out);
}

function headersStep(c: ColumnSchema, refuse: (takes: string) => Error): Step {
  const t = c.type;
  const takes = 'Map(String, String), Array(Tuple(String, String)) or String (JSON)';
  if (isString(t)) {
    const codec = c.codec;
    return (out, _t, _p, r) => codec.value(headersJson(r.headers), out);
  }
  // Map(K, V) and Array(Tuple(K, V)) have one RowBinary form: a count, then the pairs.
  const pair = t.kind === 'map' ? [t.key, t.value] : t.kind === 'array' && t.inner.kind === 'tuple' && t.inner.elements.length === 2 ? t.inner.elements : undefined;
  if (!pair || !pair.every(isString)) throw refuse(takes);
  return (out, _t, _p, r) => {
    writePairs(out, r.headers);
    return undefined;
  };
}

/** Suffix → whether the array holds the names (else the values). */
const HEADER_ARRAYS: ReadonlyMap<string, boolean> = new Map([['.name', true], ['.value', false], ['.1', true], ['.2', false]]);

function headerArrayStep(c: ColumnSchema, names: boolean): Step {
  const t = c.type;
  if (t.kind !== 'array' || !isString(t.inner)) throw new MetadataTypeError(c.name, 'headers', t.text, 'Array(String) (the header names or values of a Nested(name String, value String))');
  return (out, _t, _p, r) => {
    writeArray(out, r.headers, names);
    return undefined;
  };
}

/** The header names (or values) as one Array(String), in the order of writePairs. */
function writeArray(out: RowWriter, headers: Readonly<Record<string, unknown>> | undefined, names: boolean): void {
  out.varuint(headerCount(headers));
  for (const k in headers) {
    const v = headers[k];
    if (Array.isArray(v)) for (const one of v) names ? writeText(out, k) : writeBytes(out, one);
    else if (v !== undefined) names ? writeText(out, k) : writeBytes(out, v);
  }
}

function headerCount(headers: Readonly<Record<string, unknown>> | undefined): number {
  let n = 0;
  for (const k in headers) {
    const v = headers[k];
    n += Array.isArray(v) ? v.length : v === undefined ? 0 : 1;
  }
  return n;
}

function writePairs(out: RowWriter, headers: Readonly<Record<string, unknown>> | undefined): void {
  out.varuint(headerCount(headers));
  for (const k in headers) {
    const v = headers[k];
    if (Array.isArray(v)) {
      for (const one of v) {
        writeText(out, k);
        writeBytes(out, one);
      }
    } else if (v !== undefined) {
      writeText(out, k);
      writeBytes(out, v);
    }
  }
}

function writeText(out: RowWriter, s: string): void {
  const n = Buffer.byteLength(s);
  out.varuint(n);
  out.ensure(n);
  out.pos += out.buf.write(s, out.pos, 'utf8');
}

function writeBytes(out: RowWriter, v: unknown): void {
  if (v instanceof Uint8Array) out.string(v, 0, v.length);
  else writeText(out, v === null ? '' : String(v));
}

const EMPTY_JSON = '{}';

/** The headers as a JSON object (values as UTF-8 text; a repeated header's values as an array). */
export function headersJson(headers: Readonly<Record<string, unknown>> | undefined): string {
  if (headers === undefined) return EMPTY_JSON;
  const o: Record<string, string | string[]> = {};
  for (const k in headers) {
    const v = headers[k];
    if (Array.isArray(v)) o[k] = v.map(text);
    else if (v !== undefined) o[k] = text(v);
  }
  return JSON.stringify(o);
}

function text(v: unknown): string {
  return v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.length).toString('utf8') : v === null ? '' : String(v);
}
