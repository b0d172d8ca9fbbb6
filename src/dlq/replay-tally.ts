/**
 * replay-tally — the counts a `sluice replay` run reports: letters read,
 * selected, replayed, still failing, skipped, deferred; per table; and the
 * errors grouped by code and class.
 *
 * Contract: plain counters, no I/O; the run increments, the summary reads.
 */

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
  readonly tables = new Map<string, { table: string; selected: number; replayed: number; stillFailing: number }>();
  readonly failures = new Map<string, { code: number | null; errorClass: string; count: number; example: string }>();
  readonly recorded = new Map<string, { code: number | null; errorClass: string; count: number; example: string }>();

  table(name: string) {
    let t = this.tables.get(name);
    if (!t) this.tables.set(name, (t = { table: name, selected: 0, replayed: 0, stillFailing: 0 }));
    return t;
  }

  static countError(into: Tally['failures'], code: number | undefined, errorClass: string, message: string): void {
    const key = `${code ?? ''}|${errorClass}`;
    const e = into.get(key);
    if (e) e.count++;
    else into.set(key, { code: code ?? null, errorClass, count: 1, example: message });
  }
}

export function groupInto<T>(map: Map<string, T[]>, key: string, item: T): void {
  const list = map.get(key);
  if (list) list.push(item);
  else map.set(key, [item]);
}

export const byCount = (a: ErrorCount, b: ErrorCount) => b.count - a.count || (a.code ?? -1) - (b.code ?? -1);
