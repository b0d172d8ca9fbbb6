/**
 * end-offsets — asks the broker for the log end offset of every partition
 * of the consumed topics, every few seconds, for the lag gauges.
 *
 * Contract: `start()` polls every `intervalMs` until `stop()`; each answer
 * goes to `onEnds` as { topic, partition, high }. A failed poll (broker
 * restarting) is logged at debug and tried again next time: lag is a gauge,
 * and the next answer replaces the missed one. Its own admin connection, so
 * a consumer paused by backpressure still learns how far the log has grown.
 */
import type { Admin, Kafka } from 'kafkajs';
import { errorMessage } from '../errors.js';
import type { Logger } from '../ops/log.js';

export interface EndOffsetPoller {
  start(): void;
  stop(): Promise<void>;
}

export function createEndOffsetPoller(
  kafka: Kafka,
  topics: readonly string[],
  onEnds: (ends: Array<{ topic: string; partition: number; high: number }>) => void,
  log: Logger,
  intervalMs = 5000,
): EndOffsetPoller {
  let admin: Admin | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const poll = async () => {
    try {
      if (!admin) {
        admin = kafka.admin();
        await admin.connect();
      }
      for (const topic of topics) {
        const offsets = await admin.fetchTopicOffsets(topic);
        if (!stopped) onEnds(offsets.map((o) => ({ topic, partition: o.partition, high: Number(o.high) })));
      }
    } catch (err) {
      log.debug('kafka.end_offsets_failed', { error: errorMessage(err) });
    }
    if (!stopped) timer = setTimeout(poll, intervalMs);
  };
  return {
    start() {
      timer = setTimeout(poll, intervalMs);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await admin?.disconnect().catch(() => {});
    },
  };
}
