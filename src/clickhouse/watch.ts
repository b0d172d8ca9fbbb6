/**
 * watch — pings ClickHouse and says when it stops and starts answering.
 *
 * Contract: `start()` pings every `healthyMs` (5 s) while the server
 * answers and every `failingMs` (1 s) while it does not; `onState` hears
 * each answer (undefined, or the error when failing: the caller decides
 * what of it may be shown where). The first answer after a failure
 * fires `wake`, so inserts waiting out a long backoff try again at once:
 * partitions resume within about a second of the warehouse coming back
 * instead of up to 30 s later (issue #16).
 */
import type { Logger } from '../ops/log.js';
import type { Wakeup } from '../retry.js';

export interface ClickHouseWatch {
  start(): void;
  stop(): void;
}

export function createClickHouseWatch(
  ping: () => Promise<void>,
  onState: (error: unknown) => void,
  wake: Wakeup,
  log: Logger,
  timing: { healthyMs: number; failingMs: number } = { healthyMs: 5000, failingMs: 1000 },
): ClickHouseWatch {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let failingSince: number | undefined;
  const once = async () => {
    try {
      await ping();
      if (failingSince !== undefined) {
        log.info('clickhouse.recovered', { downMs: Date.now() - failingSince });
        failingSince = undefined;
        wake.fire();
      }
      onState(undefined);
    } catch (err) {
      if (failingSince === undefined) failingSince = Date.now();
      onState(err ?? new Error('ping failed'));
    }
    if (!stopped) timer = setTimeout(once, failingSince === undefined ? timing.healthyMs : timing.failingMs);
  };
  return {
    start() {
      timer = setTimeout(once, timing.healthyMs);
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
