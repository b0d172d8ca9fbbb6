/**
 * replay-tally — the counts a `sluice replay` run reports: letters read,
 * selected, replayed, still failing, skipped, deferred; per table; and the
 * errors grouped by code and class.
 *
 * Contract: plain counters, no I/O; the run increments, the summary reads.
 * Every text that came from a letter's headers (table names, error classes
 * and messages, forged destinations) is stored through plainText: no
 * control characters, one line, bounded; and the number of distinct groups
 * is bounded too, so a topic full of forged letters with a different name
 * each cannot grow the summary without end (the rest go to one `…` group).
 */
import { plainText } from '../ops/redact.js';

/** Most distinct tables, error groups and untrusted reasons kept apart in a summary. */
export const MAX_GROUPS = 100;
const OTHERS = '…';

export interface ErrorCount {
  readonly code: number | null;
  readonly errorClass: string;
  readonly count: number;
  readonly example: string;
}

export class Tally {
  read = 0;
  selected = 0;
  replayed = 0;
  stillFailing = 0;
  skippedByFilter = 0;
  deferred = 0;
  notDeadLetters = 0;
  /** Letters naming a destination outside the configuration (never written). */
  untrusted = 0;
  /** Of those, produced again unchanged to the end of the topic. */
  untrustedMoved = 0;
  readonly untrustedReasons = new Map<string, { reason: string; count: number; first: { partition: number; offset: number } }>();
  readonly tables = new Map<string, { table: string; selected: number; replayed: number; stillFailing: number }>();
  readonly failures = new Map<string, { code: number | null; errorClass: string; count: number; example: string }>();
  readonly recorded = new Map<string, { code: number | null; errorClass: string; count: number; example: string }>();

  table(name: string) {
    const key = bounded(this.tables, plainText(name, 100));
    let t = this.tables.get(key);
    if (!t) this.tables.set(key, (t = { table: key, selected: 0, replayed: 0, stillFailing: 0 }));
    return t;
  }

  /** One letter skipped for naming a destination outside the configuration; `reason` is already plain text. */
  skipUntrusted(reason: string, partition: number, offset: number): void {
    this.untrusted++;
    const key = bounded(this.untrustedReasons, reason);
    const r = this.untrustedReasons.get(key);
    if (r) r.count++;
    else this.untrustedReasons.set(key, { reason: key === OTHERS ? 'more destinations that are not configured' : key, count: 1, first: { partition, offset } });
  }

  static countError(into: Tally['failures'], code: number | undefined, errorClass: string, message: string): void {
    const cls = plainText(errorClass, 40);
    const key = bounded(into, `${code ?? ''}|${cls}`);
    const e = into.get(key);
    if (e) e.count++;
    else into.set(key, { code: code ?? null, errorClass: key === OTHERS ? OTHERS : cls, count: 1, example: plainText(message, 1000) });
  }
}

/** `key`, or the one overflow key once the map holds MAX_GROUPS others. */
function bounded(map: Map<string, unknown>, key: string): string {
  return map.has(key) || map.size < MAX_GROUPS ? key : OTHERS;
}

export function groupInto<T>(map: Map<string, T[]>, key: string, item: T): void {
  const list = map.get(key);
  if (list) list.push(item);
  else map.set(key, [item]);
}

export const byCount = (a: ErrorCount, b: ErrorCount) => b.count - a.count || (a.code ?? -1) - (b.code ?? -1);
