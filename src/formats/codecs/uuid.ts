/**
 * uuid — UUID: 36-character dashed or 32-character plain hex, any case
 * (26.x takes both; 18.16 only dashed). RowBinary stores it as two UInt64
 * halves, each little-endian: the first 8 bytes reversed, then the last 8.
 */
import type { RowWriter } from '../row-writer.js';
import { quoteBytes, ScalarCodec, type Reason } from './codec.js';

const DASHES = [8, 13, 18, 23];

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}

export class UuidCodec extends ScalarCodec {
  private readonly bytes = new Uint8Array(16);

  text(buf: Uint8Array, start: number, end: number, out: RowWriter): Reason {
    const len = end - start;
    if (len !== 36 && len !== 32) return `${quoteBytes(buf, start, end)} is not a UUID`;
    let k = 0;
    for (let i = 0; i < len;) {
      if (len === 36 && DASHES.includes(i)) {
        if (buf[start + i] !== 0x2d) return `${quoteBytes(buf, start, end)} is not a UUID`;
        i++;
        continue;
      }
      const hi = hexVal(buf[start + i]!);
      const lo = hexVal(buf[start + i + 1]!);
      if (hi < 0 || lo < 0) return `${quoteBytes(buf, start, end)} is not a UUID`;
      this.bytes[k++] = (hi << 4) | lo;
      i += 2;
    }
    out.ensure(16);
    for (let i = 7; i >= 0; i--) out.buf[out.pos++] = this.bytes[i]!;
    for (let i = 15; i >= 8; i--) out.buf[out.pos++] = this.bytes[i]!;
    return undefined;
  }

  zero(out: RowWriter): void {
    out.zeros(16);
  }
}
