/** A table and a sample of records for the drift tests (formats/drift.ts, cli/drift.ts). */
import type { TableColumns } from '../../../src/clickhouse/schema.js';
import { typedEncoder } from '../../../src/formats/batch.js';
import { tableSchema } from '../../../src/formats/decoder.js';
import { TableDrift } from '../../../src/formats/drift.js';
import { JsonDecoder } from '../../../src/formats/json.js';
import type { SourceRecord } from '../../../src/kafka/record.js';

export const INFO: TableColumns = {
  database: 'db',
  table: 'events',
  serverTimezone: 'UTC',
  serverVersion: '18.16.1',
  columns: [
    { name: 'id', type: 'UInt64', defaultKind: '', defaultExpression: '' },
    { name: 'ts', type: 'DateTime', defaultKind: '', defaultExpression: '' },
    { name: 'day', type: 'Date', defaultKind: 'MATERIALIZED', defaultExpression: 'toDate(ts)' },
  ],
};

export const records = (values: (string | null)[]): SourceRecord[] =>
  values.map((v, i) => ({ offset: 100 + i, timestamp: 0, key: null, value: v === null ? null : Buffer.from(v) }));

export function drift(strict: boolean, values: (string | null)[]) {
  const encoder = typedEncoder('events', new JsonDecoder(tableSchema(INFO), { layout: 'RowBinary', strict }), 1);
  const d = new TableDrift(INFO, encoder, { maxRecordBytes: 1000 });
  d.add('topic-a', 3, records(values));
  return d.report();
}

export const SAMPLE = [
  '{"id":1,"ts":"2026-11-25 10:00:00","country":"de","score":5}',
  '{"id":2,"ts":"2026-11-25 10:00:01","country":null,"score":-7,"day":"2026-11-25"}',
  '{"id":3,"ts":"2026-11-25 10:00:02","score":9}',
  '{"id":"x4","ts":"2026-11-25 10:00:03"}',
  '{"id":"x5","ts":"2026-11-25 10:00:04"}',
  'not json',
  null,
  '{"id":8,"ts":"2026-11-25 10:00:05","country":"' + 'x'.repeat(1000) + '"}',
];
