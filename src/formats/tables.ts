/**
 * tables — each target table's encoder, built from the table's schema as the
 * server reports it, and rebuilt when the table changes.
 *
 * Contract:
 *  - `load()` (start-up) reads every table's columns and builds its encoder;
 *    a column type sluice cannot encode is a ConfigError naming the table,
 *    the column and the type (exit 2), never a silent wrong value.
 *  - `encoderFor(table)` is synchronous: the encoder of the newest schema
 *    read. In passthrough mode (SLUICE_INSERT_FORMAT=jsoneachrow) no schema
 *    is read at all.
 *  - `refresh(table)` reads the table again now (an insert named a column
 *    the table no longer has; a record carried a field the table lacked)
 *    and resolves true if the schema changed; concurrent calls for one table
 *    share one read, and reads of one table are at most one a second, so a
 *    flood of bad records cannot flood the server with schema queries.
 *  - `checkAll()` (periodic, cheap: one query per table) refreshes the
 *    tables whose columns changed (an ALTER noticed without any failure).
 *  - A schema read that fails (server down) keeps the current encoder and
 *    rejects with the error: callers retry as with any transient failure.
 *  - Kafka metadata columns (metadata.ts, SLUICE_METADATA_COLUMNS): a typed
 *    encoder fills the ones the table has; a type that cannot take its
 *    value is a ConfigError naming the table and column. Passthrough
 *    cannot fill them: `load()` then reads each table's columns once and
 *    refuses (ConfigError) a table that has one — the server would store
 *    '' and 0 there, or the payload's field of that name, silently.
 *  - Records are decoded by the SLUICE_FORMAT's decoder (record-format.ts;
 *    JSON by default); `prepare(records)` fetches what it needs first.
 */
import { hasRowBinaryWithDefaults, readTableColumns, type QueryRows, type TableColumns } from '../clickhouse/schema.js';
import { ConfigError } from '../errors.js';
import { passthroughEncoder, typedEncoder, type TableEncoder } from './batch.js';
import { tableSchema, type RowLayout } from './decoder.js';
import { JsonDecoder } from './json.js';
import type { SourceRecord } from '../kafka/record.js';
import type { RecordFormat } from './record-format.js';
import { UnsupportedTypeError } from './types.js';
import { bindMetadata, DEFAULT_METADATA_COLUMNS_TEXT, MetadataTypeError, parseMetadataColumns, type MetadataColumns } from './metadata.js';
import { envelopedDecoder, EnvelopeReader, type FieldRef, type JsonEnvelope } from './envelope.js';

export type EncodingMode = 'typed' | 'passthrough';

export interface TableEncodersOptions {
  readonly database: string;
  readonly tables: Iterable<string>;
  readonly mode: EncodingMode;
  /** Refuse records with fields the table lacks (SLUICE_SKIP_UNKNOWN_FIELDS=false). */
  readonly strict: boolean;
  /** Kafka metadata columns to fill (SLUICE_METADATA_COLUMNS); default: the default names. */
  readonly metadata?: MetadataColumns;
  /**
   * SLUICE_ENVELOPE_JSON (only the payload is decoded into the row) and
   * SLUICE_ENVELOPE_COLUMNS (columns filled from envelope fields).
   */
  readonly envelope?: { readonly json: JsonEnvelope | undefined; readonly columns: ReadonlyMap<string, FieldRef> };
  readonly query: QueryRows;
  /** Called when a table's schema changed after start-up (for the log). */
  readonly onChange?: (table: string, added: string[], removed: string[]) => void;
  readonly now?: () => number;
  /** SLUICE_FORMAT (record-format.ts); default JSON. */
  readonly format?: RecordFormat;
}

const MIN_REFRESH_MS = 1000;

export class TableEncoders {
  private readonly encoders = new Map<string, TableEncoder>();
  private readonly signatures = new Map<string, string>();
  private readonly columnNames = new Map<string, string[]>();
  private readonly reading = new Map<string, Promise<boolean>>();
  private readonly lastRead = new Map<string, number>();
  private layout: RowLayout = 'RowBinary';
  private version = 0;
  private readonly tables: string[];
  private readonly now: () => number;
  private readonly metadata: MetadataColumns;

  constructor(private readonly opts: TableEncodersOptions) {
    this.tables = [...new Set(opts.tables)];
    this.now = opts.now ?? Date.now;
    this.metadata = opts.metadata ?? parseMetadataColumns(DEFAULT_METADATA_COLUMNS_TEXT);
    const format = opts.format;
    this.prepare = format ? (records) => format.prepare(records) : undefined;
    if (opts.mode === 'passthrough') for (const t of this.tables) this.encoders.set(t, passthroughEncoder(t));
  }

