/**
 * decoder — the seam every record format plugs into, and the table schema
 * it is bound to.
 *
 * Contract: a RowDecoder is built once per (table schema, layout) and turns
 * one record value into exactly one row appended to a RowWriter, or into
 * nothing: `decode` returns `{ ok: true }` with the row written, or
 * `{ ok: false, column, reason }` with the writer rolled back to where it
 * was (no partial row, ever). Either way `unknown` lists the record's
 * fields the table has no column for (schema drift, counted by the caller;
 * a strict decoder refuses such records instead). JSON implements it now
 * (json.ts); Protobuf and Avro will decode to plain values and use
 * `writeValues`, which applies the same column rules.
 *
 * Rows hold the schema's insertable columns in schema order: the INSERT
 * must name exactly `schema.columnNames`, in that order. Layout:
 *   RowBinary              each column's value; an absent field gets the
 *                          type's zero value (what 18.16's JSONEachRow
 *                          stores: it ignores DEFAULT expressions, checked
 *                          on the server).
 *   RowBinaryWithDefaults  (servers from mid-2023 on; clickhouse/schema.ts
 *                          hasRowBinaryWithDefaults asks the server) a 0
 *                          byte and the value, or a 1 byte alone for an
 *                          absent field of a column with a DEFAULT
 *                          expression: the server evaluates it, as its own
 *                          JSONEachRow does with input_format_defaults_for_
 *                          omitted_fields=1 (checked in chdb). An absent
 *                          field without one is written as 0 + the zero
 *                          value: 26.x fills a 1 byte with the column's raw
 *                          default, which for an Enum without element 0 is
 *                          the invalid value 0 (the table then fails to read).
 * JSON null in a non-Nullable column counts as absent (26.x's
 * input_format_null_as_default, the default there).
 * MATERIALIZED, ALIAS and EPHEMERAL columns are never written (the server
 * computes or refuses them); a field named like one is skipped, and is not
 * schema drift. Kafka metadata columns (metadata.ts) are not the decoder's
 * either: `filled` names them, and a field named like one is skipped.
 */
import type { ColumnInfo, DefaultKind, TableColumns } from '../clickhouse/schema.js';
import { codecFor, type Codec, type CodecOptions } from './codecs/index.js';
import type { RowWriter } from './row-writer.js';
import { acceptsNull, parseType, UnsupportedTypeError, type TypeNode } from './types.js';

export type RowLayout = 'RowBinary' | 'RowBinaryWithDefaults';

export interface ColumnSchema {
  readonly name: string;
  readonly type: TypeNode;
  readonly defaultKind: DefaultKind;
  /** The column has a DEFAULT expression (default kind DEFAULT). */
  readonly hasDefaultExpression: boolean;
  readonly codec: Codec;
}

export interface TableSchema {
  readonly database: string;
  readonly table: string;
  /** Insertable columns in table order: the INSERT's column list. */
  readonly columns: readonly ColumnSchema[];
  readonly columnNames: readonly string[];
  /** MATERIALIZED / ALIAS / EPHEMERAL columns: never written. */
  readonly computed: readonly string[];
  /**
   * Columns sluice fills from the Kafka record, not from the payload
   * (metadata.ts): not in `columns`; a payload field of that name is
   * skipped, in strict mode too, and is not schema drift.
   */
  readonly filled?: readonly string[];
  readonly serverTimezone: string;
}

/**
 * Parses every insertable column's type and builds its codec: once per
 * table (and again after the table changed). Throws UnsupportedTypeError
 * naming the first column whose type sluice cannot encode.
 */
export function tableSchema(info: TableColumns): TableSchema {
  const columns: ColumnSchema[] = [];
  const computed: string[] = [];
  for (const c of info.columns) {
    if (c.defaultKind === 'MATERIALIZED' || c.defaultKind === 'ALIAS' || c.defaultKind === 'EPHEMERAL') {
      computed.push(c.name);
      continue;
    }
    columns.push(columnSchema(c, { serverTimezone: info.serverTimezone, legacyDateRange: legacyDates(info.serverVersion) }));
  }
  if (columns.length === 0) throw new UnsupportedTypeError('', `table ${info.database}.${info.table} has no insertable column`);
  return {
    database: info.database,
    table: info.table,
    columns,
    columnNames: columns.map((c) => c.name),
    computed,
    serverTimezone: info.serverTimezone,
  };
}

