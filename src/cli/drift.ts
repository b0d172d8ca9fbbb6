/**
 * drift — `sluice check`'s report on a sample of recent records: per table,
 * the fields records carry that the table lacks (how many sampled records
 * carried each, the inferred type) with the `ALTER TABLE … ADD COLUMN`
 * statements that would keep them, and how many sampled records the sink
 * would dead-letter, with the most frequent reasons.
 *
 * Contract: `formatDrift(check, opts)` returns the text to print; no I/O.
 * The statements are a suggestion, printed never applied. Record values
 * appear only in the example reasons (cut to EXAMPLE_CHARS): this is
 * output for the operator who ran the command, like `sluice replay`'s.
 */
import type { DriftCheck } from '../main.js';
import type { TableDriftReport } from '../formats/drift.js';
import { quoteIdentifier } from '../formats/infer.js';

const TOP_REASONS = 5;
const EXAMPLE_CHARS = 160;

export interface DriftFormatOptions {
  readonly perPartition: number;
  /** A dead-letter topic is configured (else bad records stall their partition). */
  readonly deadLetters: boolean;
}

export function formatDrift(check: DriftCheck, opts: DriftFormatOptions): string {
  const out: string[] = [];
  if (check.routes) out.push(formatRoutes(check.routes));
  for (const t of check.tables) out.push(formatTable(t, opts));
  if (!check.sample.complete) {
    out.push(`note: the sample is incomplete, these partitions were not read to their end in time: ${check.sample.unfinished.join(', ')}\n`);
  }
  return out.join('\n');
}

/** Where the sampled records went by SLUICE_ROUTES: a rule that matches nothing, or records nothing matches, show here first. */
function formatRoutes(r: NonNullable<DriftCheck['routes']>): string {
  const total = [...r.targets.values()].reduce((a, b) => a + b, 0) + r.unmatched;
  const lines = [`routes (SLUICE_ROUTES) on ${total} sampled record${total === 1 ? '' : 's'}:`];
  for (const [target, n] of [...r.targets].sort((a, b) => b[1] - a[1])) lines.push(`  ${target}: ${n}`);
  lines.push(`  no route: ${r.unmatched}${r.example ? ` (e.g. ${r.example.slice(0, EXAMPLE_CHARS)})` : ''}`);
  return lines.join('\n') + '\n';
}

function formatTable(t: TableDriftReport, opts: DriftFormatOptions): string {
  const name = `${quoteIdentifier(t.database)}.${quoteIdentifier(t.table)}`;
  const lines: string[] = [];
  const from = t.topics.length > 0 ? `topic${t.topics.length === 1 ? '' : 's'} ${t.topics.join(', ')}` : 'no records';
  lines.push(`table ${name} (${from}; sampled ${t.sampled} record${t.sampled === 1 ? '' : 's'}, the last ${opts.perPartition} or fewer of each partition)`);
  if (t.sampled === 0) {
    lines.push('  nothing to sample: the topics are empty');
    return lines.join('\n') + '\n';
  }
  if (t.fields.length === 0) lines.push('  schema drift: none (no sampled record carries a field the table lacks)');
  else {
    lines.push(`  schema drift: ${t.fields.length} field${t.fields.length === 1 ? '' : 's'} the table lacks${t.fieldsCapped ? ' (more not followed)' : ''}:`);
    const rows = t.fields.map((f) => [
      quoteIdentifier(f.name),
      `${f.records} of ${t.sampled} records`,
      f.type,
      [f.nulls > 0 ? `${f.nulls} null` : '', f.note ?? ''].filter(Boolean).join('; '),
    ]);
    const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) lines.push(`    ${r[0]!.padEnd(w[0]!)}  ${r[1]!.padStart(w[1]!)}  ${r[3] ? r[2]!.padEnd(w[2]!) + '  ' + r[3] : r[2]}`);
    lines.push('  to keep them (a suggestion: sluice never alters a table):');
    for (const f of t.fields) lines.push(`    ${f.statement};`);
  }
  const verdict = opts.deadLetters ? 'would be dead-lettered' : 'would stall their partition (SLUICE_DLQ_TOPIC=none)';
  if (t.invalid === 0) lines.push(`  invalid records: none of ${t.sampled} sampled`);
  else {
    lines.push(`  invalid records: ${t.invalid} of ${t.sampled} sampled ${verdict}; top reasons:`);
    for (const r of t.reasons.slice(0, TOP_REASONS)) {
      const e = r.example;
      lines.push(`    ${String(r.count).padStart(String(t.invalid).length)}  ${cut(r.reason)}`);
      lines.push(`    ${' '.repeat(String(t.invalid).length)}  e.g. ${e.topic}:${e.partition} offset ${e.offset}: ${cut(e.reason)}`);
    }
    if (t.reasons.length > TOP_REASONS) lines.push(`    (${t.reasons.length - TOP_REASONS} more reasons)`);
  }
  if (t.serverJudges) lines.push('  (SLUICE_INSERT_FORMAT=jsoneachrow: values are the server\'s to judge; only the record checks ran)');
  return lines.join('\n') + '\n';
}

function cut(s: string): string {
  return s.length <= EXAMPLE_CHARS ? s : s.slice(0, EXAMPLE_CHARS - 1) + '…';
}
