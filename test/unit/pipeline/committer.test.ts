/**
 * committer: the last step of the pipeline and the one that decides what is
 * "done". It must commit the newest acknowledged offset per partition, one
 * request at a time, and never commit anything acknowledged under an older
 * group generation (the partition may have moved; the new owner re-reads from
 * the last commit — duplicates, never loss).
 *
 * The commit function is a fake whose every call returns a promise the test
 * settles, so interleavings are chosen by the test, not by timing.
 */
import { describe, expect, it, vi } from 'vitest';
import { Committer, isRebalanceError, type OffsetCommit } from '../../../src/pipeline/committer.js';
import { silentLogger } from '../../../src/ops/log.js';

// A hang is a failure; it must not cost the suite's 240 s integration timeout.
vi.setConfig({ testTimeout: 10_000 });

const BACKOFF = { initialMs: 1, maxMs: 2 };

interface Call {
  readonly offsets: OffsetCommit[];
  resolve(): void;
  reject(err: unknown): void;
}

function fakeCommit() {
  const calls: Call[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const fn = (offsets: OffsetCommit[]) =>
    new Promise<void>((resolve, reject) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const done = () => inFlight--;
      calls.push({ offsets, resolve: () => (done(), resolve()), reject: (e) => (done(), reject(e)) });
      for (const w of [...waiters]) if (calls.length >= w.n) waiters.splice(waiters.indexOf(w), 1), w.resolve();
    });
  /** Resolves once the commit function has been called `n` times in all. */
  const call = (n: number): Promise<Call> =>
    calls.length >= n ? Promise.resolve(calls[n - 1]!) : new Promise((resolve) => waiters.push({ n, resolve: () => resolve(calls[n - 1]!) }));
  return { fn, calls, call, maxInFlight: () => maxInFlight };
}

function setup(signal?: AbortSignal) {
  const commit = fakeCommit();
  const committed: [string, number, number, number][] = [];
  const c = new Committer(commit.fn, BACKOFF, silentLogger, signal, (t, p, next, ts) => committed.push([t, p, next, ts]));
  return { commit, committed, c };
}

/** Lets every settled promise chain run (one macrotask turn); no time passes. */
const turn = () => new Promise<void>((r) => setImmediate(r));

const off = (topic: string, partition: number, offset: number): OffsetCommit => ({ topic, partition, offset: String(offset) });
const rebalance = () => Object.assign(new Error('The group is rebalancing, so a rejoin is needed'), { type: 'REBALANCE_IN_PROGRESS', retriable: true });

