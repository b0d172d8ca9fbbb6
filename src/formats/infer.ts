/**
 * infer — a ClickHouse column type for a JSON field the table lacks, from
 * the values a sample of records carried (schema drift; `sluice check`
 * prints the result as an `ALTER TABLE … ADD COLUMN` suggestion).
 *
 * Contract: a FieldShape folds the values of one field, record by record
 * (`scanFields` reads them straight from a record's bytes, so a number
 * keeps its text: 1.0 is a float, 18446744073709551615 an exact UInt64);
 * `inferType` turns the fold into a type that every value seen fits, as
 * the sink's own codecs read them. The rules:
 *   integers          Int64; UInt64 when some value is above Int64's range
 *                     and none is negative; Float64 past both (rounded —
 *                     the note says so)
 *   any fraction or exponent   Float64 (integers mixed in are fine)
 *   true / false      Bool on servers that have it (21.12+), else UInt8
 *   strings           String; Date when every one is YYYY-MM-DD, DateTime
 *                     when every one is YYYY-MM-DD hh:mm:ss (or with 'T',
 *                     optionally Z or an offset; a date alone is midnight)
 *                     — and the Date/DateTime codec accepts it (range,
 *                     real calendar days). A fraction keeps it a String:
 *                     DateTime would drop it.
 *   arrays            Array(T), T inferred from all elements of all arrays
 *                     (Array(String) when every array was empty)
 *   objects           String, holding the object's JSON text: works on
 *                     every server (18.16 has no Map or JSON type), keeps
 *                     objects whose keys and value types vary, and
 *                     JSONExtract* reads it back. Map(String, T) would need
 *                     21.1+ and one value type; choose it by hand.
 *   nulls             Nullable(T); only nulls seen: Nullable(String). An
 *                     array is never Nullable (ClickHouse refuses it): a
 *                     null there is an empty array, as for any absent field.
 *   mixed kinds       String (the sink stores a number, boolean, array or
 *                     object as its JSON text in a String column).
 * Pure: no I/O. A record is validated whole before anything is folded, so
 * the walk (recursive only into arrays) is bounded by the cursor's maxDepth.
 */
import { parseVersion } from '../clickhouse/features.js';
import { codecFor, type Codec, type CodecOptions } from './codecs/index.js';
import { JsonCursor, COMMA, LBRACE, LBRACKET, QUOTE, RBRACE, RBRACKET } from './json-cursor.js';
import { num, numberText } from './number-text.js';
import { RowWriter } from './row-writer.js';
import { parseType } from './types.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

export class FieldShape {
  /** Values observed (records carrying the field; for an array's elements, elements). */
  seen = 0;
  nulls = 0;
  bools = 0;
  ints = 0;
  floats = 0;
  minInt: bigint | undefined;
  maxInt: bigint | undefined;
  strings = 0;
  /** Strings that are a Date / a Date or DateTime the codecs accept. */
  dates = 0;
  dateTimes = 0;
  objects = 0;
  arrays = 0;
  /** Elements of every array seen, folded together. */
  element: FieldShape | undefined;

  get values(): number {
    return this.seen - this.nulls;
  }

  integer(text: string): void {
    this.ints++;
    const v = BigInt(text);
    if (this.minInt === undefined || v < this.minInt) this.minInt = v;
    if (this.maxInt === undefined || v > this.maxInt) this.maxInt = v;
  }
}

export interface InferOptions {
  /** The server has the Bool type (21.12+); else booleans are UInt8. */
  readonly bool: boolean;
}

export interface InferredType {
  readonly type: string;
  /** Why the type may surprise (only nulls seen, integers past 64 bits, mixed kinds); undefined when plain. */
  readonly note: string | undefined;
}

/** Bool arrived in 21.12; an unknown version counts as without. */
export function serverHasBool(version: string): boolean {
  const [major, minor] = parseVersion(version);
  return major > 21 || (major === 21 && minor >= 12);
}

export function inferType(shape: FieldShape, opts: InferOptions): InferredType {
  const notes: string[] = [];
  const base = baseType(shape, opts, notes);
  const type = shape.nulls > 0 && !base.startsWith('Array(') ? `Nullable(${base})` : base;
  return { type, note: notes.length > 0 ? notes.join('; ') : undefined };
}

function baseType(s: FieldShape, opts: InferOptions, notes: string[]): string {
  const numbers = s.ints + s.floats;
  const kinds = [s.bools, numbers, s.strings, s.objects, s.arrays].filter((n) => n > 0).length;
  if (kinds === 0) {
    if (s.nulls > 0) notes.push('only nulls seen');
    return 'String';
  }
  if (kinds > 1) {
    notes.push('values of different kinds: kept as text (JSON text for non-strings)');
    return 'String';
  }
  if (s.bools > 0) return opts.bool ? 'Bool' : 'UInt8';
  if (numbers > 0) {
    if (s.floats > 0) return 'Float64';
    const lo = s.minInt!;
    const hi = s.maxInt!;
    if (lo >= INT64_MIN && hi <= INT64_MAX) return 'Int64';
    if (lo >= 0n && hi <= UINT64_MAX) return 'UInt64';
    notes.push('integers beyond 64 bits: Float64 rounds them');
    return 'Float64';
  }
  if (s.strings > 0) {
    if (s.dates === s.strings) return 'Date';
    if (s.dateTimes === s.strings) return 'DateTime';
    return 'String';
  }
  if (s.objects > 0) return 'String';
  // Arrays.
  const e = s.element;
  if (!e || e.seen === 0) {
    notes.push('only empty arrays seen');
    return 'Array(String)';
  }
  const inner = inferType(e, opts);
  if (inner.note) notes.push(`elements: ${inner.note}`);
  return `Array(${inner.type})`;
}

