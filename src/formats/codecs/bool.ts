/**
 * bool — Bool (26.x; 18.16 has none): one byte, 0 or 1.
 *
 * Accepts true/false and the numbers 0 and 1, as 26.x does; refuses any
 * other number and every string ("true" included: 26.x refuses it too).
 */
import type { JsonCursor } from '../json-cursor.js';
import { num } from '../number-text.js';
import type { RowWriter } from '../row-writer.js';
import { quoteBytes, ScalarCodec, type Reason } from './codec.js';

export class BoolCodec extends ScalarCodec {
  protected override jsonNumber(c: JsonCursor, out: RowWriter): Reason {
    if (num.isInt && num.mant <= 1 && num.sig <= 1 && !(num.neg && num.mant !== 0)) {
      out.u8(num.mant);
      return undefined;
    }
    return `${quoteBytes(c.buf, num.start, num.end)} is not a Bool (true/false, 1/0)`;
  }

  protected override jsonBool(v: boolean, out: RowWriter): Reason {
    out.u8(v ? 1 : 0);
    return undefined;
  }

  text(buf: Uint8Array, start: number, end: number): Reason {
    return `the string ${quoteBytes(buf, start, end)} is not a Bool (true/false, 1/0)`;
  }

  protected override plain(v: unknown, out: RowWriter): Reason {
    if (typeof v === 'boolean' || v === 0 || v === 1) { out.u8(v ? 1 : 0); return undefined; }
    return super.plain(v, out);
  }

  zero(out: RowWriter): void {
    out.u8(0);
  }
}
