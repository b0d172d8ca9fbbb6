/**
 * isolate: a batch with rows ClickHouse rejects for their content must end
 * with exactly those rows condemned and every other row inserted once, in
 * order — whatever the server says about *where* the bad row is (right,
 * nothing, or wrong: one record holding two JSON objects shifts "at row N").
 */
import { describe, expect, it } from 'vitest';
import type { SourceRecord } from '../../../src/pipeline/batcher.js';
import { ClickHouseError } from '../../../src/errors.js';
import { insertIsolating } from '../../../src/dlq/isolate.js';

type RowMode = 'correct' | 'missing' | 'wrong-after' | 'wrong-before' | 'out-of-range' | 'zero';

function rec(offset: number, bad: boolean): SourceRecord {
  return { offset, timestamp: 0, key: null, value: Buffer.from(bad ? `{"bad":${offset}}` : `{"ok":${offset}}`) };
}
const isBad = (r: SourceRecord) => r.value!.toString().startsWith('{"bad"');

/**
 * A fake ClickHouse: rejects any slice holding a bad record with a data error
 * (code 27) whose "at row" follows `mode`; records every accepted slice.
 */
function fakeInsert(mode: RowMode) {
  const inserted: SourceRecord[] = [];
  const calls: (readonly SourceRecord[])[] = [];
  const insert = async (slice: readonly SourceRecord[]): Promise<void> => {
    calls.push(slice);
    const first = slice.findIndex(isBad);
    if (first === -1) {
      inserted.push(...slice);
      return;
    }
    let row: number | undefined;
    const goodIndex = slice.findIndex((r) => !isBad(r));
    switch (mode) {
      case 'correct':
        row = first + 1;
        break;
      case 'missing':
        row = undefined;
        break;
      case 'wrong-after':
        // Points past the bad record (e.g. an earlier record held two objects); at a good one if there is one after.
        row = Math.min(first + 2, slice.length);
        break;
      case 'wrong-before':
        // Points at a good record when the slice has one, else at the bad one.
        row = goodIndex === -1 ? first + 1 : goodIndex + 1;
        break;
      case 'out-of-range':
        row = slice.length + 5;
        break;
      case 'zero':
        row = 0;
        break;
    }
    throw new ClickHouseError('data', `Code: 27. Cannot parse input${row ? ` (at row ${row})` : ''}`, 27, row);
  };
  return { insert, inserted, calls };
}

