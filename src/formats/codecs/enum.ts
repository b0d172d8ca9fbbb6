/**
 * enum — Enum8 and Enum16, written as their Int8/Int16 value.
 *
 * Accepts an element's name (bytes compared, no JS string made), or its
 * number as a JSON number or digits in a string when no name matches
 * (26.x does both; 18.16 only names). Refuses unknown names and numbers
 * that are not an element. The zero value (an omitted field) is the
 * smallest element, which is what both servers store.
 */
import type { JsonCursor } from '../json-cursor.js';
import { num, scanNumber } from '../number-text.js';
import type { RowWriter } from '../row-writer.js';
import type { TypeNode } from '../types.js';
import { describe, quoteBytes, ScalarCodec, type Reason } from './codec.js';

export class EnumCodec extends ScalarCodec {
  private readonly names: Buffer[];
  private readonly values: number[];
  private readonly wide: boolean;
  private readonly smallest: number;

  constructor(type: Extract<TypeNode, { kind: 'enum' }>) {
    super(type);
    this.names = type.values.map(([n]) => Buffer.from(n, 'utf8'));
    this.values = type.values.map(([, v]) => v);
    this.wide = type.bits === 16;
    this.smallest = Math.min(...this.values);
  }

  protected override jsonNumber(c: JsonCursor, out: RowWriter): Reason {
    return this.byNumber(out, () => quoteBytes(c.buf, num.start, num.end));
  }

  private byNumber(out: RowWriter, show: () => string): Reason {
    const v = num.neg ? -num.mant : num.mant;
    if (!num.isInt || num.sig > 6 || !this.values.includes(v)) return `${show()} is not an element of ${this.type.text}`;
    this.write(v, out);
    return undefined;
  }

  text(buf: Uint8Array, start: number, end: number, out: RowWriter): Reason {
    const len = end - start;
    outer: for (let i = 0; i < this.names.length; i++) {
      const n = this.names[i]!;
      if (n.length !== len) continue;
      for (let j = 0; j < len; j++) if (n[j] !== buf[start + j]) continue outer;
      this.write(this.values[i]!, out);
      return undefined;
    }
    if (len > 0 && scanNumber(buf, start, end, false) === end) return this.byNumber(out, () => quoteBytes(buf, start, end));
    return `${quoteBytes(buf, start, end)} is not an element of ${this.type.text}`;
  }

  private write(v: number, out: RowWriter): void {
    if (this.wide) out.u16(v);
    else out.u8(v);
  }

  protected override plain(v: unknown, out: RowWriter): Reason {
    if (typeof v === 'number' && this.values.includes(v)) { this.write(v, out); return undefined; }
    return `${describe(v)} is not an element of ${this.type.text}`;
  }

  zero(out: RowWriter): void {
    this.write(this.smallest, out);
  }
}
