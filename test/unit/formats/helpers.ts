import type { ColumnInfo } from '../../../src/clickhouse/schema.js';
import { tableSchema, writeValues, type DecodeOutcome, type RowLayout, type TableSchema } from '../../../src/formats/decoder.js';
import { JsonDecoder, type JsonDecoderOptions } from '../../../src/formats/json.js';
import { RowWriter } from '../../../src/formats/row-writer.js';

export function schemaOf(columns: Array<[string, string] | ColumnInfo>, serverTimezone = 'UTC', serverVersion = '26.7.2.1'): TableSchema {
  return tableSchema({
    database: 'd', table: 't', serverTimezone, serverVersion,
    columns: columns.map((c) => (Array.isArray(c) ? { name: c[0], type: c[1], defaultKind: '' as const, defaultExpression: '' } : c)),
  });
}

/** One column `v` of `type`: the bytes for JSON value `json`, or the reason it was refused. */
export function encodeJson(type: string, json: string, opts: Partial<JsonDecoderOptions> & { tz?: string; version?: string } = {}): string {
  const d = new JsonDecoder(schemaOf([['v', type]], opts.tz, opts.version), { layout: 'RowBinary', ...opts });
  const w = new RowWriter(16);
  const r = d.decode(Buffer.from(`{"v":${json}}`), w);
  if (!r.ok) {
    if (w.pos !== 0) throw new Error('a refused row left bytes behind');
    return `refused: ${r.reason}`;
  }
  return w.finish().toString('hex');
}

/** Same, through the plain-value entry point. */
export function encodeValue(type: string, v: unknown, layout: RowLayout = 'RowBinary'): string {
  const w = new RowWriter(16);
  const r = writeValues(schemaOf([['v', type]]), layout, [v], w);
  return r.ok ? w.finish().toString('hex') : `refused: ${r.reason}`;
}

export function decodeAll(d: JsonDecoder, lines: string[]): { outcomes: DecodeOutcome[]; bytes: Buffer } {
  const w = new RowWriter(64);
  const outcomes = lines.map((l) => d.decode(Buffer.from(l), w));
  return { outcomes, bytes: w.finish() };
}

export const le = (n: bigint, bytes: number) => {
  const b = Buffer.alloc(bytes);
  let x = BigInt.asUintN(bytes * 8, n);
  for (let i = 0; i < bytes; i++) { b[i] = Number(x & 0xffn); x >>= 8n; }
  return b.toString('hex');
};
