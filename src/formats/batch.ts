/**
 * batch — a batch's records as one insert body in the table's format, and
 * the records that cannot be a row of the table at all.
 *
 * Contract: a TableEncoder is bound to one table (and, when typed, to one
 * version of its schema). `encode(records)` decodes every record once and
 * returns the ones that became rows — in order, with their body — and the
 * ones that did not, each with the column and the reason (a bad value is
 * found here, in the sink, and dead-lettered by itself: the rest of the
 * batch lands without a round trip to the server). `body(from, to)` is the
 * insert body of rows [from, to) of that result: zero-copy slices of one
 * buffer, so isolating rows the server still refuses costs no re-encoding.
 * The same records through the same encoder give the same bytes: a re-read
 * batch is the same block (ClickHouse's insert deduplication).
 *
 * Two kinds:
 *   typed       (RowBinary / RowBinaryWithDefaults, the default) — the
 *               record is decoded against the table schema (json.ts) and
 *               the server stores the values it is sent;
 *   passthrough (JSONEachRow, SLUICE_INSERT_FORMAT=jsoneachrow) — the
 *               record's bytes as they came; the server parses them (and
 *               answers for bad values with the whole batch).
 * Unknown fields (schema drift) are counted per field name in `unknown`.
 * Typed rows end with the table's Kafka metadata columns (metadata.ts),
 * filled from the record and `origin` (the partition the records came
 * from); passthrough cannot fill them (tables.ts refuses such tables).
 */
import type { SourceRecord } from '../kafka/record.js';
import type { RowDecoder } from './decoder.js';
import { encode as encodeJsonLines } from './encoder.js';
import { ChunkRecord } from '../kafka/record.js';
import { RowWriter } from './row-writer.js';
import type { MetadataWriter, RowOrigin } from './metadata.js';

export type InsertFormat = 'JSONEachRow' | 'RowBinary' | 'RowBinaryWithDefaults';

export interface Invalid {
  readonly record: SourceRecord;
  /** The column the value was meant for, when the problem is one value. */
  readonly column: string | undefined;
  readonly reason: string;
  /** The record carries fields the table lacks and the decoder is strict: a schema refresh may mend it. */
  readonly unknownField: boolean;
}

export interface EncodedBatch {
  /** The records that are rows, in order. */
  readonly rows: readonly SourceRecord[];
  readonly invalid: readonly Invalid[];
  /** Field name → records carrying it that the table has no column for. */
  readonly unknown: ReadonlyMap<string, number>;
  /** The insert body of rows [from, to). */
  body(from: number, to: number): Buffer[];
  /** Bytes of the whole body. */
  readonly bytes: number;
}

export interface TableEncoder {
  readonly table: string;
  readonly format: InsertFormat;
  /** The INSERT's column list; undefined: none (JSONEachRow names its fields). */
  readonly columns: readonly string[] | undefined;
  /** Changes whenever the table's schema was read anew and differed. */
  readonly version: number;
  /** `origin`: the topic and partition the records came from (their rows' metadata columns). */
  encode(records: readonly SourceRecord[], origin: RowOrigin): EncodedBatch;
}

/** The records' bytes as JSONEachRow lines; every record is a row (the server decides). */
export function passthroughEncoder(table: string): TableEncoder {
  return {
    table,
    format: 'JSONEachRow',
    columns: undefined,
    version: 0,
    encode(records) {
      const whole = encodeJsonLines(records);
      return {
        rows: records,
        invalid: [],
        unknown: new Map(),
        bytes: whole.bytes,
        body: (from, to) => (from === 0 && to === records.length ? whole.chunks : encodeJsonLines(records.slice(from, to)).chunks),
      };
    },
  };
}

/**
 * Records decoded into typed binary rows of one schema version: the
 * decoder's payload columns, then `metadata`'s columns (when the table has any).
 */
export function typedEncoder(table: string, decoder: RowDecoder, version: number, metadata?: MetadataWriter): TableEncoder {
  return {
    table,
    format: decoder.layout,
    columns: metadata ? [...decoder.schema.columnNames, ...metadata.columns] : decoder.schema.columnNames,
    version,
    encode(records, origin) {
      // A fresh buffer per batch: its slices are the insert body, held until
      // the insert is acknowledged.
      const out = new RowWriter(Math.max(64 * 1024, Math.min(records.length * 256, 16 << 20)));
      const rows: SourceRecord[] = [];
      const ends: number[] = [0];
      const invalid: Invalid[] = [];
      const unknown = new Map<string, number>();
      for (const r of records) {
        const outcome =
          r instanceof ChunkRecord && r.valueStart >= 0
            ? decoder.decode(r.chunk, out, r.valueStart, r.valueEnd)
            : decoder.decode(r.value ?? Buffer.alloc(0), out);
        for (const name of outcome.unknown) unknown.set(name, (unknown.get(name) ?? 0) + 1);
        if (outcome.ok && metadata) {
          const reason = metadata.write(out, origin, r);
          if (reason !== undefined) {
            out.rollback(ends[ends.length - 1]!);
            invalid.push({ record: r, column: metadata.failedColumn, reason, unknownField: false });
            continue;
          }
        }
        if (outcome.ok) {
          rows.push(r);
          ends.push(out.mark());
        } else {
          invalid.push({ record: r, column: outcome.column, reason: outcome.reason, unknownField: outcome.unknown.length > 0 });
        }
      }
      // The writer is this batch's alone: its bytes are the body, no copy.
      const buf = out.buf.subarray(0, out.mark());
      return {
        rows,
        invalid,
        unknown,
        bytes: buf.length,
        body: (from, to) => [buf.subarray(ends[from]!, ends[to]!)],
      };
    },
  };
}

/**
 * The body of `slice` when it is a run of `batch.rows` (what an isolating
 * insert asks for), else undefined. `index` caches row positions.
 */
export function sliceBody(batch: EncodedBatch, slice: readonly SourceRecord[], index: { map?: Map<SourceRecord, number> }): Buffer[] | undefined {
  const rows = batch.rows;
  let from = rows[0] === slice[0] ? 0 : -1;
  if (from < 0) {
    index.map ??= new Map(rows.map((r, i) => [r, i]));
    from = index.map.get(slice[0]!) ?? -1;
  }
  if (from < 0 || rows[from + slice.length - 1] !== slice[slice.length - 1]) return undefined;
  return batch.body(from, from + slice.length);
}
