/**
 * retry — exponential backoff with jitter, and a loop that retries an
 * operation for as long as its failures are retriable.
 *
 * Contract: `retry(op, opts)` resolves with op's result, or rejects with the
 * first error that is not retriable (`classify(err).retriable === false`),
 * or with AbortedError once `opts.signal` aborts. There is no attempt limit:
 * a sink that gives up on a write has to drop data or exit, and both are
 * worse than waiting for an operator (invariant 1, "no babysitting").
 * Fatal errors are retried at the maximum delay so a fixed warehouse resumes
 * the flow without a restart. Time and randomness are injected for tests.
 */
import { AbortedError, SluiceError } from './errors.js';

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly random?: () => number;
}

/** Delay before retry number `attempt` (0-based): doubling, capped, "equal jitter" (half fixed, half random). */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const base = Math.min(opts.maxMs, opts.initialMs * 2 ** Math.min(attempt, 30));
  const random = opts.random ?? Math.random;
  return Math.round(base / 2 + random() * (base / 2));
}

export interface RetryOptions<E extends SluiceError> extends BackoffOptions {
  readonly classify: (err: unknown) => E;
  readonly signal?: AbortSignal;
  readonly onRetry?: (err: E, attempt: number, delayMs: number) => void;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Cuts a backoff short (the service came back): the next attempt runs at once, and backoff starts over. */
  readonly wake?: Wakeup;
  readonly what: string;
}

/**
 * A signal that something a retry waits for has recovered (ClickHouse
 * answers again). Without it a partition whose backoff had grown to 30 s
 * waited out the rest of it after the warehouse was back (issue #16: up to
 * 25 s more after an outage).
 */
export class Wakeup {
  private waiters = new Set<() => void>();

  /** Ends every sleep in progress. */
  fire(): void {
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const w of waiters) w();
  }

  /** Like `sleep`, but resolves early with true when `fire()` is called. */
  sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortedError('sleep'));
      const done = (woken: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiters.delete(onWake);
        resolve(woken);
      };
      const onAbort = () => {
        clearTimeout(timer);
        this.waiters.delete(onWake);
        reject(new AbortedError('sleep'));
      };
      const onWake = () => done(true);
      const timer = setTimeout(() => done(false), ms);
      this.waiters.add(onWake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

export async function retry<T, E extends SluiceError>(op: () => Promise<T>, opts: RetryOptions<E>): Promise<T> {
  const sleepFn = opts.sleep ?? sleep;
  for (let attempt = 0; ; attempt++) {
    if (opts.signal?.aborted) throw new AbortedError(opts.what);
    try {
      return await op();
    } catch (raw) {
      if (raw instanceof AbortedError) throw raw;
      const err = opts.classify(raw);
      if (!err.retriable) throw err;
      const delay = err.kind === 'fatal' ? opts.maxMs : backoffDelay(attempt, opts);
      opts.onRetry?.(err, attempt, delay);
      if (opts.wake) {
        if (await opts.wake.sleep(delay, opts.signal)) attempt = -1;
      } else {
        await sleepFn(delay, opts.signal);
      }
    }
  }
}

/** setTimeout as a promise that an AbortSignal cuts short (with AbortedError). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError('sleep'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError('sleep'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `work`; true if it finished within `ms`, false if the time ran out first (the work is then left running). */
export async function within(ms: number, work: () => Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work().then(() => true as const), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
