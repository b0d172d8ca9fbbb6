/**
 * Codec bytes and reasons, one type family at a time. The values that the
 * servers' own JSONEachRow takes or refuses are pinned against the real
 * servers in test/integration/typed-*.test.ts; here: the exact RowBinary
 * bytes, the refusal reasons, and the plain-value entry point.
 */
import { describe, expect, it } from 'vitest';
import { encodeJson as j, encodeValue as v, le } from './helpers.js';

const f64 = (x: number) => { const b = Buffer.alloc(8); b.writeDoubleLE(x); return b.toString('hex'); };
const f32 = (x: number) => { const b = Buffer.alloc(4); b.writeFloatLE(x); return b.toString('hex'); };

describe('int', () => {
  it('writes little-endian integers of every width', () => {
    expect(j('UInt8', '42')).toBe('2a');
    expect(j('Int8', '-1')).toBe('ff');
    expect(j('UInt16', '"513"')).toBe('0102');
    expect(j('Int32', '-2')).toBe('feffffff');
    expect(j('UInt32', '4294967295')).toBe('ffffffff');
    expect(j('Int64', '-1')).toBe('ffffffffffffffff');
    expect(j('Int64', '-4294967296')).toBe('00000000ffffffff');
    expect(j('UInt64', '18446744073709551615')).toBe('ffffffffffffffff');
    expect(j('Int64', '9007199254740993')).toBe(le(9007199254740993n, 8));
    expect(j('Int128', '-170141183460469231731687303715884105728')).toBe(le(-(1n << 127n), 16));
    expect(j('UInt256', '"12345"')).toBe(le(12345n, 32));
    expect(j('UInt8', 'true')).toBe('01');
    expect(j('UInt8', '""')).toBe('00');
  });

  it('refuses out-of-range, fractional and non-numeric values with a reason', () => {
    expect(j('UInt8', '300')).toBe('refused: 300 is out of range for UInt8');
    expect(j('UInt8', '-1')).toMatch(/-1 is out of range for UInt8/);
    expect(j('Int8', '128')).toMatch(/out of range/);
    expect(j('UInt64', '18446744073709551616')).toMatch(/out of range for UInt64/);
    expect(j('UInt32', '42.5')).toMatch(/"42.5" is not an integer/);
    expect(j('UInt32', '1e2')).toMatch(/not an integer/);
    expect(j('UInt32', '"abc"')).toMatch(/"abc" is not a UInt32/);
    expect(j('UInt32', '" 42"')).toMatch(/is not a UInt32/);
    expect(j('UInt32', '[1]')).toMatch(/an array is not a UInt32/);
    expect(j('UInt32', '{}')).toMatch(/an object is not a UInt32/);
    expect(j('UInt256', '9'.repeat(100))).toMatch(/out of range/);
  });

  it('takes plain values', () => {
    expect(v('UInt16', 513)).toBe('0102');
    expect(v('Int64', -5n)).toBe(le(-5n, 8));
    expect(v('UInt8', 1.5)).toMatch(/not an integer/);
    expect(v('UInt8', 256)).toMatch(/out of range/);
    expect(v('UInt8', '7')).toBe('07');
  });
});

describe('float', () => {
  it('rounds correctly and takes the text forms ClickHouse takes', () => {
    expect(j('Float64', '0.1')).toBe(f64(0.1));
    expect(j('Float64', '-123.456e-7')).toBe(f64(-123.456e-7));
    expect(j('Float64', '123456789012345678901234567890')).toBe(f64(123456789012345678901234567890));
    expect(j('Float64', '5e-324')).toBe(f64(5e-324));
    expect(j('Float64', '1e400')).toBe(f64(Infinity));
    expect(j('Float64', '"nan"')).toBe(f64(NaN));
    expect(j('Float64', '"-Infinity"')).toBe(f64(-Infinity));
    expect(j('Float64', '"+1"')).toBe(f64(1));
    expect(j('Float64', '".5"')).toBe(f64(0.5));
    expect(j('Float64', 'true')).toBe(f64(1));
    expect(j('Float32', '0.1')).toBe(f32(0.1));
    expect(j('Float32', '16777217')).toBe(f32(16777216));
    expect(j('Float64', '"1e99999999999999"')).toBe(f64(Infinity));
  });

  it('refuses text that is not a number, and "" (as 26.x does)', () => {
    expect(j('Float64', '""')).toMatch(/is not a Float64/);
    expect(j('Float64', '"1.5x"')).toMatch(/is not a Float64/);
    expect(j('Float64', '"0x10"')).toMatch(/is not a Float64/);
    expect(j('Float64', '"."')).toMatch(/is not a Float64/);
  });
});

