/**
 * retry: backoff with jitter, and the loop that retries for as long as a
 * failure is retriable — no attempt limit (a sink that gives up drops data),
 * fatal errors at the slowest pace, data errors out at once, shutdown ends it.
 * Time and randomness are injected: no real sleeps here.
 */
import { describe, expect, it } from 'vitest';
import { AbortedError, ClickHouseError, SluiceError } from '../../src/errors.js';
import { backoffDelay, retry, sleep, Wakeup } from '../../src/retry.js';
import { EventTally, LogRateLimit } from '../../src/ops/log.js';
import { vi } from 'vitest';

const opts = { initialMs: 100, maxMs: 1000 };

describe('backoffDelay', () => {
  it('doubles per attempt from initialMs (upper end of the jitter)', () => {
    const top = { ...opts, random: () => 1 };
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, top))).toEqual([100, 200, 400, 800]);
  });

  it('caps at maxMs, also for huge attempt numbers (no Infinity/NaN)', () => {
    const top = { ...opts, random: () => 1 };
    expect(backoffDelay(4, top)).toBe(1000);
    expect(backoffDelay(10, top)).toBe(1000);
    expect(backoffDelay(1_000, top)).toBe(1000);
    expect(backoffDelay(Number.MAX_SAFE_INTEGER, top)).toBe(1000);
  });

  it('jitter: half fixed, half random — the lower end is base/2', () => {
    const bottom = { ...opts, random: () => 0 };
    expect([0, 1, 2, 3, 4, 20].map((a) => backoffDelay(a, bottom))).toEqual([50, 100, 200, 400, 500, 500]);
    expect(backoffDelay(1, { ...opts, random: () => 0.5 })).toBe(150);
  });

  it('stays within [base/2, base] for any random value', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const base = Math.min(opts.maxMs, opts.initialMs * 2 ** attempt);
      for (let i = 0; i <= 100; i++) {
        const r = Math.min(i / 100, 0.999_999);
        const d = backoffDelay(attempt, { ...opts, random: () => r });
        expect(d).toBeGreaterThanOrEqual(Math.floor(base / 2));
        expect(d).toBeLessThanOrEqual(base);
      }
    }
  });

  it('uses Math.random by default, still within bounds', () => {
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(3, opts);
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(800);
    }
  });

  it('returns whole milliseconds', () => {
    expect(Number.isInteger(backoffDelay(0, { initialMs: 3, maxMs: 10, random: () => 0.3 }))).toBe(true);
  });
});

/** A sleep that records the delays and returns at once (or honours an abort). */
function fakeSleep() {
  const delays: number[] = [];
  const fn = async (ms: number, signal?: AbortSignal) => {
    delays.push(ms);
    if (signal?.aborted) throw new AbortedError('sleep');
  };
  return { delays, fn };
}

/** An op failing with each of `errors` in turn, then resolving with `value`. */
function failing<T>(errors: unknown[], value: T) {
  let calls = 0;
  const op = async () => {
    const e = errors[calls++];
    if (e !== undefined) throw e;
    return value;
  };
  return { op, calls: () => calls };
}

const transient = () => new ClickHouseError('transient', 'connect ECONNREFUSED 127.0.0.1:8123');
const classify = (err: unknown) => (err instanceof SluiceError ? err : new SluiceError('transient', String(err)));

