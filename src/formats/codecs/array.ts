/**
 * array — Array(T): a varint element count, then the elements.
 *
 * Accepts a JSON array; null is the empty array (26.x; 18.16 refuses).
 * A null element of a non-Nullable T is T's zero value ([1,null] is
 * [1,0] on both servers). The count is unknown until the closing bracket,
 * so one byte is reserved and widened afterwards if needed (RowWriter.
 * patchLength). Nesting depth is bounded by the cursor's maxDepth.
 */
import { COMMA, RBRACKET, type JsonCursor } from '../json-cursor.js';
import type { RowWriter } from '../row-writer.js';
import type { TypeNode } from '../types.js';
import { describe, tokenName, type Codec, type Reason } from './codec.js';

export class ArrayCodec implements Codec {
  readonly nullable = false;
  constructor(readonly type: TypeNode, private readonly inner: Codec) {}

  json(c: JsonCursor, out: RowWriter): Reason {
    const b = c.buf[c.pos]!;
    if (b !== 0x5b) return `${tokenName(b)} is not an array (${this.type.text})`;
    if (++c.depth > c.maxDepth) return `nested deeper than ${c.maxDepth}`;
    c.pos++;
    const at = out.pos;
    out.u8(0);
    let n = 0;
    if (c.ws() === RBRACKET) c.pos++;
    else {
      for (;;) {
        if (c.ws() < 0) return 'unexpected end of input';
        if (!this.inner.nullable && c.takeNull()) this.inner.zero(out);
        else {
          const r = this.inner.json(c, out);
          if (r !== undefined) return r;
        }
        n++;
        const d = c.ws();
        if (d === COMMA) { c.pos++; continue; }
        if (d === RBRACKET) { c.pos++; break; }
        return `expected , or ] at byte ${c.pos}`;
      }
    }
    c.depth--;
    out.patchLength(at, n);
    return undefined;
  }

  text(buf: Uint8Array, start: number, end: number): Reason {
    return `a string is not an array (${this.type.text}): ${JSON.stringify(Buffer.from(buf.subarray(start, Math.min(end, start + 40))).toString())}`;
  }

  value(v: unknown, out: RowWriter): Reason {
    if (v === null || v === undefined) { out.u8(0); return undefined; }
    if (!Array.isArray(v)) return `${describe(v)} is not an array (${this.type.text})`;
    out.varuint(v.length);
    for (const el of v) {
      const r = this.inner.value(el, out);
      if (r !== undefined) return r;
    }
    return undefined;
  }

  zero(out: RowWriter): void {
    out.u8(0);
  }
}