describe('decimal', () => {
  it('stores the exact scaled integer', () => {
    expect(j('Decimal(9, 2)', '1.23')).toBe(le(123n, 4));
    expect(j('Decimal(9, 2)', '-1.5')).toBe(le(-150n, 4));
    expect(j('Decimal(9, 2)', '"1.230"')).toBe(le(123n, 4));
    expect(j('Decimal(9, 2)', '1e2')).toBe(le(10000n, 4));
    expect(j('Decimal(18, 4)', '922337203685.4775')).toBe(le(9223372036854775n, 8));
    expect(j('Decimal(38, 10)', '12345678901234567890.1234567891')).toBe(le(123456789012345678901234567891n, 16));
    expect(j('Decimal(76, 0)', '-' + '9'.repeat(76))).toBe(le(-(10n ** 76n - 1n), 32));
    expect(v('Decimal(9, 2)', 0.1)).toBe(le(10n, 4));
    expect(v('Decimal(9, 2)', 3n)).toBe(le(300n, 4));
  });

  it('refuses lost digits and overflow instead of truncating', () => {
    expect(j('Decimal(9, 2)', '1.235')).toMatch(/has more than 2 decimal places/);
    expect(j('Decimal(18, 4)', '1e-5')).toMatch(/more than 4 decimal places/);
    expect(j('Decimal(9, 2)', '12345678.9')).toMatch(/more than 9 digits/);
    expect(j('Decimal(38, 2)', '1' + '0'.repeat(40))).toMatch(/more than 38 digits/);
    expect(j('Decimal(9, 2)', 'true')).toMatch(/a boolean is not a Decimal/);
    expect(j('Decimal(9, 2)', '"nan"')).toMatch(/is not a Decimal/);
    expect(j('Decimal(9, 2)', '1' + '0'.repeat(100000))).toMatch(/out of range/);
  });
});

describe('string', () => {
  it('copies raw bytes, decodes escapes, and widens the length prefix past 127 bytes', () => {
    expect(j('String', '"abc"')).toBe('03616263');
    expect(j('String', '"a\\u00e9\\ud83d\\ude00\\n"')).toBe('08' + Buffer.from('aé😀\n').toString('hex'));
    const long = 'é'.repeat(100); // 200 bytes after decoding; escaped form
    expect(j('String', JSON.stringify(long).replace(/é/g, '\\u00e9'))).toBe('c801' + Buffer.from(long).toString('hex'));
    expect(j('String', '42')).toBe('023432');
    expect(j('String', '{"a": [1, 2]}')).toBe('0d' + Buffer.from('{"a": [1, 2]}').toString('hex'));
    expect(v('String', 'hé')).toBe('0368c3a9');
    expect(v('String', Buffer.from([0, 255]))).toBe('0200ff');
  });

  it('pads FixedString and refuses a longer value', () => {
    expect(j('FixedString(4)', '"ab"')).toBe('61620000');
    expect(j('FixedString(2)', '"é"')).toBe('c3a9');
    expect(j('FixedString(4)', '"abcde"')).toMatch(/is 5 bytes, longer than FixedString\(4\)/);
    expect(j('FixedString(4)', '12')).toMatch(/a number is not a FixedString/);
  });
});

