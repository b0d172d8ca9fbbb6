/**
 * batcher: one partition's records → sealed batches. A sealed batch is final
 * (a retried flush must never duplicate or reorder), so these tests pin when
 * sealing happens, that batches tile the input exactly, and what the buffer
 * accounts for (the pipeline's memory cap reads `bufferedBytes`).
 */
import { describe, expect, it } from 'vitest';
import { Batcher, RECORD_OVERHEAD_BYTES, recordBytes, type Batch, type SourceRecord } from '../../../src/pipeline/batcher.js';

/** A record whose value is exactly `valueBytes` long (and no key), so its accounted size is known. */
function rec(offset: number, valueBytes = 10, key: Buffer | null = null): SourceRecord {
  const body = `{"o":${offset}}`;
  const value = Buffer.alloc(Math.max(valueBytes, body.length), ' ');
  value.write(body);
  return { offset, timestamp: 1_000 + offset, key, value };
}

const size = (valueBytes: number) => valueBytes + RECORD_OVERHEAD_BYTES;
const offsets = (b: Batch) => b.records.map((r) => r.offset);
const BIG = 1 << 30;

describe('recordBytes', () => {
  it('counts value, key and the fixed per-record overhead', () => {
    expect(recordBytes({ offset: 0, timestamp: 0, key: Buffer.alloc(7), value: Buffer.alloc(100) })).toBe(107 + RECORD_OVERHEAD_BYTES);
  });

  it('uses byteSize when the record knows it (a ChunkRecord), without touching key or value', () => {
    const r = {
      offset: 0,
      timestamp: 0,
      byteSize: 1234,
      get key(): Buffer | null {
        throw new Error('key read');
      },
      get value(): Buffer | null {
        throw new Error('value read');
      },
    };
    expect(recordBytes(r)).toBe(1234 + RECORD_OVERHEAD_BYTES);
  });

  it('counts a tombstone (null value) and a null key as overhead only', () => {
    expect(recordBytes({ offset: 0, timestamp: 0, key: null, value: null })).toBe(RECORD_OVERHEAD_BYTES);
  });
});

describe('Batcher: row windows of absolute offsets (same batches for whoever re-reads)', () => {
  const limits = { maxRows: 5, maxBytes: BIG, maxWaitMs: 1000 };
  const cut = (b: Batcher, from: number, to: number, chunk: number) => {
    const out: number[][] = [];
    for (let o = from; o < to; o += chunk) {
      out.push(...b.add(Array.from({ length: Math.min(chunk, to - o) }, (_, i) => rec(o + i)), 0).map(offsets));
    }
    return out;
  };

  it('cuts at multiples of maxRows whatever the fetch chunking', () => {
    const a = cut(new Batcher('t', 0, limits), 0, 23, 3);
    const b = cut(new Batcher('t', 0, limits), 0, 23, 7);
    expect(a).toEqual(b);
    expect(a.map((x) => x[0])).toEqual([0, 5, 10, 15]);
  });

  it('a reader starting mid-window (after an age cut) falls in step at the next window', () => {
    const first = cut(new Batcher('t', 0, limits), 0, 23, 4);
    const b = new Batcher('t', 0, limits);
    const again = cut(b, 7, 23, 2);
    expect(again[0]).toEqual([7, 8, 9]);
    expect(again.slice(1)).toEqual(first.filter((x) => x[0]! >= 10));
  });

  it('a gap in offsets (compaction) still closes the window it skips past', () => {
    const b = new Batcher('t', 0, limits);
    expect(b.add([rec(2), rec(3), rec(6)], 0).map(offsets)).toEqual([[2, 3]]);
    expect(b.bufferedRows).toBe(1);
  });
});

describe('Batcher: sealing on rows', () => {
  it('seals exactly at maxRows and keeps the remainder open', () => {
    const b = new Batcher('t', 3, { maxRows: 3, maxBytes: BIG, maxWaitMs: 1000 });
    const sealed = b.add([0, 1, 2, 3, 4, 5, 6].map((o) => rec(o)), 0);
    expect(sealed.map(offsets)).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    expect(b.bufferedRows).toBe(1);
    for (const batch of sealed) {
      expect(batch.topic).toBe('t');
      expect(batch.partition).toBe(3);
      expect(batch.firstOffset).toBe(batch.records[0]!.offset);
      expect(batch.lastOffset).toBe(batch.records[batch.records.length - 1]!.offset);
    }
  });

  it('fills a batch across several add calls', () => {
    const b = new Batcher('t', 0, { maxRows: 4, maxBytes: BIG, maxWaitMs: 1000 });
    expect(b.add([rec(0), rec(1)], 0)).toEqual([]);
    expect(b.add([rec(2)], 0)).toEqual([]);
    const sealed = b.add([rec(3), rec(4)], 0);
    expect(sealed.map(offsets)).toEqual([[0, 1, 2, 3]]);
    expect(b.bufferedRows).toBe(1);
  });

  it('maxRows = 1 makes one batch per record', () => {
    const b = new Batcher('t', 0, { maxRows: 1, maxBytes: BIG, maxWaitMs: 1000 });
    expect(b.add([rec(0), rec(1), rec(2)], 0).map(offsets)).toEqual([[0], [1], [2]]);
    expect(b.bufferedRows).toBe(0);
    expect(b.bufferedBytes).toBe(0);
  });
});