  async load(): Promise<void> {
    if (this.opts.mode === 'passthrough') {
      if (this.opts.envelope?.json) throw new ConfigError('SLUICE_ENVELOPE_JSON', 'needs typed rows (SLUICE_INSERT_FORMAT=rowbinary): jsoneachrow forwards the whole value, envelope and all');
      if (this.metadata.size > 0 || (this.opts.envelope?.columns.size ?? 0) > 0) for (const t of this.tables) await this.refuseMetadataColumns(t);
      return;
    }
    this.layout = (await hasRowBinaryWithDefaults(this.opts.query)) ? 'RowBinaryWithDefaults' : 'RowBinary';
    for (const t of this.tables) {
      try {
        this.install(t, await readTableColumns(this.opts.query, this.opts.database, t));
      } catch (err) {
        if (err instanceof MetadataTypeError) {
          throw new ConfigError('SLUICE_METADATA_COLUMNS', `table ${this.opts.database}.${t}: ${err.message} (or rename the column, or leave the field out of SLUICE_METADATA_COLUMNS to fill it from the payload)`);
        }
        if (err instanceof UnsupportedTypeError) {
          throw new ConfigError('SLUICE_TABLE', `table ${this.opts.database}.${t}: ${err.message} (or SLUICE_INSERT_FORMAT=jsoneachrow to let the server parse JSON)`);
        }
        throw err;
      }
    }
  }

  /** Passthrough forwards the payload as it is: nothing could fill a metadata column. */
  private async refuseMetadataColumns(table: string): Promise<void> {
    const cols = await readTableColumns(this.opts.query, this.opts.database, table);
    const wanted = new Set([...this.metadata.values(), ...(this.opts.envelope?.columns.keys() ?? [])]);
    const found = cols.columns.filter((c) => wanted.has(c.name) && (c.defaultKind === '' || c.defaultKind === 'DEFAULT')).map((c) => c.name);
    if (found.length === 0) return;
    throw new ConfigError(
      'SLUICE_INSERT_FORMAT',
      `table ${this.opts.database}.${table} has Kafka metadata column(s) ${found.join(', ')}, which jsoneachrow (passthrough) cannot fill: use rowbinary, or set SLUICE_METADATA_COLUMNS=none if the payload carries these fields itself`,
    );
  }

  /** The table's encoder, reading its schema first if this is the first time (sluice replay meets tables as letters name them). */
  async ensure(table: string): Promise<TableEncoder> {
    const have = this.encoders.get(table);
    if (have) return have;
    if (this.opts.mode === 'passthrough') {
      const e = passthroughEncoder(table);
      this.encoders.set(table, e);
      return e;
    }
    if (this.version === 0) this.layout = (await hasRowBinaryWithDefaults(this.opts.query)) ? 'RowBinaryWithDefaults' : 'RowBinary';
    this.install(table, await readTableColumns(this.opts.query, this.opts.database, table));
    return this.encoders.get(table)!;
  }

  /**
   * What decoding `records` needs fetched first (Schema Registry ids): to be
   * awaited before `encode`; rejects with a retriable error on an outage.
   * Undefined when nothing ever needs fetching (JSON values): the write path
   * then skips the step per batch altogether.
   */
  readonly prepare: ((records: readonly SourceRecord[]) => Promise<void>) | undefined;

  /** Record values are JSON (SLUICE_FORMAT=json): the pre-insert check may refuse what is not a JSON object. */
  get jsonValues(): boolean {
    return (this.opts.format?.name ?? 'json') === 'json';
  }

  get insertLayout(): RowLayout | 'JSONEachRow' {
    return this.opts.mode === 'passthrough' ? 'JSONEachRow' : this.layout;
  }

  encoderFor(table: string): TableEncoder {
    const e = this.encoders.get(table);
    if (!e) throw new Error(`no encoder for table ${table}: load() first`);
    return e;
  }

  refresh(table: string): Promise<boolean> {
    if (this.opts.mode === 'passthrough') return Promise.resolve(false);
    const running = this.reading.get(table);
    if (running) return running;
    const wait = Math.max(0, (this.lastRead.get(table) ?? 0) + MIN_REFRESH_MS - this.now());
    const read = (async () => {
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      try {
        const cols = await readTableColumns(this.opts.query, this.opts.database, table);
        return this.install(table, cols);
      } finally {
        this.lastRead.set(table, this.now());
        this.reading.delete(table);
      }
    })();
    this.reading.set(table, read);
    return read;
  }

  /** Re-reads every table; resolves with the tables whose schema changed. */
  async checkAll(): Promise<string[]> {
    const changed: string[] = [];
    for (const t of this.tables) if (await this.refresh(t)) changed.push(t);
    return changed;
  }

  /** Builds the table's encoder if its columns differ from the installed ones; true if they did. */
  private install(table: string, cols: TableColumns): boolean {
    const signature = JSON.stringify(cols.columns) + '|' + cols.serverTimezone;
    if (this.signatures.get(table) === signature) return false;
    // A type that cannot be encoded after an ALTER keeps the old encoder:
    // inserts then fail on the server and are retried, visibly.
    const env = this.opts.envelope;
    const reader = new EnvelopeReader(env?.json);
    const { payload, metadata } = bindMetadata(tableSchema(cols), this.metadata, this.layout === 'RowBinaryWithDefaults', env && env.columns.size > 0 ? { columns: env.columns, reader } : undefined);
    const inner = this.opts.format ? this.opts.format.decoder(payload, this.layout, this.opts.strict) : new JsonDecoder(payload, { layout: this.layout, strict: this.opts.strict });
    const decoder = env?.json ? envelopedDecoder(inner, reader) : inner;
    const before = this.columnNames.get(table);
    const names = cols.columns.map((c) => c.name);
    this.encoders.set(table, typedEncoder(table, decoder, ++this.version, metadata));
    this.signatures.set(table, signature);
    this.columnNames.set(table, names);
    if (before) this.opts.onChange?.(table, names.filter((n) => !before.includes(n)), before.filter((n) => !names.includes(n)));
    return true;
  }
}