describe('dates and times', () => {
  it('writes Date as days and refuses impossible or out-of-range dates', () => {
    expect(j('Date', '"2024-06-01"')).toBe(le(19875n, 2));
    expect(j('Date', '"2024-6-1"')).toBe(le(19875n, 2));
    expect(j('Date', '"20240601"')).toBe(le(19875n, 2));
    expect(j('Date', '19875')).toBe(le(19875n, 2));
    expect(j('Date', '"0000-00-00"')).toBe('0000');
    expect(j('Date', '"2024-02-30"')).toMatch(/not a valid date/);
    expect(j('Date', '"2024-13-01"')).toMatch(/not a valid date/);
    expect(j('Date', '"1969-12-31"')).toMatch(/outside the range of Date/);
    expect(j('Date', '"2149-06-06"')).toBe('ffff');
    expect(j('Date', '"2149-06-06"', { version: '18.16.1' })).toMatch(/2105-12-31 on this server/);
    expect(j('Date32', '"1900-01-01"')).toBe(le(-25567n, 4));
    expect(j('Date32', '"1899-12-31"')).toMatch(/outside the range of Date32/);
    expect(v('Date', new Date(Date.UTC(2024, 5, 1, 23)))).toBe(le(19875n, 2));
  });

  it('reads DateTime text in the column zone, the server zone, or an explicit offset', () => {
    const t = 1717245296n; // 2024-06-01 12:34:56 UTC
    expect(j('DateTime', '"2024-06-01 12:34:56"')).toBe(le(t, 4));
    expect(j('DateTime', '"2024-06-01T12:34:56.999Z"')).toBe(le(t, 4));
    expect(j('DateTime', '"2024-06-01T14:34:56+02:00"')).toBe(le(t, 4));
    expect(j('DateTime', '"2024-06-01T07:04:56-0530"')).toBe(le(t, 4));
    expect(j('DateTime', '1717245296')).toBe(le(t, 4));
    expect(j('DateTime', '"1717245296"')).toBe(le(t, 4));
    expect(j("DateTime('Asia/Tokyo')", '"2024-06-01 21:34:56"')).toBe(le(t, 4));
    expect(j('DateTime', '"2024-06-01 21:34:56"', { tz: 'Asia/Tokyo' })).toBe(le(t, 4));
    expect(j("DateTime('America/New_York')", '"2024-01-15 07:34:56"')).toBe(le(1705322096n, 4));
    expect(j('DateTime', '"2024-06-01 24:00:00"')).toMatch(/not a valid date-time/);
    expect(j('DateTime', '-1')).toMatch(/outside the range of DateTime/);
    expect(j('DateTime', '1.5')).toMatch(/not a whole number of seconds/);
    expect(j('DateTime', '"0000-00-00 00:00:00"')).toBe('00000000');
    expect(v('DateTime', new Date(Number(t) * 1000 + 999))).toBe(le(t, 4));
  });

  it('keeps DateTime64 ticks at the column precision', () => {
    expect(j('DateTime64(3)', '"2024-06-01 12:34:56.789"')).toBe(le(1717245296789n, 8));
    expect(j('DateTime64(3)', '"2024-06-01 12:34:56.7899"')).toBe(le(1717245296789n, 8));
    expect(j('DateTime64(3)', '1717245296789')).toBe(le(1717245296789n, 8));
    expect(j('DateTime64(3)', '"1717245296.5"')).toBe(le(1717245296500n, 8));
    expect(j('DateTime64(9)', '"2024-06-01 12:34:56.123456789"')).toBe(le(1717245296123456789n, 8));
    expect(j('DateTime64(3)', '"1969-12-31 23:59:59.5"')).toBe(le(-500n, 8));
    expect(j('DateTime64(3)', '"1899-12-31 23:59:59"')).toMatch(/outside the range/);
    expect(v('DateTime64(6)', new Date(1717245296789))).toBe(le(1717245296789000n, 8));
  });
});

describe('uuid, enum, ip, bool', () => {
  it('writes UUID as two little-endian halves', () => {
    const bytes = Buffer.from('61f0c4045cb311e7907ba6006ad3dba0', 'hex');
    const expected = Buffer.concat([Buffer.from(bytes.subarray(0, 8)).reverse(), Buffer.from(bytes.subarray(8)).reverse()]).toString('hex');
    expect(j('UUID', '"61f0c404-5cb3-11e7-907b-a6006ad3dba0"')).toBe(expected);
    expect(j('UUID', '"61F0C4045CB311E7907BA6006AD3DBA0"')).toBe(expected);
    expect(j('UUID', '"61f0c404-5cb3-11e7-907b-a6006ad3dbaz"')).toMatch(/is not a UUID/);
    expect(j('UUID', '1')).toMatch(/a number is not a UUID/);
  });

  it('maps enum names and numbers, and refuses others', () => {
    const e = "Enum8('a' = 1, 'b' = -2, 'it\\'s' = 3)";
    expect(j(e, '"b"')).toBe('fe');
    expect(j(e, '"it\'s"')).toBe('03');
    expect(j(e, '1')).toBe('01');
    expect(j(e, '"1"')).toBe('01');
    expect(j(e, '"c"')).toMatch(/"c" is not an element of Enum8/);
    expect(j(e, '5')).toMatch(/"5" is not an element/);
    expect(j("Enum16('x' = 1000)", '"x"')).toBe(le(1000n, 2));
  });

  it('parses IPv4 and IPv6 text', () => {
    expect(j('IPv4', '"1.2.3.4"')).toBe('04030201');
    expect(j('IPv4', '"256.1.1.1"')).toMatch(/not an IPv4 address/);
    expect(j('IPv4', '"1.2.3"')).toMatch(/not an IPv4/);
    expect(j('IPv6', '"::1"')).toBe('0'.repeat(30) + '01');
    expect(j('IPv6', '"1.2.3.4"')).toBe('00000000000000000000ffff01020304');
    expect(j('IPv6', '"2001:db8::1"')).toBe('20010db8' + '0'.repeat(22) + '01');
    expect(j('IPv6', '"1:2:3:4:5:6:7:8:9"')).toMatch(/not an IPv6/);
    expect(j('IPv6', '"1::2::3"')).toMatch(/not an IPv6/);
  });

  it('takes Bool as true/false/0/1 only', () => {
    expect(j('Bool', 'true')).toBe('01');
    expect(j('Bool', '0')).toBe('00');
    expect(j('Bool', '2')).toMatch(/not a Bool/);
    expect(j('Bool', '"true"')).toMatch(/not a Bool/);
  });
});

