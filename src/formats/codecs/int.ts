/**
 * int — Int8..Int256 and UInt8..UInt256.
 *
 * Accepts (as ClickHouse's JSONEachRow does): a JSON integer, the integer in
 * a string ("42", with an optional sign), "" as 0, true/false as 1/0.
 * Refuses what ClickHouse would store wrongly or refuse: a value out of the
 * type's range (18.16 and 26.x both wrap 300 into a UInt8 as 44 — sluice
 * refuses it), a fraction or exponent (42.5, 1e2), a negative unsigned,
 * text that is not a number. Up to 32 bits and 64-bit values below 10^15
 * stay plain JS numbers; wider values go through one BigInt.
 */
import type { JsonCursor } from '../json-cursor.js';
import { num, numberText, scanNumber } from '../number-text.js';
import type { RowWriter } from '../row-writer.js';
import type { TypeNode } from '../types.js';
import { describe, quoteBytes, ScalarCodec, type Reason } from './codec.js';

/** Digits beyond any 256-bit integer: refused before any BigInt is built. */
const MAX_DIGITS = 80;

export class IntCodec extends ScalarCodec {
  private readonly bytes: number;
  private readonly min: number;
  private readonly max: number;
  private readonly bigMin: bigint;
  private readonly bigMax: bigint;

  constructor(type: Extract<TypeNode, { kind: 'int' }>) {
    super(type);
    this.bytes = type.bits / 8;
    const bits = BigInt(type.bits);
    this.bigMin = type.signed ? -(1n << (bits - 1n)) : 0n;
    this.bigMax = type.signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
    this.min = Math.max(Number(this.bigMin), Number.MIN_SAFE_INTEGER);
    this.max = Math.min(Number(this.bigMax), Number.MAX_SAFE_INTEGER);
  }

  protected override jsonNumber(c: JsonCursor, out: RowWriter): Reason {
    if (!num.isInt) return `${quoteBytes(c.buf, num.start, num.end)} is not an integer`;
    return this.fromNum(c.buf, out);
  }

  protected override jsonBool(v: boolean, out: RowWriter): Reason {
    return this.write(v ? 1 : 0, out);
  }

  text(buf: Uint8Array, start: number, end: number, out: RowWriter): Reason {
    if (start === end) return this.write(0, out);
    if (scanNumber(buf, start, end, false) !== end || num.special !== 0) return `${quoteBytes(buf, start, end)} is not a ${this.type.text}`;
    if (!num.isInt) return `${quoteBytes(buf, start, end)} is not an integer`;
    return this.fromNum(buf, out);
  }

  private fromNum(buf: Uint8Array, out: RowWriter): Reason {
    // An integer's exp10 is 0 up to 15 significant digits: mant is the value.
    if (num.sig <= 15) return this.write(num.neg && num.mant !== 0 ? -num.mant : num.mant, out);
    if (num.sig > MAX_DIGITS) return `${quoteBytes(buf, num.start, num.end)} is out of range for ${this.type.text}`;
    // 64-bit values of 16-20 digits (snowflake ids, nanosecond times) are common: two 32-bit words, no BigInt.
    if (this.bytes === 8 && num.sig <= 20 && words64(buf, num.start, num.end)) return this.write64(out, buf);
    return this.writeBig(BigInt(numberText(buf).replace(/^\+/, '')), out);
  }

  /** Writes the magnitude in w64 with the sign in num, after the range check. */
  private write64(out: RowWriter, buf: Uint8Array): Reason {
    let { hi, lo } = w64;
    const signed = (this.type as { signed: boolean }).signed;
    const tooBig = num.neg
      ? !signed ? hi !== 0 || lo !== 0 : hi > 0x80000000 || (hi === 0x80000000 && lo !== 0)
      : signed && hi >= 0x80000000;
    if (tooBig) return `${quoteBytes(buf, num.start, num.end)} is out of range for ${this.type.text}`;
    if (num.neg && (hi !== 0 || lo !== 0)) {
      // Two's complement of the magnitude.
      if (lo === 0) hi = (4294967296 - hi) % 4294967296;
      else { lo = 4294967296 - lo; hi = 4294967295 - hi; }
    }
    out.u32(lo);
    out.u32(hi);
    return undefined;
  }

  private write(v: number, out: RowWriter): Reason {
    if (v < this.min || v > this.max) return `${v} is out of range for ${this.type.text}`;
    switch (this.bytes) {
      case 1: out.u8(v); return undefined;
      case 2: out.u16(v); return undefined;
      case 4: out.u32(v); return undefined;
      case 8: out.i64(v); return undefined;
      default: out.big(BigInt(v), this.bytes); return undefined;
    }
  }

  private writeBig(v: bigint, out: RowWriter): Reason {
    if (v < this.bigMin || v > this.bigMax) return `${v} is out of range for ${this.type.text}`;
    if (this.bytes <= 4 || (v >= -9007199254740991n && v <= 9007199254740991n && this.bytes === 8)) return this.write(Number(v), out);
    out.big(v, this.bytes);
    return undefined;
  }

  protected override plain(v: unknown, out: RowWriter): Reason {
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) return `${describe(v)} is not an integer`;
      if (Number.isSafeInteger(v)) return this.write(v, out);
      return this.writeBig(BigInt(v), out);
    }
    if (typeof v === 'bigint') return this.writeBig(v, out);
    if (typeof v === 'boolean') return this.write(v ? 1 : 0, out);
    return super.plain(v, out);
  }

  zero(out: RowWriter): void {
    out.zeros(this.bytes);
  }
}

/** The last 64-bit magnitude read by words64: high and low 32-bit words. */
const w64 = { hi: 0, lo: 0 };

/**
 * The unsigned magnitude of the integer text buf[start, end) (sign and
 * leading zeros skipped, at most 20 digits) as two 32-bit words in w64,
 * exactly, with doubles only: value = head × 10^9 + tail, head split in
 * 16-bit halves so every product stays below 2^53. False if >= 2^64.
 */
function words64(buf: Uint8Array, start: number, end: number): boolean {
  let p = start;
  while (p < end && (buf[p] === 0x2d || buf[p] === 0x2b || buf[p] === 0x30)) p++;
  const tailStart = Math.max(p, end - 9);
  let head = 0;
  for (let i = p; i < tailStart; i++) head = head * 10 + buf[i]! - 0x30;
  let tail = 0;
  for (let i = tailStart; i < end; i++) tail = tail * 10 + buf[i]! - 0x30;
  // head < 10^11 < 2^37: head = a1 × 2^16 + a0.
  const a0 = head % 65536;
  const a1 = (head - a0) / 65536;
  const t0 = a0 * 1e9 + tail; // < 2^47
  const t1 = a1 * 1e9; // < 2^51; value = t1 × 2^16 + t0
  const t1lo = t1 % 65536;
  const m = t1lo * 65536 + (t0 % 4294967296);
  const lo = m % 4294967296;
  const hi = (t1 - t1lo) / 65536 + Math.floor(t0 / 4294967296) + (m - lo) / 4294967296;
  if (hi >= 4294967296) return false;
  w64.hi = hi;
  w64.lo = lo;
  return true;
}