describe('Committer', () => {
  it('commits the acked offset (next offset to read, as a string) and reports it', async () => {
    const { commit, committed, c } = setup();
    c.ack('t', 0, 10, 0, 1234);
    const first = await commit.call(1);
    expect(first.offsets).toEqual([off('t', 0, 10)]);
    expect(c.committed('t', 0)).toBeUndefined(); // not before the broker said yes
    first.resolve();
    await c.flush();
    expect(c.committed('t', 0)).toBe(10);
    expect(committed).toEqual([['t', 0, 10, 1234]]);
  });

  it('resolves flush at once when nothing was acked', async () => {
    const { commit, c } = setup();
    await c.flush();
    expect(commit.calls).toHaveLength(0);
  });

  it('coalesces acks that arrive during an in-flight commit into one next request with the newest per partition', async () => {
    const { commit, c } = setup();
    c.ack('t', 0, 5, 0, 0);
    const first = await commit.call(1);
    c.ack('t', 0, 7, 0, 0);
    c.ack('t', 1, 3, 0, 0);
    c.ack('t', 0, 9, 0, 0);
    c.ack('u', 0, 100, 0, 0);
    c.ack('t', 1, 4, 0, 0);
    await turn();
    expect(commit.calls).toHaveLength(1); // one request in flight at a time
    first.resolve();
    const second = await commit.call(2);
    expect(second.offsets).toEqual([off('t', 0, 9), off('t', 1, 4), off('u', 0, 100)]);
    second.resolve();
    await c.flush();
    expect(commit.calls).toHaveLength(2);
    expect(commit.maxInFlight()).toBe(1);
    expect([c.committed('t', 0), c.committed('t', 1), c.committed('u', 0)]).toEqual([9, 4, 100]);
  });

  it('never moves a partition backwards when an older ack arrives late', async () => {
    const { commit, c } = setup();
    c.ack('t', 0, 1, 0, 0);
    const first = await commit.call(1);
    c.ack('t', 0, 9, 0, 0);
    c.ack('t', 0, 7, 0, 0);
    first.resolve();
    const second = await commit.call(2);
    expect(second.offsets).toEqual([off('t', 0, 9)]);
    second.resolve();
    await c.flush();
    expect(c.committed('t', 0)).toBe(9);
  });

  it('flush resolves only after everything acked so far is committed', async () => {
    const { commit, c } = setup();
    c.ack('t', 0, 5, 0, 0);
    const first = await commit.call(1);
    c.ack('t', 0, 9, 0, 0);
    let flushed = false;
    const flushing = c.flush().then(() => (flushed = true));
    await turn();
    expect(flushed).toBe(false);
    first.resolve();
    const second = await commit.call(2);
    await turn();
    expect(flushed).toBe(false); // the second request is still in flight
    second.resolve();
    await flushing;
    expect(c.committed('t', 0)).toBe(9);
  });

  describe('generations', () => {
    it('drops acks of an older generation and never commits them', async () => {
      const { commit, committed, c } = setup();
      c.newGeneration(2);
      c.ack('t', 0, 10, 1, 0);
      c.ack('t', 1, 10, 0, 0);
      await c.flush();
      await turn();
      expect(commit.calls).toHaveLength(0);
      c.ack('t', 0, 20, 2, 0);
      (await commit.call(1)).resolve();
      await c.flush();
      expect(commit.calls.map((x) => x.offsets)).toEqual([[off('t', 0, 20)]]);
      expect(committed.map((x) => x[2])).toEqual([20]);
    });

    it('drops acks pending behind an in-flight commit when the generation changes', async () => {
      const { commit, committed, c } = setup();
      c.ack('t', 0, 5, 0, 0);
      const first = await commit.call(1);
      c.ack('t', 0, 9, 0, 0); // pending, generation 0
      c.newGeneration(1);
      first.resolve();
      await c.flush();
      await turn();
      expect(commit.calls).toHaveLength(1); // 9 never sent
      // The in-flight request finished after the generation ended: not recorded as ours.
      expect(c.committed('t', 0)).toBeUndefined();
      expect(committed).toEqual([]);
    });

    it('clears what it remembers as committed on a new generation', async () => {
      const { commit, c } = setup();
      c.ack('t', 0, 5, 0, 0);
      (await commit.call(1)).resolve();
      await c.flush();
      expect(c.committed('t', 0)).toBe(5);
      c.newGeneration(1);
      expect(c.committed('t', 0)).toBeUndefined();
    });

    it('never retries a commit of an older generation: generation changes before the failure', async () => {
      const { commit, committed, c } = setup();
      c.ack('t', 0, 5, 0, 0);
      const first = await commit.call(1);
      c.newGeneration(1);
      first.reject(new Error('Connection error: read ECONNRESET')); // transient
      await c.flush();
      await turn();
      expect(commit.calls).toHaveLength(1);
      expect(committed).toEqual([]);
    });

    it('never retries a commit of an older generation: generation changes during the backoff', async () => {
      const { commit, committed, c } = setup();
      c.ack('t', 0, 5, 0, 0);
      const first = await commit.call(1);
      // Fake timers hold the backoff until the generation has changed.
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      try {
        first.reject(new Error('Request timed out'));
        await turn(); // the retry loop is now waiting out its backoff
        expect(vi.getTimerCount()).toBe(1);
        c.newGeneration(1);
        await vi.advanceTimersByTimeAsync(BACKOFF.maxMs);
      } finally {
        vi.useRealTimers();
      }
      await c.flush();
      await turn();
      expect(commit.calls).toHaveLength(1);
      expect(committed).toEqual([]);
      expect(c.committed('t', 0)).toBeUndefined();
    });

    it('after dropping a stale commit, commits the new generation’s acks, and only those', async () => {
      const { commit, committed, c } = setup();
      c.ack('t', 0, 5, 0, 0);
      const first = await commit.call(1);
      c.newGeneration(1);
      c.ack('t', 0, 3, 1, 33); // the new owner (us again) re-read from 3
      first.reject(new Error('Request timed out'));
      const second = await commit.call(2);
      expect(second.offsets).toEqual([off('t', 0, 3)]);
      second.resolve();
      await c.flush();
      expect(commit.calls).toHaveLength(2);
      expect(committed).toEqual([['t', 0, 3, 33]]);
    });
  });

  describe('failures', () => {
    it('retries a transient failure with the same offsets, then records the commit', async () => {
      const { commit, c } = setup();
      c.ack('t', 0, 5, 0, 0);
      const first = await commit.call(1);
      c.ack('t', 1, 8, 0, 0);
      c.ack('u', 2, 4, 0, 0);
      first.resolve();
      const second = await commit.call(2);
      expect(second.offsets).toEqual([off('t', 1, 8), off('u', 2, 4)]);
      second.reject(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092'));
      const third = await commit.call(3);
      expect(third.offsets).toEqual(second.offsets);
      expect(c.committed('t', 1)).toBeUndefined();
      third.resolve();
      await c.flush();
      expect([c.committed('t', 0), c.committed('t', 1), c.committed('u', 2)]).toEqual([5, 8, 4]);
    });

    it('keeps retrying as long as the failure is transient', async () => {
      const { commit, c } = setup();
      c.ack('t', 0, 5, 0, 0);
      for (let i = 1; i <= 5; i++) (await commit.call(i)).reject(new Error('The coordinator is not available'));
      (await commit.call(6)).resolve();
      await c.flush();
      expect(commit.calls).toHaveLength(6);
      expect(c.committed('t', 0)).toBe(5);
    });

    it('acks arriving during a retry go into the next request, not the retried one', async () => {
      const { commit, c } = setup();
      c.ack('t', 0, 5, 0, 0);
      (await commit.call(1)).reject(new Error('timeout'));
      c.ack('t', 0, 9, 0, 0);
      const retried = await commit.call(2);
      expect(retried.offsets).toEqual([off('t', 0, 5)]);
      retried.resolve();
      const next = await commit.call(3);
      expect(next.offsets).toEqual([off('t', 0, 9)]);
      next.resolve();
      await c.flush();
      expect(c.committed('t', 0)).toBe(9);
    });

    it.each([
      ['kafkajs error with type REBALANCE_IN_PROGRESS', rebalance()],
      ['plain object with type REBALANCE_IN_PROGRESS', { type: 'REBALANCE_IN_PROGRESS' }],
      ['ILLEGAL_GENERATION', { type: 'ILLEGAL_GENERATION' }],
      ['UNKNOWN_MEMBER_ID', { type: 'UNKNOWN_MEMBER_ID' }],
      ['FENCED_INSTANCE_ID', { type: 'FENCED_INSTANCE_ID' }],
      ['KafkaJSRebalanceInProgress by name', Object.assign(new Error('rebalancing'), { name: 'KafkaJSRebalanceInProgress' })],
      ['a wrapped rebalance error', new Error('commit failed', { cause: { type: 'ILLEGAL_GENERATION' } })],
    ])('drops instead of retrying on a rebalance error: %s', async (_name, err) => {
      const { commit, committed, c } = setup();
      c.ack('t', 0, 5, 0, 0);
      (await commit.call(1)).reject(err);
      await c.flush();
      await turn();
      expect(commit.calls).toHaveLength(1);
      expect(committed).toEqual([]);
      expect(c.committed('t', 0)).toBeUndefined();
    });

    it('keeps committing later acks after dropping on a rebalance error', async () => {
      const { commit, c } = setup();
      c.ack('t', 0, 5, 0, 0);
      const first = await commit.call(1);
      c.ack('t', 0, 9, 0, 0);
      first.reject(rebalance());
      const second = await commit.call(2);
      expect(second.offsets).toEqual([off('t', 0, 9)]);
      second.resolve();
      await c.flush();
      expect(c.committed('t', 0)).toBe(9);
    });

    it('gives up at shutdown: an abort during the retries ends flush without committing', async () => {
      const abort = new AbortController();
      const { commit, committed, c } = setup(abort.signal);
      c.ack('t', 0, 5, 0, 0);
      (await commit.call(1)).reject(new Error('timeout'));
      abort.abort();
      await c.flush();
      expect(committed).toEqual([]);
      expect(c.committed('t', 0)).toBeUndefined();
      // Nothing further is attempted once aborted.
      c.ack('t', 0, 9, 0, 0);
      await c.flush();
      await turn();
      expect(commit.calls.every((x) => x.offsets[0]!.offset === '5')).toBe(true);
    });
  });
});

describe('isRebalanceError', () => {
  it.each(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID'])('%s is a rebalance error', (type) => {
    expect(isRebalanceError({ type })).toBe(true);
    expect(isRebalanceError(Object.assign(new Error('x'), { type }))).toBe(true);
  });

  it('recognises KafkaJSRebalanceInProgress and causes nested several levels deep', () => {
    expect(isRebalanceError(Object.assign(new Error('x'), { name: 'KafkaJSRebalanceInProgress' }))).toBe(true);
    expect(isRebalanceError(new Error('a', { cause: new Error('b', { cause: { type: 'UNKNOWN_MEMBER_ID' } }) }))).toBe(true);
  });

  it('does not mistake other failures for a rebalance', () => {
    expect(isRebalanceError(null)).toBe(false);
    expect(isRebalanceError(undefined)).toBe(false);
    expect(isRebalanceError(new Error('REBALANCE_IN_PROGRESS in the message only'))).toBe(false);
    expect(isRebalanceError({ type: 'REQUEST_TIMED_OUT' })).toBe(false);
    expect(isRebalanceError({ type: 'COORDINATOR_NOT_AVAILABLE' })).toBe(false);
    expect(isRebalanceError('REBALANCE_IN_PROGRESS')).toBe(false);
  });

  it('terminates on a self-referencing cause', () => {
    const e = new Error('loop') as Error & { cause?: unknown };
    e.cause = e;
    expect(isRebalanceError(e)).toBe(false);
  });
});

