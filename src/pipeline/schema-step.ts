/**
 * schema-step — before a batch is decoded: what its records' format needs
 * fetched first (Schema Registry schema ids; formats/record-format.ts),
 * retried until it is there.
 *
 * Contract: resolves once `prepare(records)` succeeded; retries every
 * failure (a registry outage or overload: transient; bad credentials:
 * fatal, at the slowest pace) with backoff and jitter while the batch stays
 * queued, so the partition's buffer fills and the pipeline pauses it, as
 * for a ClickHouse outage. Nothing is dead-lettered for it: an id the
 * registry does not have is not a failure here (the decoder makes that
 * record a bad record). Rejects only with AbortedError (shutdown, abandon).
 */
import { SluiceError, errorMessage } from '../errors.js';
import type { SourceRecord } from '../kafka/record.js';
import { errorTag } from '../ops/redact.js';
import { retry } from '../retry.js';
import type { StepContext } from './step.js';

export async function prepareWithRetry(c: StepContext, prepare: (records: readonly SourceRecord[]) => Promise<void>, records: readonly SourceRecord[]): Promise<void> {
  let stalled = false;
  await retry(() => prepare(records), {
    ...c.deps.backoff,
    what: 'schema registry',
    signal: c.signal,
    classify: (err) => (err instanceof SluiceError ? err : new SluiceError('transient', errorMessage(err), { cause: err })),
    onRetry: (err, attempt, delayMs) => {
      c.deps.metrics.retries.inc({ operation: 'schema_registry', kind: err.kind });
      const fields = { firstOffset: records[0]?.offset, error: err.message, kind: err.kind, attempt, delayMs };
      if (err.kind === 'fatal' && !stalled) c.log.error('registry.failing', fields);
      else {
        const extra = c.deps.logLimit.admit(`${c.key}:registry`);
        if (extra) c.log.warn('registry.retry', { ...fields, ...extra });
      }
      if (err.kind === 'fatal' || attempt >= 3) {
        stalled = true;
        c.stall(`schema registry failing ${errorTag(err)}`);
      }
    },
  });
  if (stalled) c.stall(undefined);
}
