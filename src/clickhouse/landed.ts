/**
 * landed — what a table holds of a topic, per partition: the last landed
 * record (offset, timestamp, key), from the Kafka metadata columns sluice
 * fills (formats/metadata.ts). `sluice failover` uses it to resume on
 * another cluster exactly after it.
 *
 * Contract: `lastLanded(writer, table, columns, topic)` reads the table's
 * columns once and answers one GROUP BY query. It needs the partition and
 * offset columns and one for the timestamp (DateTime64 / DateTime / an
 * integer of milliseconds; `precisionMs` says how finely it is kept: 1000
 * for DateTime); the key column is used when present (String or
 * Nullable(String)), the topic column to keep only `topic`'s rows. A table
 * without the required columns gives `{ missing }` naming them, not an error.
 * Each partition's row count comes with it (audits, tests). Partitions
 * within a batch are written in offset order (pipeline/worker.ts), so every
 * record below the last landed one has landed or been dead-lettered.
 */
import { quoteIdentifier, type Writer } from './writer.js';

export interface LandedColumns {
  readonly topic?: string;
  readonly partition?: string;
  readonly offset?: string;
  readonly timestamp?: string;
  readonly key?: string;
}

export interface Landed {
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  /** latin1 text of the key's bytes (as kafka/offsets.ts peekRecords gives it); null: none; undefined: no key column. */
  readonly key?: string | null;
  readonly rows: number;
}

export type LandedAnswer =
  | { readonly partitions: Landed[]; readonly precisionMs: number; /** false: no topic column, rows of every topic counted. */ readonly byTopic: boolean }
  | { readonly missing: string[] };

export function quoteString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export async function lastLanded(writer: Writer, database: string, table: string, columns: LandedColumns, topic: string): Promise<LandedAnswer> {
  const types = new Map(
    (await writer.queryRows(`SELECT name, type FROM system.columns WHERE database = ${quoteString(database)} AND table = ${quoteString(table)}`)).map(
      (r) => [String(r.name), String(r.type)],
    ),
  );
  const has = (c: string | undefined): c is string => c !== undefined && types.has(c);
  const missing = (['partition', 'offset', 'timestamp'] as const).filter((f) => !has(columns[f])).map((f) => columns[f] ?? f);
  if (missing.length > 0 || types.size === 0) return { missing: types.size === 0 ? [`table ${database}.${table}`] : missing };

  const q = quoteIdentifier;
  const tsType = types.get(columns.timestamp!)!.replace(/^(Nullable|LowCardinality)\((.*)\)$/, '$2');
  const ts = q(columns.timestamp!);
  const [tsExpr, precisionMs] = tsType.startsWith('DateTime64')
    ? [`toUnixTimestamp64Milli(${ts})`, 1]
    : tsType.startsWith('DateTime')
      ? [`toUInt64(toUnixTimestamp(${ts})) * 1000`, 1000]
      : [`toInt64(${ts})`, 1];
  const off = q(columns.offset!);
  // The timestamp and key of the row of the largest offset, taken together:
  // argMax of a Nullable column alone skips NULLs and would answer an
  // earlier row's key.
  const last = has(columns.key) ? `argMax(tuple(${tsExpr}, ${q(columns.key)}), ${off})` : `argMax(tuple(${tsExpr}), ${off})`;
  const where = has(columns.topic) ? ` WHERE ${q(columns.topic)} = ${quoteString(topic)}` : '';
  const keyCols = has(columns.key) ? `, hex(ifNull(toString(tupleElement(l, 2)), '')) AS k, isNull(tupleElement(l, 2)) AS kn` : '';
  const rows = await writer.queryRows(
    `SELECT p, toString(o) AS o, toString(tupleElement(l, 1)) AS t, n${keyCols} FROM (` +
      `SELECT toInt64(${q(columns.partition!)}) AS p, max(toInt64(${off})) AS o, ${last} AS l, count() AS n ` +
      `FROM ${q(database)}.${q(table)}${where} GROUP BY p) ORDER BY p`,
  );
  const partitions = rows.map((r) => ({
    partition: Number(r.p),
    offset: Number(r.o),
    timestamp: Number(r.t),
    rows: Number(r.n),
    ...(keyCols ? { key: Number(r.kn) ? null : Buffer.from(String(r.k), 'hex').toString('latin1') } : {}),
  }));
  return { partitions, precisionMs, byTopic: has(columns.topic) };
}
