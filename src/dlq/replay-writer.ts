/**
 * replay-writer — where `sluice replay` puts letters: into their ClickHouse
 * tables through the sink's own insert path, republished to their source
 * topic, or produced back to the dead-letter topic when they still fail.
 *
 * Contract:
 *  - `land` inserts a chunk's letters per table, in offset order (precheck →
 *    encode → insert with the sink's settings and transient retries →
 *    isolate rejected rows), after checking every table of the chunk; it
 *    returns the letters ClickHouse still rejects, in offset order.
 *  - A ClickHouse error that needs an operator (credentials, missing table)
 *    ends the run as a fatal SluiceError instead of retrying forever:
 *    someone is at the prompt.
 *  - Kafka metadata columns get the dead letter's source record (its
 *    topic, partition, offset and timestamp from the sluice headers, its
 *    key, its own headers), never the dead-letter topic's coordinates: a
 *    replayed row says where the record was first read, as if it had
 *    landed then.
 *  - `republish` produces letters to their source topics (own headers only),
 *    each to its original partition when the topic still has it; `sendBack`
 *    produces still-failing (updated headers) and deferred (unchanged)
 *    letters back to the dead-letter partition, in offset order. Both resolve
 *    once acknowledged by all in-sync replicas (acks = -1).
 */
import type { Producer } from 'kafkajs';
import { classifyClickHouseError } from '../clickhouse/errors.js';
import { insertSettings, serverFeatures, UNKNOWN_SERVER } from '../clickhouse/features.js';
import { createWriter, type ClickHouseConnection, type Writer } from '../clickhouse/writer.js';
import { AbortedError, ClickHouseError, SluiceError, errorMessage } from '../errors.js';
import { PRECHECK_MESSAGES, precheck } from '../formats/encoder.js';
import { createRecordFormat, type FormatOptions, type RecordFormat } from '../formats/record-format.js';
import { sliceBody, type TableEncoder } from '../formats/batch.js';
import { TableEncoders } from '../formats/tables.js';
import type { MetadataColumns, SourceMeta } from '../formats/metadata.js';
import { UnsupportedTypeError } from '../formats/types.js';
import { explainKafkaError, type OffsetsClient } from '../kafka/offsets.js';
import type { SourceRecord } from '../kafka/record.js';
import { redactUrl } from '../ops/redact.js';
import { retry } from '../retry.js';
import { TRUNCATED_HEADER } from './fit.js';
import { insertIsolating } from './isolate.js';
import { retryHeaders, sourceHeaders, type Failure, type Letter } from './replay-letters.js';
import { groupInto } from './replay-tally.js';

export interface ReplayWriterDeps {
  readonly brokers: string[];
  readonly clickhouse: ClickHouseConnection;
  readonly dlqTopic: string;
  readonly maxRecordBytes: number;
  readonly skipUnknownFields: boolean;
  /** typed (the default): decode and insert RowBinary, as the sink; passthrough: JSONEachRow. */
  readonly insertFormat: 'typed' | 'passthrough';
  /** SLUICE_FORMAT (default json): binary letters are decoded again, with the registry. */
  readonly format?: FormatOptions;
  /** SLUICE_METADATA_COLUMNS, as the sink reads it. */
  readonly metadataColumns: MetadataColumns;
  readonly backoff: { initialMs: number; maxMs: number };
  readonly admin: OffsetsClient;
  /** The run's producer (created once it joins). */
  readonly producer: () => Producer;
  /** Heartbeat of the batch being resolved: long inserts keep the group membership. */
  readonly heartbeat: () => Promise<void>;
  readonly onNotice: ((line: string) => void) | undefined;
}

export class ReplayWriter {
  private writer: Writer | undefined;
  private features = UNKNOWN_SERVER;
  /** Tables known to exist and be readable in this run. */
  private readonly checkedTables = new Set<string>();
  private readonly partitionCounts = new Map<string, number>();
  private tableEncoders: TableEncoders | undefined;
  private recordFormat: RecordFormat | undefined;

  constructor(private readonly deps: ReplayWriterDeps) {}

