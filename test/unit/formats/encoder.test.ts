/**
 * encoder: the cheap checks that find records which can never be one row,
 * and the insert body. A false "bad" here dead-letters a good record; a false
 * "good" only costs an insert, so the checks must err on the side of "good".
 */
import { describe, expect, it } from 'vitest';
import type { SourceRecord } from '../../../src/pipeline/batcher.js';
import { recordBytes } from '../../../src/pipeline/batcher.js';
import { encode, precheck, type Body } from '../../../src/formats/encoder.js';
import { compactChunk, type RawMessage } from '../../../src/kafka/record.js';

function rec(value: Buffer | string | null, offset = 0): SourceRecord {
  return { offset, timestamp: 0, key: null, value: typeof value === 'string' ? Buffer.from(value) : value };
}

const MAX = 1024;

/** The bytes an insert would send: the chunks, in order. */
function sent(body: Body): string {
  const all = Buffer.concat(body.chunks);
  expect(body.bytes).toBe(all.length);
  return all.toString();
}

/** Records as the source delivers them: compacted into one chunk (kafka/record.ts). */
function chunk(values: (string | null)[], firstOffset = 0): ReturnType<typeof compactChunk> {
  const messages: RawMessage[] = values.map((v, i) => ({
    offset: String(firstOffset + i),
    timestamp: '0',
    key: null,
    value: v === null ? null : Buffer.from(v),
  }));
  return compactChunk(messages);
}