describe('Batcher: sealing on bytes', () => {
  it('seals before the append that would overflow maxBytes', () => {
    // Three records fit in 3.5 records' worth of bytes; the fourth would overflow.
    const maxBytes = Math.floor(3.5 * size(40));
    const b = new Batcher('t', 0, { maxRows: 1000, maxBytes, maxWaitMs: 1000 });
    const sealed = b.add([0, 1, 2, 3].map((o) => rec(o, 40)), 0);
    expect(sealed.map(offsets)).toEqual([[0, 1, 2]]);
    expect(sealed[0]!.bytes).toBe(3 * size(40));
    expect(sealed[0]!.bytes).toBeLessThanOrEqual(maxBytes);
    expect(b.bufferedRows).toBe(1);
    expect(b.bufferedBytes).toBe(size(40));
  });

  it('seals as soon as the batch reaches maxBytes exactly', () => {
    const b = new Batcher('t', 0, { maxRows: 1000, maxBytes: 2 * size(40), maxWaitMs: 1000 });
    const sealed = b.add([rec(0, 40), rec(1, 40)], 0);
    expect(sealed.map(offsets)).toEqual([[0, 1]]);
    expect(b.bufferedBytes).toBe(0);
  });

  it('never lets a batch of several records exceed maxBytes', () => {
    const maxBytes = 1000;
    const b = new Batcher('t', 0, { maxRows: 1000, maxBytes, maxWaitMs: 1000 });
    // Irregular sizes, all below maxBytes on their own.
    const records = Array.from({ length: 200 }, (_, i) => rec(i, 10 + ((i * 137) % 600)));
    const sealed = b.add(records, 0);
    const last = b.sealNow();
    const all = last ? [...sealed, last] : sealed;
    for (const batch of all) {
      expect(batch.records.length).toBeGreaterThan(0);
      expect(batch.bytes).toBeLessThanOrEqual(maxBytes);
      expect(batch.bytes).toBe(batch.records.reduce((s, r) => s + recordBytes(r), 0));
    }
    expect(all.flatMap(offsets)).toEqual(records.map((r) => r.offset));
  });

  it('puts a single oversized record in a batch of its own', () => {
    const b = new Batcher('t', 0, { maxRows: 1000, maxBytes: 500, maxWaitMs: 1000 });
    const sealed = b.add([rec(0, 40), rec(1, 5000), rec(2, 40)], 0);
    expect(sealed.map(offsets)).toEqual([[0], [1]]);
    expect(sealed[1]!.bytes).toBe(size(5000));
    expect(b.bufferedRows).toBe(1);
    expect(b.sealNow()!.records.map((r) => r.offset)).toEqual([2]);
  });

  it('seals an oversized first record alone, leaving nothing open', () => {
    const b = new Batcher('t', 0, { maxRows: 1000, maxBytes: 500, maxWaitMs: 1000 });
    expect(b.add([rec(7, 5000)], 0).map(offsets)).toEqual([[7]]);
    expect(b.bufferedRows).toBe(0);
    expect(b.bufferedBytes).toBe(0);
    expect(b.sealNow()).toBeUndefined();
  });

  it('counts keys toward the byte limit', () => {
    const b = new Batcher('t', 0, { maxRows: 1000, maxBytes: 2 * size(40) + 50, maxWaitMs: 1000 });
    // Two records of 40-byte values fit, but not with a 100-byte key on the second.
    const sealed = b.add([rec(0, 40), rec(1, 40, Buffer.alloc(100))], 0);
    expect(sealed.map(offsets)).toEqual([[0]]);
    expect(b.bufferedBytes).toBe(size(40) + 100);
  });
});

