import { describe, expect, it } from 'vitest';
import { frame, readFrame } from '../../../src/formats/wire.js';

describe('Confluent wire format', () => {
  it('reads the magic byte, the big-endian id and the payload start', () => {
    const b = frame(0x01020304, Buffer.from([9, 9]));
    expect([...b]).toEqual([0, 1, 2, 3, 4, 9, 9]);
    expect(readFrame(b, 0, b.length, false)).toEqual({ schemaId: 0x01020304, indexes: [0], payloadStart: 5 });
  });

  it('reads ids above 2^31 as unsigned', () => {
    const b = frame(0xfffffffe, Buffer.alloc(0));
    expect((readFrame(b, 0, b.length, false) as { schemaId: number }).schemaId).toBe(0xfffffffe);
  });

  it('Protobuf: a single 0 byte is the first message', () => {
    const b = frame(7, Buffer.from([0x08, 0x01]), [0]);
    expect([...b]).toEqual([0, 0, 0, 0, 7, 0, 0x08, 0x01]);
    expect(readFrame(b, 0, b.length, true)).toEqual({ schemaId: 7, indexes: [0], payloadStart: 6 });
  });

  it('Protobuf: an index path is zig-zag varints after a zig-zag count', () => {
    const b = frame(7, Buffer.from([0x08]), [1, 0, 70]);
    // count 3 → 6; 1 → 2; 0 → 0; 70 → 140 = 0x8c 0x01
    expect([...b.subarray(5)]).toEqual([6, 2, 0, 0x8c, 0x01, 0x08]);
    expect(readFrame(b, 0, b.length, true)).toEqual({ schemaId: 7, indexes: [1, 0, 70], payloadStart: 10 });
  });

  it('reads a frame inside a larger buffer', () => {
    const inner = frame(5, Buffer.from('x'), [0]);
    const b = Buffer.concat([Buffer.from('abc'), inner, Buffer.from('\n')]);
    expect(readFrame(b, 3, 3 + inner.length, true)).toEqual({ schemaId: 5, indexes: [0], payloadStart: 9 });
  });

  it('refuses what is not a frame, with a reason', () => {
    expect(readFrame(Buffer.from('{"a":1}'), 0, 7, false)).toMatch(/not the Schema Registry magic byte/);
    expect(readFrame(Buffer.from([0, 0, 0]), 0, 3, false)).toMatch(/too short/);
    expect(readFrame(Buffer.from([0, 0, 0, 0, 1]), 0, 5, true)).toMatch(/truncated/);
    expect(readFrame(Buffer.from([0, 0, 0, 0, 1, 0x80]), 0, 6, true)).toMatch(/truncated/);
    expect(readFrame(Buffer.from([0, 0, 0, 0, 1, 0x90, 0x03]), 0, 7, true)).toMatch(/bad Protobuf message-index count/);
    expect(readFrame(Buffer.from([0, 0, 0, 0, 1, 1]), 0, 6, true)).toMatch(/bad Protobuf message-index count -1/);
  });
});
