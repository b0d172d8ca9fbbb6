/**
 * route-step — one partition's batch split by route (SLUICE_ROUTES) into
 * one group per table.
 *
 * Contract: `splitByRoute` returns the groups in the order their tables
 * first appear, each holding its records in offset order: the same records
 * always split the same way, so a re-read batch repeats every table's
 * block byte for byte (insert deduplication). Records routed nowhere are
 * appended to `letters` (reason 'unrouted', no table) or dropped and
 * counted, per SLUICE_ROUTE_UNMATCHED and `!drop` / `!deadletter` rules.
 * Only the fields the rules name are read (routes.ts): no record is
 * decoded here, and a record that goes nowhere is never decoded at all.
 */
import type { DeadLetter } from '../dlq/dead-letters.js';
import { DEADLETTER, DROP, type TopicRouter, type Unmatched } from '../formats/routes.js';
import type { SourceRecord } from '../kafka/record.js';

export function splitByRoute(
  router: TopicRouter,
  records: readonly SourceRecord[],
  letters: DeadLetter[],
  unmatched: Unmatched,
  dropped: (reason: 'unmatched' | 'rule', n: number) => void,
): Array<readonly [string, SourceRecord[]]> {
  const groups = new Map<string, SourceRecord[]>();
  let droppedUnmatched = 0;
  let droppedRule = 0;
  for (const r of records) {
    const target = router.route(r);
    if (target === undefined) {
      if (unmatched === 'drop') droppedUnmatched++;
      else letters.push({ record: r, reason: 'unrouted', code: undefined, message: router.describe(undefined), table: '' });
    } else if (target === DROP) {
      droppedRule++;
    } else if (target === DEADLETTER) {
      letters.push({ record: r, reason: 'unrouted', code: undefined, message: `routed to ${DEADLETTER}`, table: '' });
    } else {
      let g = groups.get(target);
      if (!g) groups.set(target, (g = []));
      g.push(r);
    }
  }
  if (droppedUnmatched > 0) dropped('unmatched', droppedUnmatched);
  if (droppedRule > 0) dropped('rule', droppedRule);
  return [...groups];
}
