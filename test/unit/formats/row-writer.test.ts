import { describe, expect, it } from 'vitest';
import { readVarUInt, RowWriter } from '../../../src/formats/row-writer.js';

describe('RowWriter', () => {
  it('grows, rolls back to a mark, and hands out a copy', () => {
    const w = new RowWriter(1);
    for (let i = 0; i < 1000; i++) w.u8(i);
    const m = w.mark();
    w.u32(0xdeadbeef);
    w.rollback(m);
    const out = w.finish();
    expect(out.length).toBe(1000);
    expect(out[999]).toBe(999 & 0xff);
    expect(w.pos).toBe(0);
  });

  it('writes 64-bit integers from safe numbers, two’s complement for negatives', () => {
    const cases = [0, 1, -1, 2 ** 32, -(2 ** 32), 2 ** 53 - 1, -(2 ** 53 - 1), -4294967297];
    for (const v of cases) {
      const w = new RowWriter();
      w.i64(v);
      expect(w.finish().readBigInt64LE(0), String(v)).toBe(BigInt(v));
    }
  });

  it('widens a reserved length byte and moves the payload', () => {
    for (const n of [0, 127, 128, 16383, 16384, 20000]) {
      const w = new RowWriter(8);
      w.u8(0x55);
      const at = w.pos;
      w.u8(0);
      w.zeros(n);
      w.patchLength(at, n);
      const out = w.finish();
      expect(out[0]).toBe(0x55);
      expect(readVarUInt(out, at)).toBe(n);
      const width = n < 128 ? 1 : n < 16384 ? 2 : 3;
      expect(out.length).toBe(1 + width + n);
    }
  });
});