// --- Reading values from a record's bytes -----------------------------------

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Reads fields of records, one record at a time. Built once per table: the
 * Date/DateTime codecs check text as the sink would write it.
 */
export class FieldScanner {
  private readonly c: JsonCursor;
  private readonly date: Codec;
  private readonly dateTime: Codec;
  private readonly scratch = new RowWriter(64);

  constructor(opts: CodecOptions, maxDepth = 64) {
    this.c = new JsonCursor(maxDepth);
    this.date = codecFor(parseType('Date'), opts);
    this.dateTime = codecFor(parseType('DateTime'), opts);
  }

  /**
   * Folds the fields of one record value for which `wanted(name)` holds into
   * `shapes` (one FieldShape per name, created as met). Returns the names
   * folded, or undefined when the value is not one JSON object (nothing is
   * folded then).
   */
  scan(value: Uint8Array, wanted: (name: string) => boolean, shapes: Map<string, FieldShape>, start = 0, end = value.length): string[] | undefined {
    const c = this.c;
    c.reset(value, start, end);
    if (c.ws() !== LBRACE) return undefined;
    // Validate the whole record first (depth included): a bad record folds
    // nothing, and the walk below can skip checks.
    if (!c.skipValue() || c.ws() >= 0) return undefined;
    c.reset(value, start, end);
    c.ws();
    c.pos++;
    const names: string[] = [];
    const met = new Set<string>();
    let b = c.ws();
    if (b === RBRACE) return names;
    for (;;) {
      if (b !== QUOTE || !c.scanString()) return names;
      const name = c.sEscaped ? (JSON.parse(Buffer.from(value.buffer, value.byteOffset + c.sStart - 1, c.sEnd - c.sStart + 2).toString('utf8')) as string) : Buffer.from(value.buffer, value.byteOffset + c.sStart, c.sEnd - c.sStart).toString('utf8');
      c.ws();
      c.pos++; // ':' (validated above)
      c.ws();
      if (!met.has(name) && wanted(name)) {
        let shape = shapes.get(name);
        if (!shape) shapes.set(name, (shape = new FieldShape()));
        met.add(name);
        names.push(name);
        this.observe(shape);
      } else c.skipValue();
      b = c.ws();
      if (b !== COMMA) return names;
      c.pos++;
      b = c.ws();
    }
  }

  /** Folds the value at the cursor (already validated) into `s`. */
  private observe(s: FieldShape): void {
    const c = this.c;
    s.seen++;
    const b = c.ws();
    if (b === QUOTE) {
      c.scanString();
      s.strings++;
      if (!c.sEscaped && c.sEnd - c.sStart <= 25) {
        const text = Buffer.from(c.buf.buffer, c.buf.byteOffset + c.sStart, c.sEnd - c.sStart).toString('latin1');
        const mark = this.scratch.mark();
        if (DATE.test(text) && this.date.text(c.buf, c.sStart, c.sEnd, this.scratch) === undefined) s.dates++;
        this.scratch.rollback(mark);
        if ((DATE.test(text) || DATE_TIME.test(text)) && this.dateTime.text(c.buf, c.sStart, c.sEnd, this.scratch) === undefined) s.dateTimes++;
        this.scratch.rollback(mark);
      }
    } else if (b === LBRACE) {
      s.objects++;
      c.skipValue();
    } else if (b === LBRACKET) {
      s.arrays++;
      c.pos++;
      c.depth++;
      if (c.ws() === RBRACKET) c.pos++;
      else {
        const e = (s.element ??= new FieldShape());
        for (;;) {
          this.observe(e);
          const d = c.ws();
          c.pos++;
          if (d === RBRACKET) break;
        }
      }
      c.depth--;
    } else if (b === 0x74 || b === 0x66) {
      s.bools++;
      c.literal(b === 0x74 ? 'true' : 'false');
    } else if (b === 0x6e) {
      s.nulls++;
      c.literal('null');
    } else {
      c.scanNumber();
      if (num.isInt) s.integer(numberText(c.buf));
      else s.floats++;
    }
  }
}

// --- The suggestion as SQL ---------------------------------------------------

const PLAIN_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A name as a ClickHouse identifier: as it is when plain, else backquoted with \ and ` escaped. */
export function quoteIdentifier(name: string): string {
  if (PLAIN_IDENTIFIER.test(name)) return name;
  return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

export function addColumnStatement(database: string, table: string, field: string, type: string): string {
  return `ALTER TABLE ${quoteIdentifier(database)}.${quoteIdentifier(table)} ADD COLUMN ${quoteIdentifier(field)} ${type}`;
}
