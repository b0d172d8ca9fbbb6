/**
 * nullable — Nullable(T) and LowCardinality(T).
 *
 * Nullable: JSON null (or a JS null/undefined) is NULL, written as the
 * byte 1; any other value is the byte 0 and T's bytes. Its zero value is
 * NULL, which is what both servers store for an omitted Nullable field
 * without a DEFAULT expression. A string "null" is not NULL (both servers
 * refuse it for a Nullable(UInt8); for a Nullable(String) it is text).
 * LowCardinality(T): RowBinary carries plain T values; the dictionary is
 * the server's business. So the codec is T's, null rules included.
 */
import type { JsonCursor } from '../json-cursor.js';
import type { RowWriter } from '../row-writer.js';
import type { TypeNode } from '../types.js';
import type { Codec, Reason } from './codec.js';

export class NullableCodec implements Codec {
  readonly nullable = true;
  constructor(readonly type: TypeNode, private readonly inner: Codec) {}

  json(c: JsonCursor, out: RowWriter): Reason {
    if (c.takeNull()) {
      out.u8(1);
      return undefined;
    }
    out.u8(0);
    return this.inner.json(c, out);
  }

  text(buf: Uint8Array, start: number, end: number, out: RowWriter): Reason {
    out.u8(0);
    return this.inner.text(buf, start, end, out);
  }

  value(v: unknown, out: RowWriter): Reason {
    if (v === null || v === undefined) {
      out.u8(1);
      return undefined;
    }
    out.u8(0);
    return this.inner.value(v, out);
  }

  zero(out: RowWriter): void {
    out.u8(1);
  }
}

export function lowCardinality(type: TypeNode, inner: Codec): Codec {
  return {
    type,
    nullable: inner.nullable,
    json: (c, out) => inner.json(c, out),
    text: (buf, s, e, out) => inner.text(buf, s, e, out),
    value: (v, out) => inner.value(v, out),
    zero: (out) => inner.zero(out),
  };
}
