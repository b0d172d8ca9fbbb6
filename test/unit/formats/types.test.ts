import { describe, expect, it } from 'vitest';
import { parseType, UnsupportedTypeError } from '../../../src/formats/types.js';
import { tableSchema } from '../../../src/formats/decoder.js';

describe('parseType', () => {
  it('parses scalar types', () => {
    expect(parseType('UInt8')).toMatchObject({ kind: 'int', bits: 8, signed: false });
    expect(parseType('Int256')).toMatchObject({ kind: 'int', bits: 256, signed: true });
    expect(parseType('Float32')).toMatchObject({ kind: 'float', bits: 32 });
    expect(parseType('Decimal(9, 2)')).toMatchObject({ kind: 'decimal', precision: 9, scale: 2, bits: 32 });
    expect(parseType('Decimal(40,5)')).toMatchObject({ kind: 'decimal', precision: 40, scale: 5, bits: 256 });
    expect(parseType('Decimal64(4)')).toMatchObject({ kind: 'decimal', precision: 18, scale: 4, bits: 64 });
    expect(parseType('Decimal128(10)')).toMatchObject({ kind: 'decimal', precision: 38, bits: 128 });
    expect(parseType('FixedString(16)')).toMatchObject({ kind: 'fixedstring', length: 16 });
    expect(parseType("DateTime('Asia/Tokyo')")).toMatchObject({ kind: 'datetime', timezone: 'Asia/Tokyo' });
    expect(parseType('DateTime')).toMatchObject({ kind: 'datetime', timezone: undefined });
    expect(parseType("DateTime64(6, 'UTC')")).toMatchObject({ kind: 'datetime64', precision: 6, timezone: 'UTC' });
    for (const t of ['Bool', 'String', 'UUID', 'Date', 'Date32', 'IPv4', 'IPv6']) expect(parseType(t).text).toBe(t);
  });

  it('parses enums with escaped names and negative values, as system.columns spells them', () => {
    const t = parseType("Enum8('b' = -2, 'a' = 1, 'it\\'s' = 3, 'back\\\\slash' = 4)");
    expect(t).toMatchObject({ kind: 'enum', bits: 8, values: [['b', -2], ['a', 1], ["it's", 3], ['back\\slash', 4]] });
    expect(() => parseType("Enum8('a' = 200)")).toThrow(UnsupportedTypeError);
  });

  it('parses wrappers, tuples (named, with the newlines 26.x prints), maps and Nested', () => {
    expect(parseType('Array(Nullable(String))')).toMatchObject({ kind: 'array', inner: { kind: 'nullable', inner: { kind: 'string' } } });
    expect(parseType('LowCardinality(Nullable(String))')).toMatchObject({ kind: 'lowcardinality', inner: { kind: 'nullable' } });
    expect(parseType('Tuple(UInt8, String)')).toMatchObject({ kind: 'tuple', names: undefined, elements: [{ kind: 'int' }, { kind: 'string' }] });
    expect(parseType('Tuple(\n    a UInt8,\n    b String)')).toMatchObject({ kind: 'tuple', names: ['a', 'b'] });
    expect(parseType('Tuple(`x y` DateTime, z Array(UInt8))')).toMatchObject({ kind: 'tuple', names: ['x y', 'z'] });
    expect(parseType('Map(String, Array(UInt8))')).toMatchObject({ kind: 'map', key: { kind: 'string' }, value: { kind: 'array' } });
    expect(parseType('Nested(x UInt8, y String)')).toMatchObject({ kind: 'array', inner: { kind: 'tuple', names: ['x', 'y'] } });
    expect(parseType('SimpleAggregateFunction(sum, UInt64)')).toMatchObject({ kind: 'int', bits: 64 });
  });

  it('refuses what it cannot encode, naming the type', () => {
    for (const t of ['AggregateFunction(uniq, UInt64)', "Object('json')", 'JSON', 'Variant(UInt8, String)', 'Dynamic', 'Nothing',
      'IntervalDay', 'Point', 'Time', 'UInt8(3)', 'Array(UInt8', 'Tuple(a UInt8, String)', 'Decimal(80, 2)', 'DateTime64(12)']) {
      expect(() => parseType(t), t).toThrow(UnsupportedTypeError);
    }
    try {
      parseType('Array(Object(\'json\'))');
    } catch (err) {
      expect((err as Error).message).toMatch(/Array\(Object\('json'\)\).*not supported/);
    }
  });

  it('names the column when a table has an unsupported type; skips computed columns', () => {
    const info = (type: string) => ({
      database: 'd', table: 't', serverTimezone: 'UTC', serverVersion: '26.7.2.1',
      columns: [{ name: 'ok', type: 'UInt8', defaultKind: '' as const, defaultExpression: '' }, { name: 'agg', type, defaultKind: '' as const, defaultExpression: '' }],
    });
    expect(() => tableSchema(info('AggregateFunction(uniq, UInt64)'))).toThrow(/column agg: type AggregateFunction\(uniq, UInt64\) is not supported/);
    expect(() => tableSchema(info("DateTime('Mars/Olympus')"))).toThrow(/column agg: .*time zone/);
    const s = tableSchema({ ...info('UInt8'), columns: [...info('UInt8').columns, { name: 'm', type: 'UInt8', defaultKind: 'MATERIALIZED', defaultExpression: 'ok + 1' }] });
    expect(s.columnNames).toEqual(['ok', 'agg']);
    expect(s.computed).toEqual(['m']);
  });
});