/** Before 21.x the server's date tables end with 2105 (checked on 18.16; 26.x goes to 2149). An unknown version counts as modern. */
export function legacyDates(version: string): boolean {
  const major = Number(version.split('.')[0]);
  return Number.isFinite(major) && major > 0 && major < 21;
}

function columnSchema(c: ColumnInfo, opts: CodecOptions): ColumnSchema {
  try {
    const type = parseType(c.type);
    return {
      name: c.name,
      type,
      defaultKind: c.defaultKind,
      hasDefaultExpression: c.defaultKind === 'DEFAULT' && c.defaultExpression !== '',
      codec: codecFor(type, opts),
    };
  } catch (err) {
    if (err instanceof UnsupportedTypeError) throw new UnsupportedTypeError(c.type, err.type === c.type ? err.why : `${err.type}: ${err.why}`, c.name);
    throw err;
  }
}

export type DecodeOutcome =
  | { readonly ok: true; readonly unknown: readonly string[] }
  | { readonly ok: false; readonly column: string | undefined; readonly reason: string; readonly unknown: readonly string[] };

/** The outcome of almost every record: shared, so the hot path allocates nothing. */
export const OK: DecodeOutcome = Object.freeze({ ok: true as const, unknown: Object.freeze([]) as readonly string[] });

export function bad(column: string | undefined, reason: string, unknown: readonly string[] = OK.unknown): DecodeOutcome {
  return { ok: false, column, reason, unknown };
}

export interface RowDecoder {
  readonly schema: TableSchema;
  readonly layout: RowLayout;
  /** Decodes value[start, end) into one row appended to `out`, or into nothing (see the module contract). */
  decode(value: Uint8Array, out: RowWriter, start?: number, end?: number): DecodeOutcome;
}

/** When a column's field is absent: 'default' as the server does; 'reject' refuses the record if the column has no DEFAULT expression and is not Nullable. */
export type MissingPolicy = 'default' | 'reject';

/** Whether a missing field of this column refuses the record under the 'reject' policy. */
export function requiresField(c: ColumnSchema): boolean {
  return !c.hasDefaultExpression && !acceptsNull(c.type);
}

/**
 * One row from plain JS values, one per schema column in order; `undefined`
 * means the field is absent (default), null is NULL for Nullable columns
 * and absent for the others. For decoders that produce values (Avro,
 * Protobuf): same layout and rules as the JSON decoder.
 */
/** A value `SPAN` in column i is the text at spans.buf[start[i], end[i]), written as the JSON path writes a string's bytes (`codec.text`): no string made per value. */
export const SPAN: unique symbol = Symbol('span');

export interface Spans {
  buf: Uint8Array;
  readonly start: number[];
  readonly end: number[];
}

export function writeValues(schema: TableSchema, layout: RowLayout, values: readonly unknown[], out: RowWriter, missing: MissingPolicy = 'default', spans?: Spans): DecodeOutcome {
  const mark = out.mark();
  const cols = schema.columns;
  for (let i = 0; i < cols.length; i++) {
    const c = cols[i]!;
    const v = values[i];
    const absent = v === undefined || (v === null && !c.codec.nullable);
    if (absent) {
      if (missing === 'reject' && requiresField(c)) {
        out.rollback(mark);
        return bad(c.name, 'missing field (the column has no DEFAULT and is not Nullable)');
      }
      if (layout === 'RowBinaryWithDefaults' && c.hasDefaultExpression) out.u8(1);
      else {
        if (layout === 'RowBinaryWithDefaults') out.u8(0);
        c.codec.zero(out);
      }
      continue;
    }
    if (layout === 'RowBinaryWithDefaults') out.u8(0);
    const r = v === SPAN ? c.codec.text(spans!.buf, spans!.start[i]!, spans!.end[i]!, out) : c.codec.value(v, out);
    if (r !== undefined) {
      out.rollback(mark);
      return bad(c.name, r);
    }
  }
  return OK;
}
