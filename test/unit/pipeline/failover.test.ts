/** `sluice failover`'s choice among the candidates (pipeline/failover.ts choose), no services. */
import { describe, expect, it } from 'vitest';
import { choose, type Candidate } from '../../../src/pipeline/failover.js';

const c = (start: number, via: Candidate['via'] = 'offset'): Candidate => ({ start, via, reread: null });

describe('choose', () => {
  it('takes the largest start and counts what each candidate reads again from the warehouse start', () => {
    const candidates = { warehouse: c(2000), mm2: c(1, 'checkpoint'), committed: c(1800) };
    expect(choose(candidates, candidates, 0, 6000, 2000)).toEqual({ start: 2000, method: 'warehouse', reread: 0 });
    expect([candidates.mm2.reread, candidates.committed.reread]).toEqual([1999, 200]);
  });

  it('falls back to the other methods without a warehouse, re-read then unknown', () => {
    const candidates = { mm2: c(1213, 'checkpoint'), committed: c(1234) };
    expect(choose(candidates, candidates, 0, 2000, undefined)).toEqual({ start: 1234, method: 'committed', reread: null });
  });

  it('reads B from its first offset without a candidate, and never starts past its end', () => {
    expect(choose({}, {}, 100, 500, 300)).toEqual({ start: 100, method: 'earliest', reread: 200 });
    expect(choose({ committed: c(900, 'time') }, { committed: c(900, 'time') }, 0, 500, undefined)).toEqual({ start: 500, method: 'committed', reread: null });
  });

  it('prefers the warehouse on a tie', () => {
    const all = { warehouse: c(50), mm2: c(50, 'synced'), committed: c(50) };
    expect(choose(all, all, 0, 100, 50).method).toBe('warehouse');
  });

  it('chooses among the allowed methods only (--using), still counting every candidate\'s re-read', () => {
    const candidates = { warehouse: c(2000), mm2: c(1, 'checkpoint') };
    expect(choose(candidates, { mm2: candidates.mm2 }, 0, 6000, 2000)).toEqual({ start: 1, method: 'mm2', reread: 1999 });
    expect(candidates.warehouse.reread).toBe(0);
  });
});
