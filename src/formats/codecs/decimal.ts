/**
 * decimal — Decimal(P, S) and Decimal32/64/128/256(S), stored as the
 * integer value × 10^S in 4, 8, 16 or 32 bytes.
 *
 * Accepts a JSON number or the number in a string ("1.23"; 26.x takes
 * both, 18.16 only numbers), "" as 0 (26.x). Refuses a value with more
 * than P digits, and one with non-zero digits past the scale: 26.x
 * silently truncates 1.235 into Decimal(9,2) as 1.23 and 18.16 refuses
 * it; a dropped cent is a wrong value, so sluice refuses (trailing zeros,
 * 1.230, are fine). true/false are refused, as on both servers.
 */
import type { JsonCursor } from '../json-cursor.js';
import { num, scaledInteger, scanNumber } from '../number-text.js';
import type { RowWriter } from '../row-writer.js';
import type { TypeNode } from '../types.js';
import { describe, quoteBytes, ScalarCodec, type Reason } from './codec.js';

const MAX_DIGITS = 160;

export class DecimalCodec extends ScalarCodec {
  private readonly scale: number;
  private readonly bytes: number;
  private readonly limit: number;
  private readonly bigLimit: bigint;

  constructor(type: Extract<TypeNode, { kind: 'decimal' }>) {
    super(type);
    this.scale = type.scale;
    this.bytes = type.bits / 8;
    this.bigLimit = 10n ** BigInt(type.precision);
    this.limit = type.precision <= 15 ? 10 ** type.precision : Infinity;
  }

  protected override jsonNumber(c: JsonCursor, out: RowWriter): Reason {
    return this.fromNum(c.buf, out);
  }

  text(buf: Uint8Array, start: number, end: number, out: RowWriter): Reason {
    if (start === end) { this.zero(out); return undefined; }
    if (scanNumber(buf, start, end, false) !== end || num.special !== 0) return `${quoteBytes(buf, start, end)} is not a ${this.type.text}`;
    return this.fromNum(buf, out);
  }

  private fromNum(buf: Uint8Array, out: RowWriter): Reason {
    if (num.sig > MAX_DIGITS || num.exp10 > MAX_DIGITS) return `${quoteBytes(buf, num.start, num.end)} is out of range for ${this.type.text}`;
    const v = scaledInteger(buf, this.scale, false);
    if (typeof v === 'string') return `${quoteBytes(buf, num.start, num.end)} ${v} for ${this.type.text}`;
    return this.write(v, out, () => quoteBytes(buf, num.start, num.end));
  }

  private write(v: number | bigint, out: RowWriter, show: () => string): Reason {
    if (typeof v === 'number') {
      if (v <= -this.limit || v >= this.limit) return `${show()} has more than ${(this.type as { precision: number }).precision} digits for ${this.type.text}`;
      if (this.bytes === 4) { out.u32(v); return undefined; }
      if (this.bytes === 8 && Number.isSafeInteger(v)) { out.i64(v); return undefined; }
      v = BigInt(v);
    }
    if (v <= -this.bigLimit || v >= this.bigLimit) return `${show()} has more than ${(this.type as { precision: number }).precision} digits for ${this.type.text}`;
    out.big(v, this.bytes);
    return undefined;
  }

  protected override plain(v: unknown, out: RowWriter): Reason {
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return `${describe(v)} is not a ${this.type.text}`;
      // Through the shortest decimal text JS prints: 0.1 is 0.1, not 0.1000000000000000055…
      return super.value(String(v), out);
    }
    if (typeof v === 'bigint') return this.write(v * 10n ** BigInt(this.scale), out, () => describe(v));
    return super.plain(v, out);
  }

  zero(out: RowWriter): void {
    out.zeros(this.bytes);
  }
}