describe('Batcher: sealing on age (injected clock)', () => {
  it('seals when the oldest record has waited maxWaitMs, not before', () => {
    const b = new Batcher('t', 0, { maxRows: 1000, maxBytes: BIG, maxWaitMs: 100 });
    b.add([rec(0)], 1_000);
    b.add([rec(1)], 1_090); // a later record does not restart the clock
    expect(b.sealIfDue(1_099)).toBeUndefined();
    const batch = b.sealIfDue(1_100);
    expect(batch && offsets(batch)).toEqual([0, 1]);
    expect(b.bufferedRows).toBe(0);
  });

  it('returns nothing for an empty batcher, however late', () => {
    const b = new Batcher('t', 0, { maxRows: 1000, maxBytes: BIG, maxWaitMs: 100 });
    expect(b.sealIfDue(Number.MAX_SAFE_INTEGER)).toBeUndefined();
  });

  it('starts the clock of the next batch at its first record, not at the previous seal', () => {
    const b = new Batcher('t', 0, { maxRows: 4, maxBytes: BIG, maxWaitMs: 100 });
    // Batch [0..3] seals on rows at t=0; record 4 opens a new batch at t=0 too.
    expect(b.add([0, 1, 2, 3, 4].map((o) => rec(o)), 0).map(offsets)).toEqual([[0, 1, 2, 3]]);
    expect(b.sealIfDue(99)).toBeUndefined();
    expect(offsets(b.sealIfDue(100)!)).toEqual([4]);
    // A record arriving long after: its own clock.
    b.add([rec(5)], 5_000);
    expect(b.sealIfDue(5_099)).toBeUndefined();
    expect(offsets(b.sealIfDue(5_100)!)).toEqual([5]);
  });

  it('after a size seal, the clock belongs to the record that opened the new batch', () => {
    const b = new Batcher('t', 0, { maxRows: 3, maxBytes: BIG, maxWaitMs: 100 });
    b.add([rec(0), rec(1)], 0);
    b.add([rec(2), rec(3)], 80); // seals [0,1,2]; 3 opens a batch at t=80
    expect(b.sealIfDue(150)).toBeUndefined();
    expect(offsets(b.sealIfDue(180)!)).toEqual([3]);
  });
});

describe('Batcher: sealNow', () => {
  it('seals whatever is open, of any age and size', () => {
    const b = new Batcher('t', 0, { maxRows: 1000, maxBytes: BIG, maxWaitMs: 1_000_000 });
    b.add([rec(5), rec(6)], 0);
    const batch = b.sealNow()!;
    expect(offsets(batch)).toEqual([5, 6]);
    expect(batch.firstOffset).toBe(5);
    expect(batch.lastOffset).toBe(6);
    expect(b.sealNow()).toBeUndefined();
    expect(b.bufferedRows).toBe(0);
    expect(b.bufferedBytes).toBe(0);
  });

  it('never returns an empty batch', () => {
    const b = new Batcher('t', 0, { maxRows: 2, maxBytes: BIG, maxWaitMs: 10 });
    expect(b.sealNow()).toBeUndefined();
    expect(b.add([], 0)).toEqual([]);
    b.add([rec(0), rec(1)], 0); // sealed on rows, nothing left open
    expect(b.sealNow()).toBeUndefined();
    expect(b.sealIfDue(1_000)).toBeUndefined();
  });

  it('a sealed batch is not changed by later appends', () => {
    const b = new Batcher('t', 0, { maxRows: 1000, maxBytes: BIG, maxWaitMs: 10 });
    b.add([rec(0), rec(1)], 0);
    const batch = b.sealNow()!;
    b.add([rec(2), rec(3)], 0);
    expect(offsets(batch)).toEqual([0, 1]);
    expect(batch.lastOffset).toBe(1);
    expect(batch.bytes).toBe(2 * size(10));
  });
});

