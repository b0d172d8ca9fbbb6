/**
 * float — Float32 and Float64.
 *
 * Accepts a JSON number (correctly rounded; Float32 via the double, as
 * ClickHouse reads it too), the number in a string ("1.5", "+1", ".5",
 * "nan", "inf", "-Infinity"), true/false as 1/0 (26.x; 18.16 refuses).
 * Refuses "" and other text (26.x refuses "", 18.16 stores 0: sluice
 * takes the newer, stricter rule). 1e400 is +inf, as on both servers.
 */
import type { JsonCursor } from '../json-cursor.js';
import { numberAsDouble, scanNumber } from '../number-text.js';
import type { RowWriter } from '../row-writer.js';
import type { TypeNode } from '../types.js';
import { quoteBytes, ScalarCodec, type Reason } from './codec.js';

export class FloatCodec extends ScalarCodec {
  private readonly f32: boolean;
  constructor(type: Extract<TypeNode, { kind: 'float' }>) {
    super(type);
    this.f32 = type.bits === 32;
  }

  protected override jsonNumber(c: JsonCursor, out: RowWriter): Reason {
    this.write(numberAsDouble(c.buf), out);
    return undefined;
  }

  protected override jsonBool(v: boolean, out: RowWriter): Reason {
    this.write(v ? 1 : 0, out);
    return undefined;
  }

  text(buf: Uint8Array, start: number, end: number, out: RowWriter): Reason {
    if (start === end || scanNumber(buf, start, end, false) !== end) return `${quoteBytes(buf, start, end)} is not a ${this.type.text}`;
    this.write(numberAsDouble(buf), out);
    return undefined;
  }

  private write(v: number, out: RowWriter): void {
    if (this.f32) out.f32(v);
    else out.f64(v);
  }

  protected override plain(v: unknown, out: RowWriter): Reason {
    if (typeof v === 'number') { this.write(v, out); return undefined; }
    if (typeof v === 'bigint') { this.write(Number(v), out); return undefined; }
    if (typeof v === 'boolean') { this.write(v ? 1 : 0, out); return undefined; }
    return super.plain(v, out);
  }

  zero(out: RowWriter): void {
    out.zeros(this.f32 ? 4 : 8);
  }
}
