/**
 * The drift report of a sample of records (formats/drift.ts): fields the
 * table lacks (computed columns are not drift), records judged as the sink
 * judges them, reasons grouped by kind.
 */
import { describe, expect, it } from 'vitest';
import { passthroughEncoder, typedEncoder } from '../../../src/formats/batch.js';
import { tableSchema } from '../../../src/formats/decoder.js';
import { MAX_DRIFT_FIELDS, reasonKey, TableDrift } from '../../../src/formats/drift.js';
import { JsonDecoder } from '../../../src/formats/json.js';
import { drift, INFO, records, SAMPLE } from './drift-sample.js';

describe('TableDrift', () => {
  it('lists the fields the table lacks with their types and statements; computed columns are not drift', () => {
    const r = drift(false, SAMPLE);
    expect(r.sampled).toBe(SAMPLE.length);
    expect(r.topics).toEqual(['topic-a']);
    expect(r.fields.map((f) => [f.name, f.records, f.nulls, f.type])).toEqual([
      ['country', 3, 1, 'Nullable(String)'],
      ['score', 3, 0, 'Int64'],
    ]);
    expect(r.fields.map((f) => f.statement)).toEqual([
      'ALTER TABLE db.events ADD COLUMN country Nullable(String)',
      'ALTER TABLE db.events ADD COLUMN score Int64',
    ]);
  });

  it('counts the records the sink would refuse, grouped by kind of reason, most frequent first', () => {
    const r = drift(false, SAMPLE);
    expect(r.invalid).toBe(5);
    expect(r.reasons.map((x) => [x.count, x.reason])).toEqual([
      [2, 'column id: "…" is not a UInt64'],
      [1, 'record (key + value + headers) is larger than the record size limit (SLUICE_MAX_RECORD_BYTES)'],
      [1, 'record has no value (null or empty, e.g. a tombstone)'],
      [1, 'record value is not a JSON object ({...})'],
    ]);
    expect(r.reasons[0]!.example).toEqual({ topic: 'topic-a', partition: 3, offset: 103, reason: 'column id: "x4" is not a UInt64' });
    expect(r.serverJudges).toBe(false);
  });

  it('in strict mode (SLUICE_SKIP_UNKNOWN_FIELDS=false) the drifting records are refused, per field', () => {
    const r = drift(true, SAMPLE.slice(0, 3));
    expect(r.invalid).toBe(3);
    expect(r.reasons.map((x) => [x.count, x.reason])).toEqual([
      [2, 'field "country" is not a column of the table (strict mode)'],
      [1, 'field "score" is not a column of the table (strict mode)'],
    ]);
    expect(r.fields.map((f) => [f.name, f.records])).toEqual([['score', 3], ['country', 2]]);
  });

  it('in passthrough mode only the record checks run (the server judges values)', () => {
    const d = new TableDrift(INFO, passthroughEncoder('events'), { maxRecordBytes: 1000 });
    d.add('topic-a', 0, records(SAMPLE));
    const r = d.report();
    expect(r.serverJudges).toBe(true);
    expect(r.invalid).toBe(3);
    expect(r.fields.map((f) => f.name)).toEqual(['country', 'score']);
  });

  it(`follows at most ${MAX_DRIFT_FIELDS} distinct fields`, () => {
    const wide = '{' + Array.from({ length: MAX_DRIFT_FIELDS + 5 }, (_, i) => `"f${i}":1`).join(',') + '}';
    const encoder = typedEncoder('events', new JsonDecoder(tableSchema(INFO), { layout: 'RowBinary' }), 1);
    const d = new TableDrift(INFO, encoder, { maxRecordBytes: 1 << 20 });
    d.add('t', 0, records([wide]));
    const r = d.report();
    expect(r.fields).toHaveLength(MAX_DRIFT_FIELDS);
    expect(r.fieldsCapped).toBe(true);
  });

  it('groups reasons by kind: quoted values and numbers elided, field names kept', () => {
    expect(reasonKey('column n: 300 is out of range for UInt8')).toBe('column n: N is out of range for UInt8');
    expect(reasonKey('column d: "12.5" is not a Decimal(9, 2)')).toBe('column d: "…" is not a Decimal(9, 2)');
    expect(reasonKey('field "a\\"b" is not a column of the table (strict mode)')).toBe('field "a\\"b" is not a column of the table (strict mode)');
  });
});