describe('Batcher: contiguity, order and accounting', () => {
  it('batches tile the input: contiguous, in order, nothing lost or repeated, none empty', () => {
    // Deterministic pseudo-random sizes, chunking and clock.
    let seed = 42;
    const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const limits = { maxRows: 7, maxBytes: 2_000, maxWaitMs: 50 };
    const b = new Batcher('t', 1, limits);
    const input: SourceRecord[] = [];
    const out: Batch[] = [];
    let now = 0;
    let offset = 100;
    for (let round = 0; round < 300; round++) {
      const chunk = Array.from({ length: Math.floor(rand() * 6) }, () => rec(offset++, Math.floor(rand() * 3_000)));
      input.push(...chunk);
      now += Math.floor(rand() * 30);
      out.push(...b.add(chunk, now));
      const due = b.sealIfDue(now);
      if (due) out.push(due);
      // Accounting matches what is open: total in minus total sealed.
      const sealedRows = out.reduce((s, x) => s + x.records.length, 0);
      expect(b.bufferedRows).toBe(input.length - sealedRows);
      expect(b.bufferedBytes).toBe(input.slice(sealedRows).reduce((s, r) => s + recordBytes(r), 0));
    }
    const last = b.sealNow();
    if (last) out.push(last);

    expect(out.flatMap(offsets)).toEqual(input.map((r) => r.offset));
    for (let i = 0; i < out.length; i++) {
      const batch = out[i]!;
      expect(batch.records.length).toBeGreaterThan(0);
      expect(batch.records.length).toBeLessThanOrEqual(limits.maxRows);
      if (batch.records.length > 1) expect(batch.bytes).toBeLessThanOrEqual(limits.maxBytes);
      expect(batch.firstOffset).toBe(batch.records[0]!.offset);
      expect(batch.lastOffset).toBe(batch.records[batch.records.length - 1]!.offset);
      expect(batch.bytes).toBe(batch.records.reduce((s, r) => s + recordBytes(r), 0));
      if (i > 0) expect(batch.firstOffset).toBe(out[i - 1]!.lastOffset + 1);
    }
    expect(b.bufferedBytes).toBe(0);
    expect(b.bufferedRows).toBe(0);
  });

  it('keeps gaps in offsets (compacted topics) inside one batch, in order', () => {
    const b = new Batcher('t', 0, { maxRows: 1000, maxBytes: BIG, maxWaitMs: 10 });
    b.add([rec(3), rec(10), rec(11), rec(40)], 0);
    const batch = b.sealNow()!;
    expect(offsets(batch)).toEqual([3, 10, 11, 40]);
    expect(batch.firstOffset).toBe(3);
    expect(batch.lastOffset).toBe(40);
  });

  it('bufferedBytes and bufferedRows follow appends and seals', () => {
    const b = new Batcher('t', 0, { maxRows: 3, maxBytes: BIG, maxWaitMs: 10 });
    expect([b.bufferedRows, b.bufferedBytes]).toEqual([0, 0]);
    b.add([rec(0, 20), rec(1, 30, Buffer.alloc(5))], 0);
    expect([b.bufferedRows, b.bufferedBytes]).toEqual([2, size(20) + size(30) + 5]);
    b.add([rec(2, 20), rec(3, 50)], 0);
    expect([b.bufferedRows, b.bufferedBytes]).toEqual([1, size(50)]);
    b.sealNow();
    expect([b.bufferedRows, b.bufferedBytes]).toEqual([0, 0]);
  });
});

describe('Batcher: cut intents (a batch end a previous owner recorded)', () => {
  const limits = { maxRows: 1000, maxBytes: BIG, maxWaitMs: 100 };

  it('seals the first batch exactly at the intended end, never by age before it, and marks age cuts unreproducible', () => {
    const b = new Batcher('t', 0, limits, 107);
    expect(b.add([rec(100), rec(101), rec(102)], 0)).toEqual([]);
    expect(b.sealIfDue(10_000)).toBeUndefined(); // the rest is in the log already: wait for it
    const [cut] = b.add([rec(103), rec(104), rec(105), rec(106), rec(107), rec(108)], 10_000);
    expect(offsets(cut!)).toEqual([100, 101, 102, 103, 104, 105, 106]);
    expect(cut!.reproducible).toBe(true);
    expect(b.pendingCut).toBeUndefined();
    // After it, cuts are the usual ones: by age here, which a re-reader could not reproduce.
    const aged = b.sealIfDue(20_000)!;
    expect(offsets(aged)).toEqual([107, 108]);
    expect(aged.reproducible).toBe(false);
  });

  it('cuts before a record past the intended end when offsets skip it (compaction)', () => {
    const b = new Batcher('t', 0, limits, 105);
    const sealed = b.add([rec(100), rec(101), rec(110)], 0);
    expect(sealed.map(offsets)).toEqual([[100, 101]]);
    expect(b.bufferedRows).toBe(1);
  });

  it('forgets an intent behind the first offset read (the group moved on)', () => {
    const b = new Batcher('t', 0, limits, 50);
    b.add([rec(100)], 0);
    expect(b.pendingCut).toBeUndefined();
    expect(offsets(b.sealIfDue(1_000)!)).toEqual([100]);
  });

  it('window and size cuts are reproducible; sealNow is not', () => {
    const b = new Batcher('t', 0, { maxRows: 3, maxBytes: BIG, maxWaitMs: 100 });
    const [w] = b.add([rec(0), rec(1), rec(2), rec(3)], 0);
    expect(w!.reproducible).toBe(true);
    expect(b.sealNow()!.reproducible).toBe(false);
  });
});
