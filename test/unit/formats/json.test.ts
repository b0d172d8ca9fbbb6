/**
 * The JSON decoder: exactly one object per record, hostile input, key
 * matching, unknown and absent fields, row order, rollback. Bounded work
 * is shown by structure (inputs of a million keys / deep brackets complete
 * and give the right verdict), never by a timing threshold.
 */
import { describe, expect, it } from 'vitest';
import { JsonDecoder, MAX_UNKNOWN } from '../../../src/formats/json.js';
import { RowWriter } from '../../../src/formats/row-writer.js';
import { decodeAll, schemaOf } from './helpers.js';

const schema = schemaOf([['id', 'UInt32'], ['s', 'String'], ['n', 'Nullable(UInt8)']]);
const decoder = (opts: Partial<ConstructorParameters<typeof JsonDecoder>[1]> = {}) => new JsonDecoder(schema, { layout: 'RowBinary', ...opts });

function one(line: string | Buffer, opts = {}) {
  const w = new RowWriter(16);
  w.u8(0xaa); // a row already in the buffer must survive a refused record
  const r = decoder(opts).decode(typeof line === 'string' ? Buffer.from(line) : line, w);
  const bytes = w.finish();
  expect(bytes[0]).toBe(0xaa);
  if (!r.ok) expect(bytes.length, 'a refused record left bytes behind').toBe(1);
  return { r, hex: bytes.subarray(1).toString('hex') };
}

describe('record shape', () => {
  it('decodes one object into one row, with surrounding whitespace', () => {
    const { r, hex } = one(' \n{ "id" : 1 , "s" : "a" , "n" : null }\r\n\t');
    expect(r).toMatchObject({ ok: true, unknown: [] });
    expect(hex).toBe('01000000' + '0161' + '01');
  });

  it('refuses anything that is not exactly one JSON object', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /empty record/], ['   ', /empty record/], ['[{"id":1}]', /not a JSON object/], ['42', /not a JSON object/],
      ['"x"', /not a JSON object/], ['null', /not a JSON object/], ['{"id":1}{"id":2}', /trailing data/],
      ['{"id":1}\n{"id":2}', /trailing data/], ['{"id":1} x', /trailing data/], ['{"id":1', /end of input/],
      ['{"id":1,}', /expected a key/], ['{id:1}', /expected a key/], ['{"id" 1}', /expected ':'/], ['{"id":1 "s":"a"}', /expected , or }/],
      ['{"id":01}', /expected , or }/], ['{"id":-}', /bad number/], ['{"s":"a\\x"}', /bad escape/], ['{"s":"\\ud800"}', /lone surrogate/],
      ['{"s":"\\udc00x"}', /lone surrogate/], ['{"s":"abc}', /unterminated string/], ['{"zz":tru}', /bad literal/], ['{"zz":NaN}', /unexpected byte/],
      ['{"id":1,"id":2}', /duplicate field/], ['{"id":tru}', /bad literal/], ['{"id":nul}', /bad literal/],
    ];
    for (const [line, reason] of cases) expect(one(line).r, line).toMatchObject({ ok: false, reason: expect.stringMatching(reason) });
  });

  it('refuses invalid UTF-8 in strings and keys, and overlong or surrogate encodings', () => {
    for (const bytes of [[0xff], [0xc3], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]) {
      const s = Buffer.concat([Buffer.from('{"s":"a'), Buffer.from(bytes), Buffer.from('"}')]);
      expect(one(s).r, Buffer.from(bytes).toString('hex')).toMatchObject({ ok: false, reason: 'invalid UTF-8 in string' });
      const k = Buffer.concat([Buffer.from('{"'), Buffer.from(bytes), Buffer.from('":1}')]);
      expect(one(k).r).toMatchObject({ ok: false, reason: 'invalid UTF-8 in string' });
    }
    expect(one(Buffer.from('{"s":"é😀"}')).r).toMatchObject({ ok: true });
  });

  it('decodes a record in the middle of a larger buffer', () => {
    const buf = Buffer.from('xx{"id":7}yy');
    const w = new RowWriter();
    expect(decoder().decode(buf, w, 2, 10)).toMatchObject({ ok: true });
    expect(w.finish().toString('hex')).toBe('07000000' + '00' + '01');
  });
});

