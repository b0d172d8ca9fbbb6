/**
 * Type inference for fields a table lacks (schema drift): each rule of
 * formats/infer.ts, values read from record bytes (number text kept), and
 * the promise behind the suggestion — every value the type was inferred
 * from is accepted by the sink's decoder for that type, on an 18.16-era
 * and on a modern server.
 */
import { describe, expect, it } from 'vitest';
import { addColumnStatement, FieldScanner, FieldShape, inferType, quoteIdentifier, serverHasBool } from '../../../src/formats/infer.js';
import { JsonDecoder } from '../../../src/formats/json.js';
import { RowWriter } from '../../../src/formats/row-writer.js';
import { schemaOf } from './helpers.js';

const OLD = { version: '18.16.1', bool: false };
const NEW = { version: '26.7.2.1', bool: true };

/** The shape of field `v` over one record per value (a value `undefined` is a record without it). */
function shapeOf(values: readonly (string | undefined)[], tz = 'UTC', version = NEW.version): FieldShape {
  const scanner = new FieldScanner({ serverTimezone: tz, legacyDateRange: version.startsWith('18.') });
  const shapes = new Map<string, FieldShape>();
  for (const v of values) {
    const names = scanner.scan(Buffer.from(v === undefined ? '{"id":1}' : `{"id":1,"v":${v}}`), (n) => n !== 'id', shapes);
    expect(names).toEqual(v === undefined ? [] : ['v']);
  }
  return shapes.get('v') ?? new FieldShape();
}

function typeOf(values: readonly string[], server = NEW): string {
  return inferType(shapeOf(values, 'UTC', server.version), { bool: server.bool }).type;
}

describe('inferType', () => {
  it.each([
    ['integers', ['1', '-5', '42'], 'Int64'],
    ['integers above Int64, none negative', ['1', '18446744073709551615'], 'UInt64'],
    ['integers at the edges of Int64', ['-9223372036854775808', '9223372036854775807'], 'Int64'],
    ['a fraction among integers', ['1', '2.5'], 'Float64'],
    ['1.0 (a float in the text, though an integer in JS)', ['1.0'], 'Float64'],
    ['an exponent', ['1e3'], 'Float64'],
    ['strings', ['"de"', '"fr"'], 'String'],
    ['numbers as strings (still strings)', ['"1"', '"2"'], 'String'],
    ['dates', ['"2026-11-25"', '"2024-02-29"'], 'Date'],
    ['an impossible date among dates', ['"2026-11-25"', '"2026-02-30"'], 'String'],
    ['date-times (space or T, Z, offset, a date alone)', ['"2026-11-25 10:00:00"', '"2026-11-25T10:00:00Z"', '"2026-11-25 10:00:00+02:00"', '"2026-11-26"'], 'DateTime'],
    ['a date-time with a fraction (DateTime would drop it)', ['"2026-11-25 10:00:00.123"'], 'String'],
    ['objects', ['{"a":1}', '{"b":[true]}'], 'String'],
    ['arrays of integers', ['[1,2]', '[]', '[3]'], 'Array(Int64)'],
    ['arrays with null elements', ['[1,null]'], 'Array(Nullable(Int64))'],
    ['arrays of arrays', ['[[1.5],[]]'], 'Array(Array(Float64))'],
    ['only empty arrays', ['[]'], 'Array(String)'],
    ['arrays of mixed elements', ['[1,"a"]'], 'Array(String)'],
    ['nulls among strings', ['"a"', 'null'], 'Nullable(String)'],
    ['nulls among integers', ['7', 'null', 'null'], 'Nullable(Int64)'],
    ['only nulls', ['null'], 'Nullable(String)'],
    ['nulls among arrays (never Nullable(Array))', ['[1]', 'null'], 'Array(Int64)'],
    ['mixed kinds', ['1', '"a"'], 'String'],
    ['mixed kinds with nulls', ['true', '"a"', 'null'], 'Nullable(String)'],
  ])('%s', (_what, values, expected) => {
    expect(typeOf(values)).toBe(expected);
  });

  it('booleans are Bool where the server has it, UInt8 before 21.12', () => {
    expect(typeOf(['true', 'false'], NEW)).toBe('Bool');
    expect(typeOf(['true', 'false'], OLD)).toBe('UInt8');
    expect(typeOf(['true', 'null'], OLD)).toBe('Nullable(UInt8)');
    expect(serverHasBool('21.11.3')).toBe(false);
    expect(serverHasBool('21.12.1')).toBe(true);
    expect(serverHasBool('')).toBe(false);
  });

  it('dates past 18.16\'s tables (2105) are not dates on 18.16', () => {
    expect(typeOf(['"2120-01-01"'], NEW)).toBe('Date');
    expect(typeOf(['"2120-01-01"'], OLD)).toBe('String');
  });

  it('integers beyond 64 bits are Float64, with a note', () => {
    const r = inferType(shapeOf(['-1', '18446744073709551615']), { bool: true });
    expect(r.type).toBe('Float64');
    expect(r.note).toMatch(/beyond 64 bits/);
    expect(inferType(shapeOf(['1']), { bool: true }).note).toBeUndefined();
  });

  it('counts the records carrying the field and its nulls', () => {
    const s = shapeOf(['"a"', undefined, 'null', '"b"']);
    expect([s.seen, s.nulls, s.values]).toEqual([3, 1, 2]);
  });

  // The suggestion's promise: with the column added as suggested, the sink
  // decodes every value it was inferred from (and its nulls as NULL).
  const SAMPLES: readonly (readonly string[])[] = [
    ['1', '-5', 'null'], ['1', '18446744073709551615'], ['1', '2.5', '-1e-3'], ['true', 'false', 'null'],
    ['"x"', 'null', '"\\u00e9\\"q"'], ['"2026-11-25"', '"1970-01-01"'], ['"2026-11-25 10:00:00"', '"2026-11-25T10:00:00+02:00"', 'null'],
    ['{"a":1}', '{"b":{"c":[null]}}', 'null'], ['[1,null]', '[]'], ['[[1.5],[]]'], ['[{"a":1}]', '["s"]'], ['1', '"a"', '[true]', '{"o":null}'],
  ];
  for (const server of [OLD, NEW]) {
    it.each(SAMPLES.map((s) => [s.join(' '), s] as const))(`on ${server.version}: the inferred type takes %s`, (_n, values) => {
      const type = typeOf(values, server);
      const decoder = new JsonDecoder(schemaOf([['v', type]], 'UTC', server.version), { layout: 'RowBinary', strict: true });
      const out = new RowWriter(64);
      for (const v of values) {
        const r = decoder.decode(Buffer.from(`{"v":${v}}`), out);
        expect(r.ok ? 'ok' : `${type} refused ${v}: ${r.reason}`).toBe('ok');
      }
    });
  }
});