describe('retry', () => {
  it('returns the result at once when the op succeeds', async () => {
    const s = fakeSleep();
    const op = failing([], 'ok');
    await expect(retry(op.op, { ...opts, classify, sleep: s.fn, what: 'x' })).resolves.toBe('ok');
    expect(op.calls()).toBe(1);
    expect(s.delays).toEqual([]);
  });

  it('retries transient errors with growing backoff until the op succeeds', async () => {
    const s = fakeSleep();
    const retries: [string, number, number][] = [];
    const op = failing([transient(), transient(), transient(), transient(), transient()], 42);
    const result = await retry(op.op, {
      ...opts,
      random: () => 1,
      classify,
      sleep: s.fn,
      what: 'insert',
      onRetry: (err, attempt, delay) => retries.push([err.kind, attempt, delay]),
    });
    expect(result).toBe(42);
    expect(op.calls()).toBe(6);
    expect(s.delays).toEqual([100, 200, 400, 800, 1000]);
    expect(retries).toEqual([
      ['transient', 0, 100],
      ['transient', 1, 200],
      ['transient', 2, 400],
      ['transient', 3, 800],
      ['transient', 4, 1000],
    ]);
  });

  it('has no attempt limit', async () => {
    const s = fakeSleep();
    const op = failing(Array.from({ length: 500 }, transient), 'finally');
    await expect(retry(op.op, { ...opts, classify, sleep: s.fn, what: 'x' })).resolves.toBe('finally');
    expect(op.calls()).toBe(501);
    expect(Math.max(...s.delays)).toBeLessThanOrEqual(opts.maxMs);
  });

  it('throws a data error at once, without sleeping', async () => {
    const s = fakeSleep();
    const data = new ClickHouseError('data', 'Code: 27 (at row 1)', 27, 1);
    const op = failing([data], 'never');
    await expect(retry(op.op, { ...opts, classify, sleep: s.fn, what: 'x' })).rejects.toBe(data);
    expect(op.calls()).toBe(1);
    expect(s.delays).toEqual([]);
  });

  it('throws the classified error, not the raw one', async () => {
    const s = fakeSleep();
    const raw = new Error('Code: 27, e.displayText() = DB::Exception: bad (at row 3)');
    const classified = new ClickHouseError('data', 'bad', 27, 3);
    const op = failing([raw], 'never');
    await expect(retry(op.op, { ...opts, classify: () => classified, sleep: s.fn, what: 'x' })).rejects.toBe(classified);
  });

  it('throws a config error at once', async () => {
    const s = fakeSleep();
    const err = new SluiceError('config', 'bad');
    await expect(retry(failing([err], 1).op, { ...opts, classify, sleep: s.fn, what: 'x' })).rejects.toBe(err);
    expect(s.delays).toEqual([]);
  });

  it('retries fatal errors at maxMs, every time', async () => {
    const s = fakeSleep();
    const fatal = () => new ClickHouseError('fatal', "Table default.x doesn't exist", 60);
    const op = failing([fatal(), fatal(), fatal()], 'fixed');
    const delays: number[] = [];
    await expect(
      retry(op.op, { ...opts, random: () => 0, classify, sleep: s.fn, what: 'x', onRetry: (_e, _a, d) => delays.push(d) }),
    ).resolves.toBe('fixed');
    expect(s.delays).toEqual([1000, 1000, 1000]);
    expect(delays).toEqual([1000, 1000, 1000]);
  });

  it('mixes fatal and transient delays by the kind of each failure', async () => {
    const s = fakeSleep();
    const fatal = new ClickHouseError('fatal', 'auth', 516);
    const op = failing([transient(), fatal, transient()], 'ok');
    await retry(op.op, { ...opts, random: () => 1, classify, sleep: s.fn, what: 'x' });
    expect(s.delays).toEqual([100, 1000, 400]);
  });

  it('passes the signal to sleep', async () => {
    const seen: (AbortSignal | undefined)[] = [];
    const controller = new AbortController();
    await retry(failing([transient()], 1).op, {
      ...opts,
      classify,
      signal: controller.signal,
      what: 'x',
      sleep: async (_ms, signal) => void seen.push(signal),
    });
    expect(seen).toEqual([controller.signal]);
  });

  it('stops with AbortedError when the signal aborts during a backoff', async () => {
    const controller = new AbortController();
    let calls = 0;
    const op = async () => {
      calls++;
      throw transient();
    };
    const err = await retry(op, {
      ...opts,
      classify,
      signal: controller.signal,
      what: 'insert',
      sleep: async (_ms, signal) => {
        controller.abort();
        if (signal?.aborted) throw new AbortedError('sleep');
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect(calls).toBe(1);
  });

  it('stops with AbortedError before the next attempt even if sleep ignores the signal', async () => {
    const controller = new AbortController();
    let calls = 0;
    const op = async () => {
      calls++;
      throw transient();
    };
    const err = await retry(op, {
      ...opts,
      classify,
      signal: controller.signal,
      what: 'commit',
      sleep: async () => controller.abort(),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as AbortedError).message).toContain('commit');
    expect(calls).toBe(1);
  });

  it('does not call the op at all when already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    let calls = 0;
    const err = await retry(async () => calls++, { ...opts, classify, signal: controller.signal, what: 'x', sleep: fakeSleep().fn }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect(calls).toBe(0);
  });

  it('does not retry an AbortedError thrown by the op (and does not classify it)', async () => {
    const s = fakeSleep();
    const aborted = new AbortedError('inner');
    let classified = 0;
    const err = await retry(failing([aborted], 1).op, {
      ...opts,
      classify: (e) => (classified++, classify(e)),
      sleep: s.fn,
      what: 'x',
    }).catch((e: unknown) => e);
    expect(err).toBe(aborted);
    expect(classified).toBe(0);
    expect(s.delays).toEqual([]);
  });
});

describe('sleep', () => {
  it('rejects at once with AbortedError when the signal is already aborted', async () => {
    const c = new AbortController();
    c.abort();
    await expect(sleep(60_000, c.signal)).rejects.toBeInstanceOf(AbortedError);
  });

  it('rejects with AbortedError when aborted while waiting', async () => {
    const c = new AbortController();
    const p = sleep(60_000, c.signal);
    c.abort();
    await expect(p).rejects.toBeInstanceOf(AbortedError);
  });

  it('resolves after the delay', async () => {
    await expect(sleep(0)).resolves.toBeUndefined();
  });
});

describe('Wakeup: a recovered service ends the backoff at once (issue #16)', () => {
  it('a woken retry tries again without waiting out its delay, and its backoff starts over', async () => {
    vi.useFakeTimers();
    try {
      const wake = new Wakeup();
      let calls = 0;
      const seen: number[] = [];
      const done = retry(
        async () => {
          calls++;
          if (calls < 3) throw new Error('connection refused');
          return 'ok';
        },
        {
          initialMs: 60_000,
          maxMs: 600_000,
          what: 'insert',
          wake,
          classify: (e) => new SluiceError('transient', String(e)),
          onRetry: (_e, attempt) => seen.push(attempt),
        },
      );
      // Fake timers never advance here: only fire() can end a sleep.
      await vi.waitFor(() => expect(calls).toBe(1));
      wake.fire();
      await vi.waitFor(() => expect(calls).toBe(2));
      wake.fire();
      expect(await done).toBe('ok');
      expect(calls).toBe(3);
      // Both retries counted as first attempts: the woken wait reset the backoff.
      expect(seen).toEqual([0, 0]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('fire() with nobody sleeping is a no-op, and an aborted sleep rejects', async () => {
    const wake = new Wakeup();
    wake.fire();
    const abort = new AbortController();
    const p = wake.sleep(60_000, abort.signal);
    abort.abort();
    await expect(p).rejects.toBeInstanceOf(AbortedError);
    expect(await wake.sleep(0)).toBe(false);
  });
});

describe('LogRateLimit and EventTally', () => {
  it('admits one line per key per interval and reports how many were held back', () => {
    let t = 0;
    const limit = new LogRateLimit(1000, () => t);
    expect(limit.admit('a')).toEqual({});
    expect(limit.admit('a')).toBeUndefined();
    expect(limit.admit('a')).toBeUndefined();
    expect(limit.admit('b')).toEqual({});
    t = 1000;
    expect(limit.admit('a')).toEqual({ suppressed: 2 });
    expect(limit.admit('a')).toBeUndefined();
  });

  it('counts by label set and starts over on drain', () => {
    const tally = new EventTally();
    tally.add({ topic: 't', reason: 'rejected' });
    tally.add({ topic: 't', reason: 'rejected' }, 4);
    tally.add({ topic: 't', reason: 'too_large' });
    expect(tally.drain()).toEqual([
      { topic: 't', reason: 'rejected', count: 5 },
      { topic: 't', reason: 'too_large', count: 1 },
    ]);
    expect(tally.drain()).toEqual([]);
  });
});
