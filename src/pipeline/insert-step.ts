/**
 * insert-step — one slice of a partition's batch as one INSERT, retried
 * until ClickHouse acknowledges it.
 *
 * Contract: each attempt takes one slot of the shared insert queue (a
 * partition waiting out its backoff holds none) and asks `bodyFor` for the
 * body anew, so rows are re-encoded after a schema change. Data errors
 * (the server refused rows; InvalidRowError from bodyFor) reject at once,
 * for the isolation to handle; everything else is retried with backoff and
 * jitter, cut short when ClickHouse answers again (Wakeup). An insert that
 * names a column the table lost triggers `refreshSchema` and is retried
 * soon. Credentials or a missing table log one insert.failing error per
 * stall; routine retries are rate-limited warnings. Metrics of inserted
 * rows, bytes and latency are counted on success; `landed` sees every row
 * with the moment its insert was acknowledged (end-to-end latency).
 */
import type { InsertBody } from '../clickhouse/writer.js';
import { classifyClickHouseError } from '../clickhouse/errors.js';
import { ClickHouseError } from '../errors.js';
import type { SourceRecord } from '../kafka/record.js';
import { errorTag } from '../ops/redact.js';
import { retry } from '../retry.js';
import type { StepContext } from './step.js';

const NO_SUCH_COLUMN_IN_TABLE = 16;
const UNKNOWN_IDENTIFIER = 47;

export async function insertWithRetry(
  c: StepContext,
  slice: readonly SourceRecord[],
  bodyFor: (slice: readonly SourceRecord[]) => { body: InsertBody; bytes: number },
  refreshSchema: () => void,
): Promise<void> {
  const { metrics } = c.deps;
  let stalled = false;
  let bytes = 0;
  await retry(
    () =>
      c.deps.insertQueue.add(async () => {
        // Per attempt: after a schema change the rows are encoded anew.
        const encoded = bodyFor(slice);
        bytes = encoded.bytes;
        const rows = { topic: c.recordedTopic, partition: c.partition, firstOffset: slice[0]!.offset, lastOffset: slice[slice.length - 1]!.offset, chunks: encoded.body.chunks };
        const started = Date.now();
        metrics.inflightInserts.inc();
        try {
          await c.deps.insert(c.table, encoded.body, rows);
        } finally {
          metrics.inflightInserts.dec();
        }
        const done = Date.now();
        metrics.insertDuration.observe({ table: c.table }, (done - started) / 1000);
        c.deps.landed(c.table, slice, done);
      }),
    {
      ...c.deps.backoff,
      what: 'insert',
      signal: c.signal,
      classify: (err) => {
        const e = classifyClickHouseError(err);
        // The insert named a column the table no longer has: the schema
        // changed under us. Read it again and retry soon, not at the
        // slow pace of errors a person must fix.
        if (e.code === NO_SUCH_COLUMN_IN_TABLE || e.code === UNKNOWN_IDENTIFIER) {
          refreshSchema();
          return new ClickHouseError('transient', e.message, e.code, e.row, { cause: err });
        }
        return e;
      },
      wake: c.deps.wake,
      onRetry: (err, attempt, delayMs) => {
        metrics.retries.inc({ operation: 'insert', kind: err.kind });
        const fields = { firstOffset: slice[0]!.offset, rows: slice.length, error: err.message, code: err.code, kind: err.kind, attempt, delayMs };
        if (err.kind === 'fatal' && !stalled) {
          // Credentials, a missing table: a person must act. Once per stall;
          // the retries go on quietly (metrics, /readyz) until it is fixed.
          c.log.error('insert.failing', fields);
        } else {
          // Transient (network, overload, a restart): heals by itself.
          const extra = c.deps.logLimit.admit(`${c.key}:insert`);
          if (extra) c.log.warn('insert.retry', { ...fields, ...extra });
        }
        if (err.kind === 'fatal' || attempt >= 3) {
          stalled = true;
          c.stall(`insert failing ${errorTag(err)}`);
        }
      },
    },
  );
  if (stalled) c.stall(undefined);
  metrics.recordsInserted.inc({ topic: c.topic, table: c.table }, slice.length);
  metrics.bytesInserted.inc({ topic: c.topic, table: c.table }, bytes);
  metrics.batchesInserted.inc({ topic: c.topic, table: c.table });
  metrics.batchRows.observe({ table: c.table }, slice.length);
}
