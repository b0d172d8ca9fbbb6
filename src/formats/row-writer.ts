/**
 * row-writer — one growable Buffer that RowBinary rows are written into.
 *
 * Contract: writes append at `pos`, growing the buffer (doubling) as needed;
 * `mark()` returns the current end and `rollback(mark)` drops everything
 * written after it, so a row that turns out bad is undone without copying.
 * `finish()` hands out the bytes written so far (a copy, so the writer can
 * be reused) and resets. Integers wider than 32 bits are written from two
 * 32-bit halves or from a bigint; nothing here allocates per value except
 * growth. All multi-byte values are little-endian, as RowBinary wants.
 */
const MIN_CAPACITY = 256;

export class RowWriter {
  buf: Buffer;
  pos = 0;

  constructor(capacity = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(MIN_CAPACITY, capacity));
  }

  /** Makes room for n more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  mark(): number {
    return this.pos;
  }

  rollback(mark: number): void {
    this.pos = mark;
  }

  /** The bytes written since `from` (default: all), copied out; the writer is reset to `from`. */
  finish(from = 0): Buffer {
    const out = Buffer.allocUnsafe(this.pos - from);
    this.buf.copy(out, 0, from, this.pos);
    this.pos = from;
    return out;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    const b = this.buf;
    const p = this.pos;
    b[p] = v;
    b[p + 1] = v >>> 8;
    this.pos = p + 2;
  }

  u32(v: number): void {
    this.ensure(4);
    const b = this.buf;
    const p = this.pos;
    b[p] = v;
    b[p + 1] = v >>> 8;
    b[p + 2] = v >>> 16;
    b[p + 3] = v >>> 24;
    this.pos = p + 4;
  }

  /** A 64-bit integer given as a safe JS integer (|v| < 2^53), two's complement if negative. */
  i64(v: number): void {
    // floor keeps lo in [0, 2^32) for negatives too; hi >>> 0 is then the
    // two's complement high word (both exact for |v| < 2^53).
    const hi = Math.floor(v / 4294967296);
    this.u32(v - hi * 4294967296);
    this.u32(hi >>> 0);
  }

  f32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.pos);
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  /** A `bytes`-wide two's complement integer from a bigint already known to fit. */
  big(v: bigint, bytes: number): void {
    this.ensure(bytes);
    let x = BigInt.asUintN(bytes * 8, v);
    const b = this.buf;
    for (let i = 0; i < bytes; i++) {
      b[this.pos + i] = Number(x & 0xffn);
      x >>= 8n;
    }
    this.pos += bytes;
  }

  /** LEB128, as RowBinary prefixes string and array lengths. */
  varuint(v: number): void {
    this.ensure(10);
    const b = this.buf;
    while (v >= 0x80) {
      b[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    b[this.pos++] = v;
  }

  /** Copies src[start, end) in. */
  bytes(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.ensure(n);
    const b = this.buf;
    let p = this.pos;
    if (n <= 64) {
      // Short copies: a loop beats the native call.
      for (let i = start; i < end; i++) b[p++] = src[i]!;
    } else {
      // Buffer#copy takes offsets: no view object per copy.
      if (Buffer.isBuffer(src)) src.copy(b, p, start, end);
      else b.set(src.subarray(start, end), p);
      p += n;
    }
    this.pos = p;
  }

  /** A length-prefixed byte string (RowBinary String). */
  string(src: Uint8Array, start: number, end: number): void {
    this.varuint(end - start);
    this.bytes(src, start, end);
  }

  zeros(n: number): void {
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }

  /**
   * Fixes a length prefix after the fact: `at` is where one byte was reserved
   * for it and the payload follows up to `pos`. Lengths >= 128 need a wider
   * varint, so the payload moves right by the difference (rare: long strings
   * with escapes, arrays of 128+ elements).
   */
  patchLength(at: number, length: number): void {
    if (length < 0x80) {
      this.buf[at] = length;
      return;
    }
    let width = 1;
    for (let v = length; v >= 0x80; v = Math.floor(v / 128)) width++;
    this.ensure(width - 1);
    this.buf.copy(this.buf, at + width, at + 1, this.pos);
    this.pos += width - 1;
    let v = length;
    let p = at;
    while (v >= 0x80) {
      this.buf[p++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[p] = v;
  }
}

/** Reads back a varint written at `at` (the decoder checks Nested array sizes with it). */
export function readVarUInt(buf: Uint8Array, at: number): number {
  let v = 0;
  let mul = 1;
  for (;;) {
    const b = buf[at++]!;
    v += (b & 0x7f) * mul;
    if (b < 0x80) return v;
    mul *= 128;
  }
}