describe('wrappers and containers', () => {
  it('Nullable: null is NULL; LowCardinality is its inner type', () => {
    expect(j('Nullable(UInt8)', 'null')).toBe('01');
    expect(j('Nullable(UInt8)', '7')).toBe('0007');
    expect(j('LowCardinality(String)', '"x"')).toBe('0178');
    expect(j('LowCardinality(Nullable(String))', 'null')).toBe('01');
    expect(v('Nullable(String)', null)).toBe('01');
  });

  it('Array: count then elements; null elements are zero; 200 elements widen the count', () => {
    expect(j('Array(UInt8)', '[1, 2 ,3]')).toBe('03010203');
    expect(j('Array(UInt8)', '[]')).toBe('00');
    expect(j('Array(UInt8)', '[1,null]')).toBe('020100');
    expect(j('Array(Nullable(UInt8))', '[1,null]')).toBe('0200010' + '1');
    expect(j('Array(UInt8)', `[${new Array(200).fill(1).join(',')}]`)).toBe('c801' + '01'.repeat(200));
    expect(j('Array(Array(UInt8))', '[[1],[]]')).toBe('02010100');
    expect(j('Array(UInt8)', '[1,300]')).toMatch(/300 is out of range/);
    expect(j('Array(UInt8)', '[1,]')).toMatch(/refused/);
    expect(j('Array(UInt8)', '"[1]"')).toMatch(/a string is not an array/);
    expect(v('Array(UInt8)', [1, 2])).toBe('020102');
  });

  it('Tuple: positional arrays; named tuples also take objects in any order', () => {
    expect(j('Tuple(UInt8, String)', '[1,"a"]')).toBe('010161');
    expect(j('Tuple(UInt8, String)', '[1]')).toMatch(/needs 2 elements, got 1/);
    expect(j('Tuple(UInt8, String)', '[1,"a",2]')).toMatch(/has only 2 elements/);
    expect(j('Tuple(a UInt8, b String)', '{"b":"a","c":[1],"a":1}')).toBe('010161');
    expect(j('Tuple(a UInt8, b String)', '{"b":"a"}')).toBe('000161');
    expect(j('Tuple(a UInt8, b String)', '{"a":1,"a":2}')).toMatch(/duplicate element a/);
    expect(v('Tuple(a UInt8, b String)', { a: 1, b: 'a' })).toBe('010161');
  });

  it('Map: count then key/value pairs, keys from their text', () => {
    expect(j('Map(String, UInt8)', '{"a":1,"b":2}')).toBe('0201610101620' + '2');
    expect(j('Map(UInt8, String)', '{"1":"x"}')).toBe('01010178');
    expect(j('Map(UInt8, String)', '{"x":"y"}')).toMatch(/key: "x" is not a UInt8/);
    expect(v('Map(String, UInt8)', new Map([['a', 1]]))).toBe('01016101');
  });
});

