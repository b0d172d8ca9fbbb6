/**
 * string — String and FixedString(N).
 *
 * String: a JSON string's bytes are copied as they are when it has no
 * escapes (no decode to a JS string), decoded into the row otherwise. A
 * number, boolean, array or object is stored as its JSON text (26.x does
 * this; 18.16 refuses the row — storing the text is never a wrong value).
 * FixedString(N): a string of at most N bytes, padded with zero bytes (as
 * both servers do); longer is refused; non-strings are refused.
 */
import type { JsonCursor } from '../json-cursor.js';
import { QUOTE } from '../json-cursor.js';
import type { RowWriter } from '../row-writer.js';
import type { TypeNode } from '../types.js';
import { describe, quoteBytes, stringContent, scratchEnd, tokenName, type Codec, type Reason } from './codec.js';

export class StringCodec implements Codec {
  readonly nullable = false;
  constructor(readonly type: TypeNode) {}

  json(c: JsonCursor, out: RowWriter): Reason {
    const b = c.buf[c.pos]!;
    if (b === QUOTE) {
      if (!c.scanString()) return c.error;
      if (!c.sEscaped) {
        out.string(c.buf, c.sStart, c.sEnd);
        return undefined;
      }
      const at = out.pos;
      out.u8(0);
      out.patchLength(at, c.unescape(out));
      return undefined;
    }
    const start = c.pos;
    if (!c.skipValue()) return c.error;
    out.string(c.buf, start, c.pos);
    return undefined;
  }

  text(buf: Uint8Array, start: number, end: number, out: RowWriter): Reason {
    out.string(buf, start, end);
    return undefined;
  }

  value(v: unknown, out: RowWriter): Reason {
    if (v === null || v === undefined) { out.u8(0); return undefined; }
    if (typeof v === 'string') {
      // One pass over the string: a short one (< 43 UTF-16 units, < 128
      // UTF-8 bytes) is written after a one-byte length slot filled in after.
      if (v.length < 43) {
        out.ensure(v.length * 3 + 1);
        const n = out.buf.write(v, out.pos + 1, 'utf8');
        out.buf[out.pos] = n;
        out.pos += n + 1;
        return undefined;
      }
      const n = Buffer.byteLength(v);
      out.varuint(n);
      out.ensure(n);
      out.pos += out.buf.write(v, out.pos, 'utf8');
      return undefined;
    }
    if (v instanceof Uint8Array) { out.string(v, 0, v.length); return undefined; }
    if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return this.value(String(v), out);
    return `${describe(v)} is not a String`;
  }

  zero(out: RowWriter): void {
    out.u8(0);
  }
}

export class FixedStringCodec implements Codec {
  readonly nullable = false;
  private readonly n: number;
  constructor(readonly type: Extract<TypeNode, { kind: 'fixedstring' }>) {
    this.n = type.length;
  }

  json(c: JsonCursor, out: RowWriter): Reason {
    const b = c.buf[c.pos]!;
    if (b !== QUOTE) return `${tokenName(b)} is not a ${this.type.text}`;
    if (!c.scanString()) return c.error;
    if (!c.sEscaped) return this.text(c.buf, c.sStart, c.sEnd, out);
    const buf = stringContent(c);
    return this.text(buf, 0, scratchEnd(), out);
  }

  text(buf: Uint8Array, start: number, end: number, out: RowWriter): Reason {
    const len = end - start;
    if (len > this.n) return `${quoteBytes(buf, start, end)} is ${len} bytes, longer than ${this.type.text}`;
    out.bytes(buf, start, end);
    if (len < this.n) out.zeros(this.n - len);
    return undefined;
  }

  value(v: unknown, out: RowWriter): Reason {
    if (v === null || v === undefined) { this.zero(out); return undefined; }
    if (typeof v === 'string') {
      const bytes = Buffer.from(v, 'utf8');
      return this.text(bytes, 0, bytes.length, out);
    }
    if (v instanceof Uint8Array) return this.text(v, 0, v.length, out);
    return `${describe(v)} is not a ${this.type.text}`;
  }

  zero(out: RowWriter): void {
    out.zeros(this.n);
  }
}
