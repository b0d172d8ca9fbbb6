/**
 * headers: kafkajs' record decoder as patched by patches/kafkajs+2.2.4.patch
 * (linear header fold) returns exactly what kafkajs 2.2.4 returned, on a
 * record with 20,000 headers and on keys that name Object.prototype
 * properties; and the start-up check (src/kafka/patched.ts) passes on this
 * install and fails without the patch's marker. Correctness only: how long a
 * decode takes is bench/headers.ts's business.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { assertKafkajsPatched, decodeRecordBatch, kafkajsPatchProblem, recordBatch, type HeaderPair } from '../../../src/kafka/patched.js';

const require = createRequire(import.meta.url);

/** kafkajs 2.2.4's fold, verbatim from src/protocol/recordBatch/record/v0/decoder.js before the patch: the reference result. */
function upstreamFold(pairs: ReadonlyArray<{ key: string; value: Buffer | null }>): Record<string, unknown> {
  return pairs.reduce(
    (obj: Record<string, unknown>, { key, value }) => ({
      ...obj,
      [key]: obj[key] === undefined ? value : Array.isArray(obj[key]) ? (obj[key] as unknown[]).concat([value]) : [obj[key], value],
    }),
    {},
  );
}

/** A value as text, telling Buffers by bytes and anything else by identity with what prototype lookups can yield. */
function describeValue(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return `buffer:${v.toString('hex')}`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.map(describeValue);
  if (v === Object.prototype) return 'Object.prototype';
  if (typeof v === 'function') return `function:${v.name}`;
  return `other:${typeof v}`;
}

/** Everything observable about a headers object: prototype, own keys in order, each descriptor and value. */
function describeHeaders(h: object): unknown {
  return {
    prototypeIsObject: Object.getPrototypeOf(h) === Object.prototype,
    own: Reflect.ownKeys(h).map((k) => {
      const d = Object.getOwnPropertyDescriptor(h, k)!;
      return { key: String(k), writable: d.writable, enumerable: d.enumerable, configurable: d.configurable, value: describeValue(d.value) };
    }),
  };
}

/** 20,000 headers: distinct keys h<i>, with `rep-a` every 7th and `rep-b` every 11th, a null value and an empty one, multi-byte keys. */
function manyHeaders(n: number): HeaderPair[] {
  const out: HeaderPair[] = [];
  for (let i = 0; i < n; i++) {
    const key = i % 7 === 3 ? 'rep-a' : i % 11 === 5 ? 'rep-b' : i % 1000 === 999 ? `ключ-${i}` : `h${i}`;
    const value = i === 4 ? null : i === 12 ? Buffer.alloc(0) : Buffer.from(`v${i}`);
    out.push([key, value]);
  }
  return out;
}

describe('kafkajs record decoder (patched)', () => {
  it('decodes a record with 20,000 headers, repeated keys interleaved, to the exact headers, and the records around it', async () => {
    const headers = manyHeaders(20_000);
    const batch = recordBatch(
      [
        { key: Buffer.from('k0'), value: Buffer.from('before'), headers: [['trace', Buffer.from('t0')]] },
        { key: Buffer.from('k1'), value: Buffer.from('poison'), headers },
        { key: null, value: Buffer.from('after') },
      ],
      500,
    );
    const { records } = await decodeRecordBatch(batch);
    expect(records.map((r) => [r.offset, r.value?.toString()])).toEqual([['500', 'before'], ['501', 'poison'], ['502', 'after']]);
    expect(records[0]!.headers).toEqual({ trace: Buffer.from('t0') });
    expect(records[2]!.headers).toEqual({});

    // Expected: built here from the pairs, independently of kafkajs.
    const want = new Map<string, Array<Buffer | null>>();
    for (const [k, v] of headers) {
      if (!want.has(k)) want.set(k, []);
      want.get(k)!.push(v);
    }
    const got = records[1]!.headers;
    // The data does exercise repeats, interleaved with other keys.
    expect(want.get('rep-a')!.length).toBeGreaterThan(1000);
    expect(want.get('rep-b')!.length).toBeGreaterThan(1000);
    expect(Object.keys(got)).toEqual([...want.keys()]);
    for (const [k, values] of want) {
      const g = got[k];
      if (values.length === 1) {
        expect(g, k).toEqual(values[0]);
      } else {
        expect(Array.isArray(g), k).toBe(true);
        expect(g, k).toEqual(values);
      }
    }
    expect(got.h4).toBeNull();
    expect(Buffer.isBuffer(got.h12) && got.h12.length === 0).toBe(true);
    expect(Object.values(got).every((v) => Buffer.isBuffer(v) || v === null || (Array.isArray(v) && v.every((x) => Buffer.isBuffer(x) || x === null)))).toBe(true);
  });

  it('folds exactly as kafkajs 2.2.4 did, keys named after Object.prototype properties and integer-like keys included', async () => {
    const b = (s: string) => Buffer.from(s);
    const pairs: HeaderPair[] = [
      ['a', b('1')], ['__proto__', b('p1')], ['constructor', b('c1')], ['10', b('ten')], ['toString', b('s1')], ['2', b('two')],
      ['a', b('2')], ['__proto__', b('p2')], ['toString', b('s2')], ['hasOwnProperty', null], ['a', null], ['empty', Buffer.alloc(0)],
      ['valueOf', b('v')], ['10', b('ten2')], ['a', b('4')],
    ];
    const { records } = await decodeRecordBatch(recordBatch([{ value: b('x'), headers: pairs }]));
    const got = records[0]!.headers;
    expect(describeHeaders(got)).toEqual(describeHeaders(upstreamFold(pairs.map(([key, value]) => ({ key, value })))));
    // What that means, spelled out: a key whose name Object.prototype has starts with the inherited value.
    expect(describeValue(got.constructor)).toEqual(['function:Object', 'buffer:6331']);
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
    expect(describeValue(Object.getOwnPropertyDescriptor(got, '__proto__')!.value)).toEqual(['Object.prototype', 'buffer:7031', 'buffer:7032']);
    expect(Object.keys(got).slice(0, 2)).toEqual(['2', '10']);
  });
});

describe('start-up check (src/kafka/patched.ts)', () => {
  it('passes on this install', async () => {
    expect(await kafkajsPatchProblem()).toBeUndefined();
    await expect(assertKafkajsPatched()).resolves.toBeUndefined();
  });

  it.each([
    'kafkajs/src/protocol/recordBatch/record/v0/decoder',
    'kafkajs/src/protocol/requests/fetch/v4/decodeMessages',
    'kafkajs/src/producer/groupMessagesPerPartition',
  ])('refuses %s without the patch marker, with one line naming the patch, the module and the fix', async (module) => {
    const exports = require(module) as Record<string, unknown>;
    const marker = exports.patchedBySluice;
    expect(marker).toBe(1);
    delete exports.patchedBySluice;
    try {
      const problem = await kafkajsPatchProblem();
      expect(problem).toMatch(/^kafkajs 2\.2\.4 is not patched \(patches\/kafkajs\+2\.2\.4\.patch; .*\).*npm ci/);
      expect(problem).toContain(module);
      expect(problem).not.toContain('\n');
      await expect(assertKafkajsPatched()).rejects.toMatchObject({ name: 'SluiceError', kind: 'config', message: problem });
    } finally {
      exports.patchedBySluice = marker;
    }
    expect(await kafkajsPatchProblem()).toBeUndefined();
  });
});