  /** Connects to ClickHouse and learns its version (for the sink's settings). */
  async open(): Promise<void> {
    const ch = this.deps.clickhouse;
    this.writer = createWriter({ ...ch, requestTimeoutMs: 60_000, maxOpenConnections: 2 });
    try {
      // The same settings as the sink: only those this server knows.
      this.features = serverFeatures(await this.writer.serverVersion());
    } catch (err) {
      throw new SluiceError('fatal', `cannot reach ClickHouse at ${redactUrl(ch.url)}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** The sink's encoders (same SLUICE_INSERT_FORMAT and strictness), made on first use. */
  private encoders(): TableEncoders {
    this.tableEncoders ??= new TableEncoders({
      database: this.deps.clickhouse.database,
      tables: [],
      mode: this.deps.insertFormat,
      strict: !this.deps.skipUnknownFields,
      metadata: this.deps.metadataColumns,
      query: (sql) => this.writer!.queryRows(sql),
      ...(this.deps.format && { format: (this.recordFormat ??= createRecordFormat(this.deps.format)) }),
    });
    return this.tableEncoders;
  }

  async close(): Promise<void> {
    await this.writer?.close().catch(() => {});
    this.recordFormat?.close();
  }

  async land(partition: number, letters: Letter[]): Promise<Failure[]> {
    const failures: Failure[] = [];
    const byTable = new Map<string, Letter[]>();
    for (const l of letters) groupInto(byTable, l.info!.table, l);
    // Before any insert: a missing table found halfway would leave the rows
    // already landed uncommitted, to be inserted again by the re-run.
    for (const table of byTable.keys()) await this.checkTable(table);
    for (const [table, group] of byTable) {
      const ok: Letter[] = [];
      for (const l of group) {
        const cut = truncated(l);
        if (cut) {
          failures.push(cut);
          continue;
        }
        const reason = precheck(l.record, this.deps.maxRecordBytes, (this.deps.format?.format ?? 'json') === 'json');
        if (reason) failures.push({ letter: l, errorClass: reason, code: undefined, message: PRECHECK_MESSAGES[reason] });
        else ok.push(l);
      }
      const letterOf = new Map<SourceRecord, Letter>(ok.map((l) => [l.record, l]));
      // Decoded as the sink decodes (typed rows): a value that still does not
      // fit its column fails here, by itself, never stored wrongly.
      const encoder = await this.clickhouse(`schema of table "${table}"`, () => this.encoders().ensure(table));
      const origin = (r: SourceRecord): SourceMeta => {
        const l = letterOf.get(r)!;
        const info = l.info!;
        return { topic: info.topic, partition: info.partition, offset: info.offset, timestamp: info.timestamp, key: r.key, headers: sourceHeaders(l.record.headers) };
      };
      // Schema Registry formats: the letters' schema ids, fetched (and an outage waited out) before decoding.
      const prepare = this.encoders().prepare;
      if (prepare) await this.schemas(() => prepare(ok.map((l) => l.record)));
      const batch = encoder.encode(ok.map((l) => l.record), origin);
      for (const inv of batch.invalid) {
        failures.push({ letter: letterOf.get(inv.record)!, errorClass: 'invalid', code: undefined, message: inv.column !== undefined ? `column ${inv.column}: ${inv.reason}` : inv.reason });
      }
      const index: { map?: Map<SourceRecord, number> } = {};
      // No early stop (`unresolved` stays empty): a replay is where each letter's own verdict is wanted.
      const { bad } = await insertIsolating(batch.rows, (slice) => this.insert(partition, table, slice, encoder, sliceBody(batch, slice, index) ?? encoder.encode(slice, origin).body(0, slice.length)));
      for (const r of bad) failures.push({ letter: letterOf.get(r.record)!, errorClass: 'rejected', code: r.error.code, message: r.error.message });
    }
    return failures.sort((a, b) => a.letter.record.offset - b.letter.record.offset);
  }

  /** One slice as one INSERT; data errors go to the isolation. */
  private async insert(partition: number, table: string, slice: readonly SourceRecord[], encoder: TableEncoder, chunks: Buffer[]): Promise<void> {
    await this.deps.heartbeat().catch(() => {}); // a rebalance shows up at the commit; keep going until then
    const body = { format: encoder.format, columns: encoder.columns, chunks };
    // Dead-letter offsets and bytes identify the rows: a re-run of an
    // interrupted chunk is dropped as a repeat where the table deduplicates.
    const settings = insertSettings(this.features, { skipUnknownFields: this.deps.skipUnknownFields }, {
      topic: this.deps.dlqTopic,
      partition,
      firstOffset: slice[0]!.offset,
      lastOffset: slice[slice.length - 1]!.offset,
      chunks: body.chunks,
    });
    await this.clickhouse(`insert into table "${table}"`, () => this.writer!.insert(table, body, settings));
  }

  private async checkTable(table: string): Promise<void> {
    if (this.checkedTables.has(table)) return;
    await this.clickhouse(`table "${table}"`, () => this.writer!.checkTable(table));
    this.checkedTables.add(table);
  }

  /**
   * A ClickHouse request: transient failures retried with backoff (and
   * announced), data errors rethrown as they are, fatal ones (credentials,
   * missing table) end the run: someone is at the prompt to fix them.
   */
  /** The registry as the sink treats it: every failure retried (with backoff) until it answers. */
  private schemas(op: () => Promise<void>): Promise<void> {
    return retry(op, {
      ...this.deps.backoff,
      what: 'schema registry',
      classify: (err) => (err instanceof SluiceError ? err : new SluiceError('transient', errorMessage(err), { cause: err })),
      onRetry: (err, attempt, delayMs) => this.deps.onNotice?.(`schema registry: ${err.message}; retrying in ${delayMs} ms (attempt ${attempt + 1})`),
    });
  }

  private async clickhouse<T>(what: string, op: () => Promise<T>): Promise<T> {
    const stop = new AbortController();
    let fatal: ClickHouseError | undefined;
    try {
      return await retry(op, {
        ...this.deps.backoff,
        what,
        // A column type typed rows cannot encode needs a person, not retries.
        classify: (err) => (err instanceof UnsupportedTypeError ? new ClickHouseError('fatal', err.message) : classifyClickHouseError(err)),
        signal: stop.signal,
        onRetry: (err, attempt, delayMs) => {
          if (err.kind === 'fatal') {
            fatal = err;
            stop.abort();
          } else {
            this.deps.onNotice?.(`${what} failed (${err.message}); retry ${attempt + 1} in ${delayMs} ms`);
          }
        },
      });
    } catch (err) {
      if (fatal && err instanceof AbortedError) throw new SluiceError('fatal', `${what}: ${fatal.message}`, { cause: fatal });
      throw err;
    }
  }

  /** Produces the letters to their source topics (own headers only), each to its original partition when the topic still has it. */
  async republish(all: Letter[]): Promise<Failure[]> {
    const failures = all.map(truncated).filter((f): f is Failure => f !== undefined);
    const letters = all.filter((l) => !failures.some((f) => f.letter === l));
    if (letters.length === 0) return failures;
    const byTopic = new Map<string, Letter[]>();
    for (const l of letters) groupInto(byTopic, l.info!.topic, l);
    const topicMessages = [];
    for (const [topic, group] of byTopic) {
      const partitions = await this.partitionCount(topic);
      topicMessages.push({
        topic,
        messages: group.map((l) => ({
          key: l.record.key,
          value: l.record.value,
          timestamp: String(l.record.timestamp),
          headers: sourceHeaders(l.record.headers),
          partition: l.info!.partition >= 0 && l.info!.partition < partitions ? l.info!.partition : undefined,
        })),
      });
    }
    await this.deps.producer().sendBatch({ topicMessages, acks: -1 });
    return failures;
  }

  private async partitionCount(topic: string): Promise<number> {
    let n = this.partitionCounts.get(topic);
    if (n === undefined) {
      try {
        const meta = await this.deps.admin.admin.fetchTopicMetadata({ topics: [topic] });
        n = meta.topics[0]?.partitions.length ?? 0;
      } catch (err) {
        throw new SluiceError('fatal', `source topic "${topic}": ${explainKafkaError(err, this.deps.brokers).message}`, { cause: err });
      }
      this.partitionCounts.set(topic, n);
    }
    return n;
  }

  /** Produces still-failing letters (updated headers) and deferred ones (unchanged) back to the same partition, in offset order. */
  async sendBack(partition: number, failures: Failure[], deferred: Letter[]): Promise<void> {
    if (failures.length === 0 && deferred.length === 0) return;
    const failedAt = new Date().toISOString();
    const out = [
      ...failures.map((f) => ({ letter: f.letter, headers: retryHeaders(f.letter.record.headers, f, failedAt) })),
      ...deferred.map((l) => ({ letter: l, headers: l.record.headers })),
    ].sort((a, b) => a.letter.record.offset - b.letter.record.offset);
    await this.deps.producer().send({
      topic: this.deps.dlqTopic,
      acks: -1,
      messages: out.map(({ letter, headers }) => ({
        partition,
        key: letter.record.key,
        value: letter.record.value,
        timestamp: String(letter.record.timestamp),
        headers,
      })),
    });
  }

  /** Marks offsets below `next` as done; commits them unless dry, never moving the group's offset back. */
}

/**
 * A letter cut to fit the dead-letter topic (fit.ts) holds only part of its
 * record: inserting or republishing it would store a wrong row. It fails,
 * naming where the whole record is.
 */
function truncated(l: Letter): Failure | undefined {
  if (l.record.headers[TRUNCATED_HEADER] === undefined) return undefined;
  const { topic, partition, offset } = l.info!;
  const message = `letter was cut to fit the dead-letter topic; the whole record is ${topic} partition ${partition} offset ${offset} (while the source retains it)`;
  return { letter: l, errorClass: 'truncated', code: undefined, message };
}
