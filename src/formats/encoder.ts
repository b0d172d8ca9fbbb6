/**
 * encoder — records → JSONEachRow insert body, and the cheap pre-insert
 * checks that find records which cannot be a row at all.
 *
 * Contract: `precheck` never parses JSON (the hot path stays free of
 * JSON.parse/stringify, issue #5); it rejects what ClickHouse could not map
 * to exactly one row: a missing value (tombstone), bytes that are not UTF-8,
 * anything not shaped `{…}`, or a value over the size limit. Everything else
 * goes to the server as it is, and the server's answer decides.
 * `encode` joins values with '\n', one record per row, in order. A raw
 * newline inside a value (pretty-printed JSON) is turned into a space: in
 * valid JSON it can only be whitespace between tokens, and left alone it
 * would split the record into rows and shift the server's "at row N".
 *
 * Stage: formats/ owns what a record's bytes mean and how they become an
 * insert body. It may import clickhouse/ and kafka/ (types), ops/ and the
 * base; never pipeline/, dlq/ or above.
 */
import { isUtf8 } from 'node:buffer';
import type { SourceRecord } from '../kafka/record.js';
import { ChunkRecord, NEWLINE, headersSize } from '../kafka/record.js';

export type PrecheckReason = 'null_value' | 'too_large' | 'invalid_utf8' | 'not_json_object';

const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0d || b === NEWLINE;
}

/** Why a record was not even sent: the text of its dead letter's error message. */
export const PRECHECK_MESSAGES: Readonly<Record<PrecheckReason, string>> = {
  null_value: 'record has no value (null or empty, e.g. a tombstone)',
  too_large: 'record (key + value + headers) is larger than the record size limit (SLUICE_MAX_RECORD_BYTES)',
  invalid_utf8: 'record value is not valid UTF-8',
  not_json_object: 'record value is not a JSON object ({...})',
};

/** `json`: the values should be JSON objects (SLUICE_FORMAT=json); binary formats are checked for presence and size only. */
export function precheck(record: SourceRecord, maxRecordBytes: number, json = true): PrecheckReason | undefined {
  // Hot path: read a ChunkRecord's bytes in place rather than through a
  // view per record; its chunk was UTF-8-checked as a whole (kafka/record.ts).
  if (record instanceof ChunkRecord) {
    if (record.valueStart < 0 || record.valueEnd === record.valueStart) return 'null_value';
    if (record.byteSize > maxRecordBytes) return 'too_large';
    if (!json) return undefined;
    return shape(record.chunk, record.valueStart, record.valueEnd, maxRecordBytes) ?? (record.utf8 || isUtf8(record.value!) ? undefined : 'invalid_utf8');
  }
  const v = record.value;
  if (v === null || v.length === 0) return 'null_value';
  if (v.length + (record.key?.length ?? 0) + (record.headers ? headersSize(record.headers) : 0) > maxRecordBytes) return 'too_large';
  if (!json) return undefined;
  return shape(v, 0, v.length, maxRecordBytes) ?? (isUtf8(v) ? undefined : 'invalid_utf8');
}

function shape(b: Buffer, from: number, to: number, maxRecordBytes: number): PrecheckReason | undefined {
  if (to - from > maxRecordBytes) return 'too_large';
  let start = from;
  let end = to - 1;
  while (start <= end && isSpace(b[start]!)) start++;
  while (end >= start && isSpace(b[end]!)) end--;
  return b[start] !== OPEN || b[end] !== CLOSE ? 'not_json_object' : undefined;
}

const SEPARATOR = Buffer.from('\n');

/** An insert body as a list of buffers (sent in order, never concatenated). */
export interface Body {
  readonly chunks: Buffer[];
  readonly bytes: number;
}

/**
 * The insert body for these records: values joined by '\n', one row each.
 * Zero-copy where it can be: a run of consecutive ChunkRecords (kafka/record.ts)
 * is one slice of their chunk. Anything else is sent value + separator.
 */
export function encode(records: readonly SourceRecord[]): Body {
  const chunks: Buffer[] = [];
  let bytes = 0;
  let run: Buffer | undefined;
  let runStart = 0;
  let runEnd = 0; // just past the last value's '\n'
  const closeRun = () => {
    if (run) chunks.push(run.subarray(runStart, runEnd));
    run = undefined;
  };
  for (const r of records) {
    if (r instanceof ChunkRecord && r.valueStart >= 0) {
      bytes += r.valueEnd - r.valueStart + 1;
      // The first '\n' from the value's start is its separator unless the
      // value holds one itself (pretty-printed JSON).
      if (r.chunk.indexOf(NEWLINE, r.valueStart) !== r.valueEnd) {
        closeRun();
        chunks.push(flatten(r.value!), SEPARATOR);
      } else if (run === r.chunk && r.valueStart === runEnd) {
        runEnd = r.valueEnd + 1;
      } else {
        closeRun();
        run = r.chunk;
        runStart = r.valueStart;
        runEnd = r.valueEnd + 1;
      }
      continue;
    }
    closeRun();
    const v = r.value!;
    bytes += v.length + 1;
    chunks.push(v.indexOf(NEWLINE) === -1 ? v : flatten(v), SEPARATOR);
  }
  closeRun();
  return { chunks, bytes };
}

function flatten(v: Buffer): Buffer {
  const copy = Buffer.from(v);
  for (let i = copy.indexOf(NEWLINE); i !== -1; i = copy.indexOf(NEWLINE, i + 1)) copy[i] = 0x20;
  return copy;
}