describe('Committer.intent: a batch end recorded before the batch is written (issue #11)', () => {
  it('commits the durable offset with sluice.cut metadata and resolves true once acknowledged', async () => {
    const { commit, committed, c } = setup();
    c.newGeneration(1);
    const ok = c.intent('t', 0, 100, 150, 1);
    const call = await commit.call(1);
    expect(call.offsets).toEqual([{ topic: 't', partition: 0, offset: '100', metadata: 'sluice.cut:100:150' }]);
    call.resolve();
    expect(await ok).toBe(true);
    // No new record behind an intent: the lag gauges are not touched.
    expect(committed).toEqual([]);
    // The batch's own ack then clears the metadata.
    c.ack('t', 0, 150, 1, 7);
    const next = await commit.call(2);
    expect(next.offsets).toEqual([off('t', 0, 150)]);
    next.resolve();
    await c.flush();
    expect(committed).toEqual([['t', 0, 150, 7]]);
  });

  it('resolves false for an old generation, and when a rebalance drops it', async () => {
    const { commit, c } = setup();
    c.newGeneration(2);
    expect(await c.intent('t', 0, 10, 20, 1)).toBe(false);
    const pending = c.intent('t', 0, 10, 20, 2);
    (await commit.call(1)).reject(rebalance());
    expect(await pending).toBe(false);
  });

  it('takes over a pending ack of the same offset (one commit, with the metadata)', async () => {
    const { commit, c } = setup();
    c.newGeneration(1);
    c.ack('t', 0, 5, 1, 1);
    const first = await commit.call(1); // in flight: 5
    c.ack('t', 0, 10, 1, 2);
    const ok = c.intent('t', 0, 10, 12, 1);
    first.resolve();
    const second = await commit.call(2);
    expect(second.offsets).toEqual([{ topic: 't', partition: 0, offset: '10', metadata: 'sluice.cut:10:12' }]);
    second.resolve();
    expect(await ok).toBe(true);
  });
});