describe('64-bit integers of 16-20 digits (two words, no BigInt)', () => {
  it('matches BigInt on boundaries and random values', () => {
    const cases = ['1234567890123456', '9007199254740993', '1717245296123456789', '-1717245296123456789', '9223372036854775807',
      '-9223372036854775808', '18446744073709551615', '10000000000000000000', '-1000000000000000'];
    for (const c of cases) {
      const n = BigInt(c);
      if (n >= -(2n ** 63n) && n < 2n ** 63n) expect(j('Int64', c), c).toBe(le(n, 8));
      else expect(j('Int64', c), c).toMatch(/out of range/);
      if (n >= 0n && n < 2n ** 64n) expect(j('UInt64', c), c).toBe(le(n, 8));
      else expect(j('UInt64', c), c).toMatch(/out of range/);
    }
    let x = 0x9e3779b97f4a7c15n;
    for (let i = 0; i < 2000; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n;
      const digits = (x % (10n ** BigInt(16 + (i % 5)))).toString();
      const n = BigInt(digits);
      expect(j('UInt64', digits)).toEqual(n < 2n ** 64n ? le(n, 8) : expect.stringMatching(/out of range/));
      const neg = '-' + digits;
      expect(j('Int64', neg)).toEqual(-n >= -(2n ** 63n) ? le(-n, 8) : expect.stringMatching(/out of range/));
    }
    expect(j('UInt64', '18446744073709551616')).toMatch(/out of range/);
    expect(j('UInt64', '99999999999999999999')).toMatch(/out of range/);
    expect(j('UInt64', '"+0000000001717245296123456789"')).toBe(le(1717245296123456789n, 8));
  });
});

describe('plain values (the entry point Avro/Protobuf decoders will use) give the same bytes as JSON', () => {
  it('agrees with the JSON path type by type', () => {
    const uuid = '61f0c404-5cb3-11e7-907b-a6006ad3dba0';
    const pairs: Array<[string, unknown, string]> = [
      ['UInt8', 200, '200'], ['Int16', -300, '-300'], ['UInt32', 4294967295, '4294967295'], ['Int64', -5n, '-5'],
      ['UInt64', 18446744073709551615n, '18446744073709551615'], ['Int128', -(2n ** 100n), String(-(2n ** 100n))],
      ['Float32', 0.1, '0.1'], ['Float64', -1.5e-300, '-1.5e-300'], ['Float64', NaN, '"nan"'], ['Bool', true, 'true'],
      ['Decimal(9, 2)', 12.34, '12.34'], ['Decimal(18, 4)', '-0.0001', '-0.0001'], ['Decimal(38, 2)', 10n ** 30n, '1' + '0'.repeat(30)],
      ['String', 'héllo', '"héllo"'], ['String', 42, '42'], ['FixedString(3)', 'ab', '"ab"'], ['UUID', uuid, `"${uuid}"`],
      ['Date', new Date(Date.UTC(2024, 5, 1)), '"2024-06-01"'], ['Date32', -25567, '"1900-01-01"'],
      ['DateTime', new Date(Date.UTC(2024, 5, 1, 12, 34, 56)), '"2024-06-01 12:34:56"'], ['DateTime', 1717245296, '1717245296'],
      ["DateTime('Asia/Tokyo')", '2024-06-01 21:34:56', '"2024-06-01 21:34:56"'],
      ['DateTime64(3)', new Date(Date.UTC(2024, 5, 1, 12, 34, 56, 789)), '"2024-06-01 12:34:56.789"'],
      ["Enum8('a' = 1, 'b' = 2)", 'b', '"b"'], ["Enum8('a' = 1, 'b' = 2)", 2, '2'],
      ['IPv4', '10.0.0.1', '"10.0.0.1"'], ['IPv6', '::1', '"::1"'],
      ['Nullable(UInt8)', null, 'null'], ['Nullable(UInt8)', 3, '3'], ['LowCardinality(String)', 'x', '"x"'],
      ['Array(Nullable(String))', ['a', null], '["a",null]'], ['Array(UInt8)', [], '[]'],
      ['Tuple(UInt8, String)', [1, 'a'], '[1,"a"]'], ['Tuple(a UInt8, b String)', { b: 'x', a: 1 }, '{"b":"x","a":1}'],
      ['Map(String, UInt8)', { a: 1, b: 2 }, '{"a":1,"b":2}'], ['Map(UInt8, String)', new Map([[1, 'x']]), '{"1":"x"}'],
    ];
    for (const [type, value, json] of pairs) expect(v(type, value), `${type} ← ${String(value)}`).toBe(j(type, json));
  });

  it('refuses what does not fit, with a reason', () => {
    expect(v('UInt8', -1)).toMatch(/out of range/);
    expect(v('Date', new Date(NaN))).toMatch(/invalid Date/);
    expect(v('String', { a: 1 })).toMatch(/an object is not a String/);
    expect(v('Array(UInt8)', 'x')).toMatch(/is not an array/);
    expect(v('Tuple(UInt8, String)', [1])).toMatch(/needs 2 elements/);
    expect(v("Enum8('a' = 1)", 5)).toMatch(/not an element/);
    expect(v('Decimal(9, 2)', Infinity)).toMatch(/is not a Decimal/);
  });
});
