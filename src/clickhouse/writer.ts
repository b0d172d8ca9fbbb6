/**
 * writer — the only module that talks to @clickhouse/client.
 *
 * Contract: `insert(table, chunks)` sends one JSONEachRow body (the chunks
 * in order) as one INSERT
 * and resolves once ClickHouse acknowledged it (the HTTP response ended
 * without an exception), or rejects with a classified ClickHouseError. It
 * does not retry: the caller owns retries so that a partition stays paused
 * while its batch waits. Table and database names are validated identifiers
 * (config.ts) and are backquoted here.
 *
 * The body goes out as raw bytes through `exec` rather than `insert`, whose
 * JSON formats would JSON.stringify every row again: the Kafka message bytes
 * already are JSONEachRow rows (issue #5, no per-record parse/stringify).
 *
 * Stage: clickhouse/ owns the server: this writer (the only module that
 * talks to @clickhouse/client), error classification (errors.ts) and what a
 * server version supports (features.ts). It imports only ops/ and the base.
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { classifyClickHouseError } from './errors.js';

/** Where and as whom to connect (config.ts reads it from SLUICE_CLICKHOUSE_*). */
export interface ClickHouseConnection {
  readonly url: string;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly caFile: string;
}

export interface WriterOptions {
  readonly url: string;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** PEM CA file to trust for https ('' or absent: the system's CAs). */
  readonly caFile?: string;
  readonly requestTimeoutMs: number;
  readonly maxOpenConnections: number;
}

/** An INSERT's body: its format, the column list it names (none for JSONEachRow) and the bytes, in order. */
export interface InsertBody {
  readonly format: 'JSONEachRow' | 'RowBinary' | 'RowBinaryWithDefaults';
  readonly columns: readonly string[] | undefined;
  readonly chunks: readonly Buffer[];
}

export interface Writer {
  insert(table: string, body: InsertBody, settings?: Record<string, string | number>): Promise<void>;
  /** One SELECT's rows as objects (schema reads: clickhouse/schema.ts). */
  queryRows(sql: string): Promise<Array<Record<string, unknown>>>;
  /** Resolves if ClickHouse answers a trivial query; rejects classified otherwise. */
  ping(): Promise<void>;
  /** e.g. "18.16.1"; used to decide which newer settings may be sent. */
  serverVersion(): Promise<string>;
  /** Rejects with a fatal ClickHouseError if the table does not exist or cannot be read. */
  checkTable(table: string): Promise<void>;
  close(): Promise<void>;
}

export function quoteIdentifier(name: string): string {
  return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

export function createWriter(opts: WriterOptions): Writer {
  const client: ClickHouseClient = createClient({
    url: opts.url,
    username: opts.user,
    password: opts.password,
    database: opts.database,
    request_timeout: opts.requestTimeoutMs,
    max_open_connections: opts.maxOpenConnections,
    keep_alive: { enabled: true },
    ...(opts.caFile ? { tls: { ca_cert: readFileSync(opts.caFile) } } : {}),
    // The client library logs every failed request with a stack trace; the
    // sink logs classified failures itself, once, as JSON.
    log: { level: ClickHouseLogLevel.OFF },
  });
  const qualified = (table: string) => `${quoteIdentifier(opts.database)}.${quoteIdentifier(table)}`;

  return {
    async insert(table, body, settings) {
      try {
        const columns = body.columns ? ` (${body.columns.map(quoteIdentifier).join(', ')})` : '';
        const result = await client.exec({
          query: `INSERT INTO ${qualified(table)}${columns} FORMAT ${body.format}`,
          values: Readable.from(body.chunks),
          clickhouse_settings: settings,
        });
        // The response body of an INSERT is empty; drain it so the socket
        // returns to the keep-alive pool.
        result.stream.resume();
        await new Promise<void>((resolve, reject) => {
          result.stream.once('end', resolve);
          result.stream.once('error', reject);
        });
      } catch (err) {
        throw classifyClickHouseError(err);
      }
    },
    async queryRows(sql) {
      try {
        const rs = await client.query({ query: sql, format: 'JSONEachRow' });
        return await rs.json<Record<string, unknown>>();
      } catch (err) {
        throw classifyClickHouseError(err);
      }
    },
    async ping() {
      try {
        const rs = await client.query({ query: 'SELECT 1', format: 'TabSeparated' });
        await rs.text();
      } catch (err) {
        throw classifyClickHouseError(err);
      }
    },
    async serverVersion() {
      try {
        const rs = await client.query({ query: 'SELECT version()', format: 'TabSeparated' });
        return (await rs.text()).trim();
      } catch (err) {
        throw classifyClickHouseError(err);
      }
    },
    async checkTable(table) {
      try {
        const rs = await client.query({ query: `SELECT * FROM ${qualified(table)} LIMIT 0`, format: 'TabSeparated' });
        await rs.text();
      } catch (err) {
        throw classifyClickHouseError(err);
      }
    },
    async close() {
      await client.close();
    },
  };
}
