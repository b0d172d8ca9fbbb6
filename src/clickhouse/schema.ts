/**
 * schema — which columns a table has, as the server reports them.
 *
 * Contract: `readTableColumns(query, database, table)` runs two queries
 * through the caller's `query` callback (the writer owns the connection;
 * this module only knows the SQL and the shape of the answer) and returns
 * the table's columns in table order with their type text, default kind
 * and default expression, plus the server's time zone (DateTime columns
 * without their own zone read text in it) and version. `system.columns` has
 * `default_kind` and `default_expression` on 18.16 and on 26.x alike (26.x
 * adds `position`, 18.16 has none: both list columns in table order, 18.16
 * with MATERIALIZED and ALIAS columns last). A table with no columns does
 * not exist: that is a fatal SluiceError naming it. Parsing the type text
 * is formats' business (formats/decoder.ts `tableSchema`), so this module
 * stays below formats in the import order.
 */
import { SluiceError } from '../errors.js';

/** Runs one SELECT and resolves with its rows as objects (e.g. FORMAT JSONEachRow). */
export type QueryRows = (sql: string) => Promise<ReadonlyArray<Record<string, unknown>>>;

export type DefaultKind = '' | 'DEFAULT' | 'MATERIALIZED' | 'ALIAS' | 'EPHEMERAL';

export interface ColumnInfo {
  readonly name: string;
  /** As system.columns spells it, e.g. "Array(Nullable(String))". */
  readonly type: string;
  readonly defaultKind: DefaultKind;
  readonly defaultExpression: string;
}

export interface TableColumns {
  readonly database: string;
  readonly table: string;
  readonly columns: readonly ColumnInfo[];
  /** The server's time zone, e.g. "Etc/UTC". */
  readonly serverTimezone: string;
  /** e.g. "18.16.1". */
  readonly serverVersion: string;
}

/** A ClickHouse string literal: backslash and quote escaped. */
export function stringLiteral(s: string): string {
  return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}

export function columnsSql(database: string, table: string): string {
  return 'SELECT name, type, default_kind, default_expression FROM system.columns ' +
    `WHERE database = ${stringLiteral(database)} AND table = ${stringLiteral(table)}`;
}

export const SERVER_SQL = 'SELECT timezone() AS tz, version() AS version';

const KINDS: ReadonlySet<string> = new Set(['', 'DEFAULT', 'MATERIALIZED', 'ALIAS', 'EPHEMERAL']);

export function toColumnInfo(row: Record<string, unknown>): ColumnInfo {
  const kind = String(row.default_kind ?? '');
  if (!KINDS.has(kind)) throw new SluiceError('fatal', `column ${String(row.name)}: unknown default kind ${kind}`);
  return {
    name: String(row.name),
    type: String(row.type),
    defaultKind: kind as DefaultKind,
    defaultExpression: String(row.default_expression ?? ''),
  };
}

/**
 * Whether the server reads RowBinaryWithDefaults (added mid-2023, ClickHouse
 * PR 51695): asked of system.formats rather than guessed from the version.
 * 18.16 lists only RowBinary; chdb 26.x lists both.
 */
export const FORMATS_SQL = "SELECT name FROM system.formats WHERE is_input AND name = 'RowBinaryWithDefaults'";

export async function hasRowBinaryWithDefaults(query: QueryRows): Promise<boolean> {
  return (await query(FORMATS_SQL)).length > 0;
}

export async function readTableColumns(query: QueryRows, database: string, table: string): Promise<TableColumns> {
  const rows = await query(columnsSql(database, table));
  if (rows.length === 0) throw new SluiceError('fatal', `table ${database}.${table} does not exist (no columns in system.columns)`);
  const server = await query(SERVER_SQL);
  return {
    database,
    table,
    columns: rows.map(toColumnInfo),
    serverTimezone: String(server[0]?.tz ?? 'UTC'),
    serverVersion: String(server[0]?.version ?? ''),
  };
}