describe('precheck', () => {
  it('accepts a JSON object', () => {
    expect(precheck(rec('{"id":1,"s":"x"}'), MAX)).toBeUndefined();
    expect(precheck(rec('{}'), MAX)).toBeUndefined();
  });

  it('accepts multi-byte UTF-8 text', () => {
    expect(precheck(rec('{"name":"Zoë – 東京 🚀"}'), MAX)).toBeUndefined();
  });

  it('accepts pretty-printed JSON (newlines inside the object)', () => {
    expect(precheck(rec('{\n  "id": 1,\n  "s": "x"\n}'), MAX)).toBeUndefined();
  });

  it.each([
    ['spaces', '  {"id":1}  '],
    ['tabs', '\t{"id":1}\t'],
    ['CRLF at the end', '{"id":1}\r\n'],
    ['a trailing newline', '{"id":1}\n'],
    ['a leading newline', '\n{"id":1}'],
    ['mixed', ' \r\n\t{"id":1} \n'],
  ])('accepts leading/trailing JSON whitespace: %s', (_name, value) => {
    // JSON whitespace is space, tab, CR and LF (RFC 8259 §2). Producers that
    // write line-delimited JSON leave a trailing '\n'; encode() turns it into
    // a space, so ClickHouse sees exactly one row.
    expect(precheck(rec(value), MAX)).toBeUndefined();
  });

  it('rejects a tombstone (null value) and an empty value as null_value', () => {
    expect(precheck(rec(null), MAX)).toBe('null_value');
    expect(precheck(rec(Buffer.alloc(0)), MAX)).toBe('null_value');
  });

  it('rejects a value over maxRecordBytes as too_large, and accepts one exactly at the limit', () => {
    const at = '{"s":"' + 'x'.repeat(MAX - 8) + '"}';
    expect(Buffer.byteLength(at)).toBe(MAX);
    expect(precheck(rec(at), MAX)).toBeUndefined();
    const over = '{"s":"' + 'x'.repeat(MAX - 7) + '"}';
    expect(precheck(rec(over), MAX)).toBe('too_large');
  });

  it('measures the limit in bytes, not characters', () => {
    const value = '{"s":"' + 'é'.repeat(600) + '"}'; // 608 characters, 1208 bytes
    expect(value.length).toBeLessThan(MAX);
    expect(precheck(rec(value), MAX)).toBe('too_large');
  });

  it('rejects bytes that are not UTF-8 as invalid_utf8', () => {
    const v = Buffer.concat([Buffer.from('{"s":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    expect(precheck(rec(v), MAX)).toBe('invalid_utf8');
    // A truncated multi-byte sequence.
    const cut = Buffer.concat([Buffer.from('{"s":"'), Buffer.from('€').subarray(0, 2), Buffer.from('"}')]);
    expect(precheck(rec(cut), MAX)).toBe('invalid_utf8');
  });

  it.each([
    ['an array', '[{"id":1}]'],
    ['an empty array', '[]'],
    ['a number', '42'],
    ['a string', '"{\\"id\\":1}"'],
    ['true', 'true'],
    ['null literal', 'null'],
    ['plain text', 'hello'],
    ['CSV', '1,2,3'],
    ['whitespace only', ' \t '],
    ['a lone brace', '{'],
    ['a truncated object', '{"id":1'],
    ['an object followed by text', '{"id":1} x'],
    ['reversed braces', '}{'],
  ])('rejects %s as not_json_object', (_name, value) => {
    expect(precheck(rec(value), MAX)).toBe('not_json_object');
  });

  it('does not parse JSON: a malformed object inside braces goes to the server', () => {
    // The server decides; precheck stays cheap (issue #5).
    expect(precheck(rec('{not json}'), MAX)).toBeUndefined();
    expect(precheck(rec('{"a":1}{"b":2}'), MAX)).toBeUndefined();
  });

  it('judges an oversized value by its size alone (no scan of a huge value)', () => {
    expect(precheck(rec(Buffer.alloc(MAX + 1, 0xff)), MAX)).toBe('too_large');
  });
});

describe('encode', () => {
  it('joins values with newlines, one row per record, in order', () => {
    const body = encode([rec('{"id":1}'), rec('{"id":2}'), rec('{"id":3}')]);
    expect(sent(body)).toBe('{"id":1}\n{"id":2}\n{"id":3}\n');
  });

  it('encodes nothing as an empty body', () => {
    const body = encode([]);
    expect(body.bytes).toBe(0);
    expect(sent(body)).toBe('');
  });

  it('passes bytes through unchanged (no re-serialisation)', () => {
    const value = Buffer.from('{ "b" : 2 ,"a":1.50, "u":"\\u00e9" }');
    expect(Buffer.concat(encode([rec(value)]).chunks)).toEqual(Buffer.concat([value, Buffer.from('\n')]));
  });

  it('turns raw newlines inside a value into spaces, so a record stays one row', () => {
    const pretty = '{\n  "id": 1,\n  "s": "x"\n}';
    const body = sent(encode([rec(pretty), rec('{"id":2}')]));
    expect(body).toBe('{   "id": 1,   "s": "x" }\n{"id":2}\n');
    expect(body.split('\n').filter((l) => l !== '')).toHaveLength(2);
    expect(JSON.parse(body.split('\n')[0]!)).toEqual({ id: 1, s: 'x' });
  });

  it('does not mutate the original buffer when flattening newlines', () => {
    const original = Buffer.from('{\n"id":1\n}\n');
    const copy = Buffer.from(original);
    const r = rec(original);
    encode([r]);
    expect(original.equals(copy)).toBe(true);
    expect(r.value!.toString()).toBe('{\n"id":1\n}\n');
  });

  it('does not mutate a buffer that is a view into a larger one (kafkajs slices fetch buffers)', () => {
    const fetch = Buffer.from('XX{\n"id":1}YY');
    const view = fetch.subarray(2, 12);
    encode([rec(view)]);
    expect(fetch.toString()).toBe('XX{\n"id":1}YY');
  });

  it('keeps an escaped \\n inside a string as it is', () => {
    const value = '{"s":"line1\\nline2"}';
    expect(sent(encode([rec(value)]))).toBe(value + '\n');
  });

  it('keeps the row count equal to the record count for any mix of values', () => {
    const values = ['{"a":1}', '{\n"b":2\n}', '\n{"c":3}\n', '{"d":"\\n"}', '{\r\n"e":5\r\n}'];
    const body = sent(encode(values.map((v, i) => rec(v, i))));
    const rows = body.split('\n');
    expect(rows.pop()).toBe('');
    expect(rows).toHaveLength(values.length);
    expect(rows.map((r) => JSON.parse(r))).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }, { d: '\n' }, { e: 5 }]);
  });
});