/** Deterministic PRNG (LCG) so the "many shapes" test is reproducible. */
function prng(seed: number) {
  let s = seed;
  return () => (s = (s * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
}

const MODES: RowMode[] = ['correct', 'missing', 'wrong-after', 'wrong-before', 'out-of-range', 'zero'];

describe('insertIsolating', () => {
  it('inserts a clean batch in one call and condemns nothing', async () => {
    const records = [0, 1, 2, 3].map((o) => rec(o, false));
    const ch = fakeInsert('correct');
    const out = await insertIsolating(records, ch.insert);
    expect(out.bad).toEqual([]);
    expect(out.unresolved).toEqual([]);
    expect(ch.calls).toHaveLength(1);
    expect(ch.inserted).toEqual(records);
  });

  it('does nothing for an empty batch', async () => {
    const ch = fakeInsert('correct');
    expect(await insertIsolating([], ch.insert)).toEqual({ bad: [], unresolved: [] });
    expect(ch.calls).toHaveLength(0);
  });

  it.each(MODES)('row %s: one bad record in the middle', async (mode) => {
    const records = Array.from({ length: 10 }, (_, i) => rec(i, i === 6));
    const ch = fakeInsert(mode);
    const out = await insertIsolating(records, ch.insert);
    expect(out.bad.map((b) => b.record.offset)).toEqual([6]);
    expect(out.bad[0]!.error).toBeInstanceOf(ClickHouseError);
    expect(out.bad[0]!.error.kind).toBe('data');
    expect(out.bad[0]!.error.code).toBe(27);
    expect(out.unresolved).toEqual([]);
    expect(ch.inserted.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5, 7, 8, 9]);
  });

  it.each(MODES)('row %s: bad records first, last, adjacent, and a batch of only bad records', async (mode) => {
    for (const badSet of [[0], [9], [0, 9], [3, 4, 5], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]) {
      const records = Array.from({ length: 10 }, (_, i) => rec(i, badSet.includes(i)));
      const ch = fakeInsert(mode);
      const out = await insertIsolating(records, ch.insert);
      expect(out.bad.map((b) => b.record.offset), `${mode} ${badSet}`).toEqual(badSet);
      expect(ch.inserted.map((r) => r.offset)).toEqual(records.filter((r) => !isBad(r)).map((r) => r.offset));
    }
  });

  it('with a correct row, costs about three inserts per bad record', async () => {
    const records = Array.from({ length: 1000 }, (_, i) => rec(i, i === 100 || i === 500 || i === 900));
    const ch = fakeInsert('correct');
    const out = await insertIsolating(records, ch.insert);
    expect(out.bad.map((b) => b.record.offset)).toEqual([100, 500, 900]);
    expect(ch.calls.length).toBeLessThanOrEqual(1 + 3 * 3);
  });

  it('never condemns a good record when the row points at it', async () => {
    // One record holding two objects makes the server count one row more: it
    // points one past the real culprit, at a good record.
    const records = Array.from({ length: 6 }, (_, i) => rec(i, i === 2));
    const ch = fakeInsert('wrong-after');
    const out = await insertIsolating(records, ch.insert);
    expect(out.bad.map((b) => b.record.offset)).toEqual([2]);
    expect(ch.inserted.map((r) => r.offset)).toEqual([0, 1, 3, 4, 5]);
  });

  it('across many shapes and every row mode: exactly the bad records out, every good one in once, in order', async () => {
    const rand = prng(7);
    for (let trial = 0; trial < 200; trial++) {
      const n = 1 + Math.floor(rand() * 40);
      const density = rand() * 0.5;
      const records = Array.from({ length: n }, (_, i) => rec(1000 + i, rand() < density));
      for (const mode of MODES) {
        const ch = fakeInsert(mode);
        const out = await insertIsolating(records, ch.insert);
        const expectedBad = records.filter(isBad);
        expect(out.bad.map((b) => b.record)).toEqual(expectedBad);
        expect(out.unresolved).toEqual([]);
        // Every good record inserted exactly once, and the inserts in offset order.
        expect(ch.inserted).toEqual(records.filter((r) => !isBad(r)));
        // Every insert was a contiguous, in-order run of the batch.
        for (const slice of ch.calls) {
          const start = records.indexOf(slice[0]!);
          expect(slice).toEqual(records.slice(start, start + slice.length));
        }
      }
    }
  });

  it('propagates a transient error unchanged, without isolating', async () => {
    const records = [0, 1, 2].map((o) => rec(o, false));
    const err = new ClickHouseError('transient', 'connect ECONNREFUSED 127.0.0.1:8123');
    let calls = 0;
    const insert = async () => {
      calls++;
      throw err;
    };
    await expect(insertIsolating(records, insert)).rejects.toBe(err);
    expect(calls).toBe(1);
  });

  it('propagates a fatal error unchanged', async () => {
    const err = new ClickHouseError('fatal', 'Code: 60. Table default.x does not exist', 60);
    await expect(insertIsolating([rec(0, false), rec(1, false)], async () => Promise.reject(err))).rejects.toBe(err);
  });

  it('propagates an error that is not a ClickHouseError', async () => {
    const err = new TypeError('boom');
    await expect(insertIsolating([rec(0, false)], async () => Promise.reject(err))).rejects.toBe(err);
  });

  it('propagates a transient error met halfway through isolation', async () => {
    const records = Array.from({ length: 8 }, (_, i) => rec(i, i === 1));
    const ch = fakeInsert('correct');
    const transient = new ClickHouseError('transient', 'Code: 252. Too many parts', 252);
    let n = 0;
    const insert = async (slice: readonly SourceRecord[]) => {
      if (++n === 3) throw transient;
      return ch.insert(slice);
    };
    await expect(insertIsolating(records, insert)).rejects.toBe(transient);
  });

  describe('stopWhen (a flood of rejections)', () => {
    it('stops after the verdict and returns what is left as unresolved, in order', async () => {
      const records = Array.from({ length: 20 }, (_, i) => rec(i, i % 2 === 0));
      const ch = fakeInsert('correct');
      const seen: [number, number][] = [];
      const out = await insertIsolating(records, ch.insert, (bad, examined) => {
        seen.push([bad, examined]);
        return bad >= 3;
      });
      expect(out.bad.map((b) => b.record.offset)).toEqual([0, 2, 4]);
      // Nothing is lost: inserted + bad + unresolved is the batch, each once.
      const accounted = [...ch.inserted, ...out.bad.map((b) => b.record), ...out.unresolved].map((r) => r.offset).sort((a, b) => a - b);
      expect(accounted).toEqual(records.map((r) => r.offset));
      expect(out.unresolved.map((r) => r.offset)).toEqual([...out.unresolved.map((r) => r.offset)].sort((a, b) => a - b));
      expect(out.unresolved[0]!.offset).toBe(5);
      // examined counts inserted and condemned records.
      expect(seen.at(-1)).toEqual([3, ch.inserted.length + 3]);
    });

    it('is asked after each condemned record, and never stops a clean batch', async () => {
      const records = [0, 1, 2].map((o) => rec(o, false));
      const ch = fakeInsert('correct');
      let asked = 0;
      const out = await insertIsolating(records, ch.insert, () => {
        asked++;
        return true;
      });
      expect(asked).toBe(0);
      expect(out).toEqual({ bad: [], unresolved: [] });
      expect(ch.inserted).toEqual(records);
    });
  });
});