describe('FieldScanner.scan', () => {
  const scanner = new FieldScanner({ serverTimezone: 'UTC' });

  it('folds only the wanted fields, once per record, escaped names decoded', () => {
    const shapes = new Map<string, FieldShape>();
    const names = scanner.scan(Buffer.from('{"id":1,"new\\u0020one":2,"x":"y","id2":[1]}'), (n) => n !== 'id' && n !== 'x', shapes);
    expect(names).toEqual(['new one', 'id2']);
    expect(inferType(shapes.get('new one')!, { bool: true }).type).toBe('Int64');
    expect(inferType(shapes.get('id2')!, { bool: true }).type).toBe('Array(Int64)');
  });

  it('folds nothing from a value that is not one valid JSON object', () => {
    for (const bad of ['[1]', '{"a":1}{"b":2}', '{"a":', 'nope', '{"a":tru}', '']) {
      const shapes = new Map<string, FieldShape>();
      expect(scanner.scan(Buffer.from(bad), () => true, shapes)).toBeUndefined();
      expect(shapes.size).toBe(0);
    }
  });

  it('refuses nesting deeper than its limit instead of recursing into it', () => {
    const deep = new FieldScanner({ serverTimezone: 'UTC' }, 8);
    const shapes = new Map<string, FieldShape>();
    expect(deep.scan(Buffer.from(`{"a":${'['.repeat(20)}${']'.repeat(20)}}`), () => true, shapes)).toBeUndefined();
    expect(deep.scan(Buffer.from(`{"a":${'['.repeat(5)}1${']'.repeat(5)}}`), () => true, shapes)).toEqual(['a']);
    expect(inferType(shapes.get('a')!, { bool: true }).type).toBe('Array(Array(Array(Array(Array(Int64)))))');
  });

  it('reads a value inside a larger buffer (a fetched chunk)', () => {
    const buf = Buffer.from('xx{"v":"2026-01-02"}\n{"v":3}\n');
    const shapes = new Map<string, FieldShape>();
    scanner.scan(buf, () => true, shapes, 2, 20);
    expect(inferType(shapes.get('v')!, { bool: true }).type).toBe('Date');
  });
});

describe('the ALTER statement', () => {
  it('backquotes names only when they need it, escaping ` and \\', () => {
    expect(quoteIdentifier('country')).toBe('country');
    expect(quoteIdentifier('_x9')).toBe('_x9');
    expect(quoteIdentifier('odd name')).toBe('`odd name`');
    expect(quoteIdentifier('9lives')).toBe('`9lives`');
    expect(quoteIdentifier('a.b')).toBe('`a.b`');
    expect(quoteIdentifier('we`ird\\')).toBe('`we\\`ird\\\\`');
    expect(addColumnStatement('db', 'my-table', 'country', 'Nullable(String)')).toBe('ALTER TABLE db.`my-table` ADD COLUMN country Nullable(String)');
  });
});