describe('hostile input', () => {
  it('refuses deep nesting in an unknown field without recursing', () => {
    const deep = '{"zz":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}';
    expect(one(deep).r).toMatchObject({ ok: false, reason: 'nested deeper than 64' });
    const deepObj = '{"zz":' + '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000) + '}';
    expect(one(deepObj).r).toMatchObject({ ok: false, reason: 'nested deeper than 64' });
    expect(one('{"zz":' + '['.repeat(60) + ']'.repeat(60) + '}').r).toMatchObject({ ok: true, unknown: ['zz'] });
  });

  it('refuses deep nesting inside a typed column (array of arrays, String holding raw JSON)', () => {
    const s = schemaOf([['a', 'Array(Array(Array(UInt8)))'], ['t', 'String']]);
    const d = new JsonDecoder(s, { layout: 'RowBinary', maxDepth: 2 });
    const w = new RowWriter();
    expect(d.decode(Buffer.from('{"a":[[[1]]]}'), w)).toMatchObject({ ok: false, reason: 'nested deeper than 2' });
    expect(d.decode(Buffer.from('{"t":[[[1]]]}'), w)).toMatchObject({ ok: false, reason: 'nested deeper than 2' });
    expect(d.decode(Buffer.from('{"t":[[1]]}'), w)).toMatchObject({ ok: true });
  });

  it('handles a million keys and huge numbers with linear work', () => {
    const keys = Array.from({ length: 1_000_000 }, (_, i) => `"k${i}":${i}`).join(',');
    const d = decoder();
    const w = new RowWriter();
    const r = d.decode(Buffer.from(`{${keys},"id":5}`), w);
    expect(r.ok).toBe(true);
    expect(r.unknown).toHaveLength(MAX_UNKNOWN);
    expect(r.unknown[0]).toBe('k0');
    const big = '9'.repeat(1_000_000);
    expect(d.decode(Buffer.from(`{"id":${big}}`), w)).toMatchObject({ ok: false, reason: expect.stringMatching(/out of range/) });
    expect(d.decode(Buffer.from(`{"id":"${big}"}`), w)).toMatchObject({ ok: false, reason: expect.stringMatching(/out of range/) });
    expect(d.decode(Buffer.from(`{"id":1e${big}}`), w)).toMatchObject({ ok: false, reason: expect.stringMatching(/not an integer/) });
    expect(d.decode(Buffer.from(`{"zz":0.${big}e-${big}}`), w)).toMatchObject({ ok: true });
    const f = new JsonDecoder(schemaOf([['f', 'Float64'], ['d', 'Decimal(76, 10)']]), { layout: 'RowBinary' });
    expect(f.decode(Buffer.from(`{"f":${big}}`), w)).toMatchObject({ ok: true });
    expect(f.decode(Buffer.from(`{"d":${big}}`), w)).toMatchObject({ ok: false });
    expect(f.decode(Buffer.from(`{"d":1e${big}}`), w)).toMatchObject({ ok: false });
    expect(f.decode(Buffer.from(`{"d":1e-${big}}`), w)).toMatchObject({ ok: false, reason: expect.stringMatching(/decimal places/) });
  });
});

describe('keys and fields', () => {
  it('reports unknown fields by name, and refuses them in strict mode', () => {
    expect(one('{"id":1,"extra":{"a":[1,{"b":null}]},"é\\u0301":2}').r).toEqual({ ok: true, unknown: ['extra', 'é\u0301'] });
    expect(one('{"id":1,"extra":2}', { strict: true }).r).toMatchObject({ ok: false, column: undefined, unknown: ['extra'], reason: expect.stringMatching(/"extra".*strict/) });
  });

  it('matches escaped keys by their decoded name', () => {
    expect(one('{"\\u0069d":9}').hex).toBe('09000000' + '00' + '01');
  });

  it('gives absent fields and nulls in non-Nullable columns the zero value; Nullable absent is NULL', () => {
    expect(one('{}').hex).toBe('00000000' + '00' + '01');
    expect(one('{"id":null,"s":null}').hex).toBe('00000000' + '00' + '01');
  });

  it('puts fields in column order whatever their order in the record', () => {
    expect(one('{"n":5,"s":"ab","id":258}').hex).toBe('02010000' + '026162' + '0005');
    expect(one('{"s":"ab"}').hex).toBe('00000000' + '026162' + '01');
  });

  it("with missing: 'reject', refuses a record missing a column that has no DEFAULT and is not Nullable", () => {
    expect(one('{"s":"a"}', { missing: 'reject' }).r).toMatchObject({ ok: false, column: 'id', reason: expect.stringMatching(/missing field/) });
    expect(one('{"id":null,"s":"a"}', { missing: 'reject' }).r).toMatchObject({ ok: false, column: 'id' });
    expect(one('{"id":1,"s":"a"}', { missing: 'reject' }).r).toMatchObject({ ok: true });
  });

  it('names the column and the reason of a bad value, and keeps earlier rows intact', () => {
    const d = decoder();
    const { outcomes, bytes } = decodeAll(d, ['{"id":1}', '{"id":"x"}', '{"id":2,"s":"b","n":300}', '{"id":3}']);
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, false, true]);
    expect(outcomes[1]).toMatchObject({ column: 'id', reason: '"x" is not a UInt32' });
    expect(outcomes[2]).toMatchObject({ column: 'n', reason: '300 is out of range for UInt8' });
    expect(bytes.toString('hex')).toBe('01000000' + '00' + '01' + '03000000' + '00' + '01');
  });
});

describe('RowBinaryWithDefaults', () => {
  it('prefixes each field with 0, and an absent field of a column with a DEFAULT expression is a lone 1', () => {
    const s = schemaOf([
      { name: 'id', type: 'UInt32', defaultKind: '', defaultExpression: '' },
      { name: 'a', type: 'UInt8', defaultKind: 'DEFAULT', defaultExpression: '7' },
      { name: 'e', type: "Enum8('z' = 5, 'y' = 3)", defaultKind: '', defaultExpression: '' },
    ]);
    const d = new JsonDecoder(s, { layout: 'RowBinaryWithDefaults' });
    const { bytes } = decodeAll(d, ['{"id":1}', '{"a":2,"id":1,"e":"z"}', '{"id":1,"a":null}']);
    expect(bytes.toString('hex')).toBe(
      '0001000000' + '01' + '0003' +
      '0001000000' + '0002' + '0005' +
      '0001000000' + '01' + '0003');
  });
});
