/**
 * isolate — find exactly the records ClickHouse rejects for their content,
 * while every other record of the batch still lands, in order.
 *
 * Contract: `insertIsolating(records, insert)` calls `insert` on contiguous,
 * in-order slices until every record is either inserted or returned as bad
 * (with the data error that condemned it). Errors that are not data errors
 * propagate unchanged (the caller retries transient ones around `insert`).
 *
 * Strategy: when the server names the failing row ("at row N"), the rows
 * before it go in as one insert, row N is tried alone (so a wrong position —
 * e.g. one record holding two JSON objects — can only ever cost an extra
 * insert, never condemn a good record), and the rest continues the same way.
 * Without a position the slice is bisected. With k bad records in n, this
 * costs about 3k inserts when positions are given, O(k·log n) otherwise.
 *
 * `stopWhen(badSoFar, examinedSoFar)` ends the search early (a flood of rejections is a
 * broken deploy, not bad records, and isolating it would cost thousands of
 * inserts): records not yet inserted or condemned come back as
 * `unresolved`, in order.
 */
import type { SourceRecord } from '../kafka/record.js';
import { ClickHouseError } from '../errors.js';

export interface Rejected {
  readonly record: SourceRecord;
  readonly error: ClickHouseError;
}

export interface Isolated {
  readonly bad: Rejected[];
  readonly unresolved: SourceRecord[];
}

export async function insertIsolating(
  records: readonly SourceRecord[],
  insert: (slice: readonly SourceRecord[]) => Promise<void>,
  stopWhen: (badSoFar: number, examinedSoFar: number) => boolean = () => false,
): Promise<Isolated> {
  const bad: Rejected[] = [];
  const unresolved: SourceRecord[] = [];
  let stopped = false;
  let examined = 0;
  const go = async (slice: readonly SourceRecord[]): Promise<void> => {
    if (slice.length === 0) return;
    if (stopped) {
      unresolved.push(...slice);
      return;
    }
    try {
      await insert(slice);
      examined += slice.length;
      return;
    } catch (err) {
      if (!(err instanceof ClickHouseError) || err.kind !== 'data') throw err;
      if (slice.length === 1) {
        bad.push({ record: slice[0]!, error: err });
        examined += 1;
        stopped = stopWhen(bad.length, examined);
        return;
      }
      const row = err.row;
      if (row !== undefined && row >= 1 && row <= slice.length) {
        await go(slice.slice(0, row - 1));
        await go(slice.slice(row - 1, row));
        await go(slice.slice(row));
      } else {
        const mid = slice.length >>> 1;
        await go(slice.slice(0, mid));
        await go(slice.slice(mid));
      }
    }
  };
  await go(records);
  return { bad, unresolved };
}
