/**
 * envelope-columns — table columns filled from envelope fields
 * (SLUICE_ENVELOPE_COLUMNS): a header, a field of the JSON envelope, the
 * topic or the Kafka timestamp, stored beside the payload's columns.
 *
 * Contract: `envelopeStep(column, ref, reader, timeStep)` is the metadata
 * step (metadata.ts) that writes one row's value of `column`:
 *  - DateTime, DateTime64(p) or a 64-bit integer (milliseconds), Nullable
 *    or not: the field read as a time (envelope.ts parseTime); a missing or
 *    unreadable time is NULL for a Nullable column, else the type's zero;
 *  - any other type: the field's text, handed to the column's codec as the
 *    JSON decoder would hand a string (String takes it as it is; a number
 *    type parses it; a text the type refuses makes the record invalid, by
 *    itself, naming the column); a missing field is NULL for a Nullable
 *    column, else the type's zero.
 * Pure functions of the record: the same record gives the same bytes.
 */
import type { SourceRecord } from '../kafka/record.js';
import type { Reason } from './codecs/index.js';
import type { ColumnSchema } from './decoder.js';
import type { EnvelopeReader, FieldRef } from './envelope.js';
import type { RowWriter } from './row-writer.js';
import type { TypeNode } from './types.js';

export type EnvelopeStep = (out: RowWriter, topic: string, record: SourceRecord) => Reason;

/** Whether a column of this type takes a time (ms) rather than text. */
export function isTimeColumn(t: TypeNode): boolean {
  const inner = t.kind === 'nullable' ? t.inner : t;
  return inner.kind === 'datetime' || inner.kind === 'datetime64' || (inner.kind === 'int' && inner.bits >= 64);
}

/**
 * `writeTime(out, ms)` writes a time into the column's type (metadata.ts
 * timestampStep, bound to this column).
 */
export function envelopeStep(c: ColumnSchema, ref: FieldRef, reader: EnvelopeReader, writeTime: (out: RowWriter, ms: number) => Reason): EnvelopeStep {
  const codec = c.codec;
  const absent = (out: RowWriter): Reason => {
    if (codec.nullable) return codec.value(null, out);
    codec.zero(out);
    return undefined;
  };
  if (isTimeColumn(c.type)) {
    return (out, _topic, record) => {
      const ms = reader.time(ref, record);
      return ms === undefined ? absent(out) : writeTime(out, Math.floor(ms));
    };
  }
  return (out, topic, record) => {
    const text = reader.text(ref, topic, record);
    return text === undefined ? absent(out) : codec.value(text, out);
  };
}
