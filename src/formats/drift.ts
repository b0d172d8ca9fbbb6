/**
 * drift — what a sample of a table's records says about the table: the
 * fields records carry that it lacks (with a column type for each, and the
 * `ALTER TABLE … ADD COLUMN` that would keep them), and the records the
 * sink would dead-letter, by reason. The logic behind `sluice check`'s
 * drift report; it suggests, never alters anything.
 *
 * Contract: a TableDrift is bound to one table: its columns as the server
 * reports them (a field named like any column, computed ones included, is
 * not drift — as in the decoder) and the sink's own encoder for it, so a
 * record is judged exactly as `sluice run` would judge it (precheck, then
 * decode; in passthrough mode only the precheck, the server decides the
 * rest). `add` folds records in (nothing is kept: memory is one shape per
 * drift field); `report` summarises. Field types follow infer.ts.
 */
import type { TableColumns } from '../clickhouse/schema.js';
import type { SourceRecord } from '../kafka/record.js';
import type { TableEncoder } from './batch.js';
import { legacyDates } from './decoder.js';
import { PRECHECK_MESSAGES, precheck } from './encoder.js';
import { addColumnStatement, FieldScanner, FieldShape, inferType, serverHasBool } from './infer.js';
import { ChunkRecord } from '../kafka/record.js';

export interface DriftField {
  readonly name: string;
  /** Sampled records carrying the field (null included). */
  readonly records: number;
  readonly nulls: number;
  readonly type: string;
  readonly note: string | undefined;
  readonly statement: string;
}

export interface InvalidReason {
  /** The reason with quoted values elided, so that like records group together. */
  readonly reason: string;
  readonly count: number;
  /** The first record found with it. */
  readonly example: { readonly topic: string; readonly partition: number; readonly offset: number; readonly reason: string };
}

export interface TableDriftReport {
  readonly database: string;
  readonly table: string;
  readonly topics: readonly string[];
  readonly sampled: number;
  /** Most carried first. */
  readonly fields: readonly DriftField[];
  readonly invalid: number;
  /** Most frequent first. */
  readonly reasons: readonly InvalidReason[];
  /** Passthrough mode: values are the server's to judge, only the precheck ran. */
  readonly serverJudges: boolean;
  /** More than MAX_DRIFT_FIELDS distinct fields: the rest were not followed. */
  readonly fieldsCapped: boolean;
}

/** Distinct drift fields followed per table: a sample of hostile records must not grow without bound. */
export const MAX_DRIFT_FIELDS = 1000;

export interface TableDriftOptions {
  /** SLUICE_MAX_RECORD_BYTES. */
  readonly maxRecordBytes: number;
}

/**
 * Quoted values in reasons differ record by record; the kind of problem does
 * not. A quoted field name (`field "x" is not a column…`) is kept: it is the
 * kind of problem.
 */
export function reasonKey(reason: string): string {
  return reason.replace(/(field )?"(?:[^"\\]|\\.)*"/g, (m, field?: string) => (field ? m : '"…"')).replace(/(^|\s)-?\d+(\.\d+)?(?=[\s,]|$)/g, '$1N');
}

export class TableDrift {
  private readonly columns: ReadonlySet<string>;
  private readonly scanner: FieldScanner;
  private readonly shapes = new Map<string, FieldShape>();
  private readonly reasons = new Map<string, { count: number; example: InvalidReason['example'] }>();
  private readonly topics = new Set<string>();
  private readonly bool: boolean;
  private sampled = 0;
  private capped = false;
  private invalid = 0;

  constructor(private readonly info: TableColumns, private readonly encoder: TableEncoder, private readonly opts: TableDriftOptions) {
    this.columns = new Set(info.columns.map((c) => c.name));
    this.scanner = new FieldScanner({ serverTimezone: info.serverTimezone, legacyDateRange: legacyDates(info.serverVersion) });
    this.bool = serverHasBool(info.serverVersion);
  }

  add(topic: string, partition: number, records: readonly SourceRecord[]): void {
    this.topics.add(topic);
    this.sampled += records.length;
    const good: SourceRecord[] = [];
    for (const r of records) {
      const pre = precheck(r, this.opts.maxRecordBytes);
      if (pre) this.count(topic, partition, r.offset, PRECHECK_MESSAGES[pre]);
      else good.push(r);
    }
    if (good.length > 0) {
      for (const inv of this.encoder.encode(good, { topic, partition }).invalid) {
        this.count(topic, partition, inv.record.offset, inv.column !== undefined ? `column ${inv.column}: ${inv.reason}` : inv.reason);
      }
    }
    const wanted = (name: string) => {
      if (name === '' || this.columns.has(name)) return false;
      if (this.shapes.size < MAX_DRIFT_FIELDS || this.shapes.has(name)) return true;
      this.capped = true;
      return false;
    };
    for (const r of records) {
      if (r instanceof ChunkRecord) {
        if (r.valueStart >= 0) this.scanner.scan(r.chunk, wanted, this.shapes, r.valueStart, r.valueEnd);
      } else if (r.value) this.scanner.scan(r.value, wanted, this.shapes);
    }
  }

  report(): TableDriftReport {
    const { database, table } = this.info;
    const fields = [...this.shapes]
      .map(([name, shape]) => {
        const t = inferType(shape, { bool: this.bool });
        return { name, records: shape.seen, nulls: shape.nulls, type: t.type, note: t.note, statement: addColumnStatement(database, table, name, t.type) };
      })
      .sort((a, b) => b.records - a.records || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const reasons = [...this.reasons]
      .map(([reason, r]) => ({ reason, count: r.count, example: r.example }))
      .sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : 1));
    return {
      database,
      table,
      topics: [...this.topics].sort(),
      sampled: this.sampled,
      fields,
      invalid: this.invalid,
      reasons,
      serverJudges: this.encoder.format === 'JSONEachRow',
      fieldsCapped: this.capped,
    };
  }

  private count(topic: string, partition: number, offset: number, reason: string): void {
    this.invalid++;
    const key = reasonKey(reason);
    const have = this.reasons.get(key);
    if (have) have.count++;
    else this.reasons.set(key, { count: 1, example: { topic, partition, offset, reason } });
  }
}