describe('encode: records compacted into chunks (kafka/record.ts)', () => {
  it('sends a run of consecutive records as one slice of their chunk, without copying', () => {
    const records = chunk(['{"id":1}', '{"id":2}', '{"id":3}']);
    const body = encode(records);
    expect(sent(body)).toBe('{"id":1}\n{"id":2}\n{"id":3}\n');
    expect(body.chunks).toHaveLength(1);
    expect(body.chunks[0]!.buffer).toBe(records[0]!.chunk.buffer);
  });

  it('a slice that skips a record (isolated or prechecked out) does not send it', () => {
    const records = chunk(['{"id":0}', '{"id":1}', '[not an object]', '{"id":3}', '{"id":4}']);
    expect(sent(encode([records[0]!, records[1]!, records[3]!, records[4]!]))).toBe('{"id":0}\n{"id":1}\n{"id":3}\n{"id":4}\n');
    expect(sent(encode([records[4]!]))).toBe('{"id":4}\n');
    expect(sent(encode(records.slice(1, 2)))).toBe('{"id":1}\n');
  });

  it('a record after a tombstone continues the run correctly (a tombstone takes no chunk bytes)', () => {
    const records = chunk(['{"id":0}', null, '{"id":2}']);
    expect(records[1]!.value).toBeNull();
    expect(sent(encode([records[0]!, records[2]!]))).toBe('{"id":0}\n{"id":2}\n');
  });

  it('flattens a pretty-printed value in a chunk, without touching the chunk', () => {
    const records = chunk(['{"id":0}', '{\n"id": 1\n}', '{"id":2}']);
    const before = Buffer.from(records[0]!.chunk);
    const rows = sent(encode(records)).split('\n');
    expect(rows.pop()).toBe('');
    expect(rows.map((r) => JSON.parse(r))).toEqual([{ id: 0 }, { id: 1 }, { id: 2 }]);
    expect(records[0]!.chunk.equals(before)).toBe(true);
  });

  it('mixes records of two chunks and plain records, in the order given', () => {
    const a = chunk(['{"a":0}', '{"a":1}']);
    const b = chunk(['{"b":0}', '{"b":1}'], 2);
    const body = encode([a[0]!, a[1]!, b[0]!, rec('{"plain":1}', 9), b[1]!]);
    expect(sent(body)).toBe('{"a":0}\n{"a":1}\n{"b":0}\n{"plain":1}\n{"b":1}\n');
  });

  it('precheck reads a chunk record like any other', () => {
    const records = chunk(['{"id":0}', null, '', '[1]', '{"id":4}']);
    expect(records.map((r) => precheck(r, MAX))).toEqual([undefined, 'null_value', 'null_value', 'not_json_object', undefined]);
  });

  it('keeps every value, key and header of the fetched messages', () => {
    const records = compactChunk([
      { offset: '10', timestamp: '1000', key: Buffer.from('k1'), value: Buffer.from('{"v":1}'), headers: { h: Buffer.from('x') } },
      { offset: '11', timestamp: '1001', key: null, value: null },
      { offset: '12', timestamp: '1002', key: Buffer.from('k3'), value: Buffer.from('{"v":3}') },
    ]);
    expect(records.map((r) => [r.offset, r.timestamp, r.key?.toString() ?? null, r.value?.toString() ?? null])).toEqual([
      [10, 1000, 'k1', '{"v":1}'],
      [11, 1001, null, null],
      [12, 1002, 'k3', '{"v":3}'],
    ]);
    expect(records[0]!.headers).toEqual({ h: Buffer.from('x') });
    // key + value + header name and value bytes (headers count against the limit and the cap)
    expect(records.map((r) => r.byteSize)).toEqual([11, 0, 9]);
  });

  it('counts header bytes against SLUICE_MAX_RECORD_BYTES and the buffer cap', () => {
    const headers = { trace: Buffer.alloc(2_000), many: [Buffer.alloc(500), Buffer.alloc(500)] };
    const [withHeaders, plain] = compactChunk([
      { offset: '0', timestamp: '1', key: null, value: Buffer.from('{"a":1}'), headers },
      { offset: '1', timestamp: '1', key: null, value: Buffer.from('{"a":1}'), headers: {} },
    ]);
    expect(withHeaders!.byteSize).toBe(7 + 5 + 2_000 + 4 + 1_000);
    expect(precheck(withHeaders!, 3_000)).toBe('too_large');
    expect(precheck(withHeaders!, 4_000)).toBeUndefined();
    expect(precheck(plain!, 8)).toBeUndefined();
    expect(recordBytes(withHeaders!) - recordBytes(plain!)).toBe(3_009);
    // A plain record (replay) is measured the same way.
    expect(precheck({ offset: 0, timestamp: 0, key: null, value: Buffer.from('{"a":1}'), headers }, 3_000)).toBe('too_large');
  });
});
