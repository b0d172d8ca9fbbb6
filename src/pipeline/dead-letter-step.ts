/**
 * dead-letter-step — produces one batch's dead letters, retrying until the
 * dead-letter topic acknowledges all of them.
 *
 * Contract: resolves once every letter is acknowledged (then counted in
 * metrics and the periodic dlq.summary); a retry resumes after the letters
 * already acknowledged, so none is produced twice. A produce the broker
 * refuses outright, or one failing for a while, stalls the partition
 * visibly (one dlq.produce_failing error line, /readyz) until it succeeds;
 * nothing is dropped. Rejects only with AbortedError (shutdown, abandon).
 */
import { SluiceError, errorMessage } from '../errors.js';
import type { DeadLetter, DeadLetterSink } from '../dlq/dead-letters.js';
import { errorTag } from '../ops/redact.js';
import { retry } from '../retry.js';
import type { StepContext } from './step.js';

export async function sendDeadLetters(c: StepContext, sink: DeadLetterSink, letters: DeadLetter[], meta: Record<string, unknown>): Promise<void> {
  // Shared by every attempt: a retry resumes after the letters already acknowledged.
  const progress = { sent: 0 };
  let stalled = false;
  const { truncated } = await retry(() => sink.send({ topic: c.topic, partition: c.partition, table: c.table }, letters, progress), {
    ...c.deps.backoff,
    what: 'dead-letter produce',
    signal: c.signal,
    classify: (err) => classifyKafka(err),
    onRetry: (err, attempt, delayMs) => {
      c.deps.metrics.retries.inc({ operation: 'dead_letter', kind: err.kind });
      const fields = { ...meta, error: err.message, kind: err.kind, attempt, delayMs, sent: progress.sent, of: letters.length };
      // A produce the broker refuses outright, or one failing for a while,
      // holds the partition: say so where on-call looks (/readyz, error log).
      if ((err.kind === 'fatal' || attempt >= 3) && !stalled) {
        c.log.error('dlq.produce_failing', fields);
        stalled = true;
        c.stall(`dead-letter produce failing ${errorTag(err)}`);
      } else {
        const extra = c.deps.logLimit.admit(`${c.key}:dlq`);
        if (extra) c.log.warn('dlq.retry', { ...fields, ...extra });
      }
    },
  });
  if (stalled) c.stall(undefined);
  for (const l of letters) {
    const table = l.table ?? c.table;
    c.deps.metrics.recordsDeadLettered.inc({ topic: c.topic, table, reason: l.reason });
    c.deps.deadLetterTally.add({ topic: c.topic, table, reason: l.reason });
  }
  if (truncated > 0) c.deps.metrics.deadLettersTruncated.inc({ topic: c.topic }, truncated);
  // Counted by metrics and summarised by main.ts every minute (dlq.summary); per batch only at debug.
  c.log.debug('dlq.sent', { ...meta, deadLetters: letters.length, truncated, offsets: letters.slice(0, 20).map((l) => l.record.offset) });
}

function classifyKafka(err: unknown) {
  // kafkajs marks its errors `retriable`; anything else from the producer
  // (e.g. a broker that vanished mid-request) is worth retrying as well.
  const e = err as { retriable?: unknown; message?: unknown };
  const kind = e && e.retriable === false ? 'fatal' : 'transient';
  return new SluiceError(kind, errorMessage(err), { cause: err });
}
