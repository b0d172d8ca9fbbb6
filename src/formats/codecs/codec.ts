/**
 * codec — what every column codec does: take one value and append its
 * RowBinary bytes to a RowWriter, or say why the value does not fit.
 *
 * Contract (each entry point): returns undefined when the value was written,
 * or a reason (a short phrase such as "300 is out of range for UInt8");
 * it never throws on bad input. On a reason the caller rolls the row back,
 * so a codec may leave partial bytes behind.
 *   json(c, out)          the hot path: the value's JSON token at c.pos
 *                         (whitespace skipped, never `null` unless the
 *                         codec is `nullable`); leaves c.pos after it
 *   text(buf, s, e, out)  the value as text, e.g. a JSON string's decoded
 *                         content ("42" for a UInt8, a Map key)
 *   value(v, out)         a plain JS value (what Avro/Protobuf decoders will
 *                         hand over): number, bigint, string, boolean, Date,
 *                         Uint8Array, array, Map or object, null/undefined
 *   zero(out)             the type's default value (what ClickHouse stores
 *                         for an omitted field without DEFAULT expression)
 *
 * `ScalarCodec` holds the dispatch shared by scalar types: a JSON string
 * goes through `text` (decoded into a scratch buffer first only if it has
 * escapes), everything else to the type's own handlers.
 */
import type { JsonCursor } from '../json-cursor.js';
import { QUOTE } from '../json-cursor.js';
import { RowWriter } from '../row-writer.js';
import type { TypeNode } from '../types.js';

export type Reason = string | undefined;

export interface Codec {
  readonly type: TypeNode;
  /** JSON null (and a JS null) is a value of this type; for other codecs null means "the default". */
  readonly nullable: boolean;
  json(c: JsonCursor, out: RowWriter): Reason;
  text(buf: Uint8Array, start: number, end: number, out: RowWriter): Reason;
  value(v: unknown, out: RowWriter): Reason;
  zero(out: RowWriter): void;
}

/** Decoded strings with escapes, and JS strings handed to `value`, pass through here. */
const scratch = new RowWriter(4096);

/** The decoded content of the string the cursor just scanned, as [buf, start, end) in scratch. */
export function stringContent(c: JsonCursor): Uint8Array {
  scratch.pos = 0;
  c.unescape(scratch);
  return scratch.buf;
}

export function scratchEnd(): number {
  return scratch.pos;
}

/** A JS string's UTF-8 bytes in scratch: [0, returned length). */
export function encodeString(s: string): number {
  scratch.pos = 0;
  scratch.ensure(s.length * 3);
  scratch.pos = scratch.buf.write(s, 0, 'utf8');
  return scratch.pos;
}

export function scratchBuf(): Buffer {
  return scratch.buf;
}

export function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Date) return `Date(${Number.isNaN(v.getTime()) ? 'invalid' : v.toISOString()})`;
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'object' && v !== null) return 'an object';
  return String(v);
}

export function tokenName(b: number): string {
  if (b === 0x7b) return 'an object';
  if (b === 0x5b) return 'an array';
  if (b === QUOTE) return 'a string';
  if (b === 0x74 || b === 0x66) return 'a boolean';
  if (b === 0x6e) return 'null';
  if (b === 0x2d || (b >= 0x30 && b <= 0x39)) return 'a number';
  return 'not a JSON value';
}

export abstract class ScalarCodec implements Codec {
  readonly nullable: boolean = false;
  constructor(readonly type: TypeNode) {}

  json(c: JsonCursor, out: RowWriter): Reason {
    const b = c.buf[c.pos]!;
    if (b === QUOTE) {
      if (!c.scanString()) return c.error;
      if (!c.sEscaped) return this.text(c.buf, c.sStart, c.sEnd, out);
      const buf = stringContent(c);
      return this.text(buf, 0, scratchEnd(), out);
    }
    if (b === 0x2d || (b >= 0x30 && b <= 0x39)) {
      if (!c.scanNumber()) return c.error;
      return this.jsonNumber(c, out);
    }
    // A valid null never reaches a codec that is not nullable (its caller takes it as the default).
    if (b === 0x6e) return `bad literal at byte ${c.pos}`;
    if (b === 0x74 || b === 0x66) {
      if (c.literal('true')) return this.jsonBool(true, out);
      if (c.literal('false')) return this.jsonBool(false, out);
      return `bad literal at byte ${c.pos}`;
    }
    return `${tokenName(b)} is not a ${this.type.text}`;
  }

  /** A JSON number was just scanned into `num` (number-text.ts). */
  protected jsonNumber(_c: JsonCursor, _out: RowWriter): Reason {
    return `a number is not a ${this.type.text}`;
  }

  protected jsonBool(_v: boolean, _out: RowWriter): Reason {
    return `a boolean is not a ${this.type.text}`;
  }

  abstract text(buf: Uint8Array, start: number, end: number, out: RowWriter): Reason;

  value(v: unknown, out: RowWriter): Reason {
    if (v === null || v === undefined) {
      this.zero(out);
      return undefined;
    }
    if (typeof v === 'string') {
      const n = encodeString(v);
      return this.text(scratchBuf(), 0, n, out);
    }
    return this.plain(v, out);
  }

  /** A non-string, non-null JS value. */
  protected plain(v: unknown, _out: RowWriter): Reason {
    return `${describe(v)} is not a ${this.type.text}`;
  }

  abstract zero(out: RowWriter): void;
}

/** Text of [s, e) for reasons. */
export function quoteBytes(buf: Uint8Array, s: number, e: number): string {
  const n = Math.min(e - s, 40);
  const t = Buffer.from(buf.buffer, buf.byteOffset + s, n).toString('utf8');
  return JSON.stringify(n < e - s ? t + '…' : t);
}
