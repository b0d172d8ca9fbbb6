/** The decompressors sluice adds to kafkajs (kafka/codecs.ts): formats as Kafka's Java codecs write them. */
import kafkajs from 'kafkajs';
import snappy from 'snappyjs';
import { describe, expect, it } from 'vitest';
import { installCodecs, lz4Decompress, snappyDecompress, zstdDecompressAll } from '../../../src/kafka/codecs.js';

const text = Buffer.from('sluice '.repeat(5000) + Array.from({ length: 3000 }, (_, i) => String(i * 7919)).join(','));

/** Java's SnappyOutputStream: magic, version 1, compatible 1, then length-prefixed blocks. */
function xerial(blocks: Buffer[]): Buffer {
  const head = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);
  return Buffer.concat([head, ...blocks.flatMap((b) => {
    const c = Buffer.from(snappy.compress(b));
    const n = Buffer.alloc(4);
    n.writeUInt32BE(c.length);
    return [n, c];
  })]);
}

describe('codecs', () => {
  it('snappy: raw blocks and xerial-framed streams of several blocks', () => {
    expect(snappyDecompress(Buffer.from(snappy.compress(text)))).toEqual(text);
    expect(snappyDecompress(xerial([text.subarray(0, 10_000), text.subarray(10_000), Buffer.alloc(0)]))).toEqual(text);
    const framed = xerial([text]);
    expect(() => snappyDecompress(framed.subarray(0, framed.length - 3))).toThrow(/truncated xerial block/);
  });

  it('lz4: a frame (block-independent, no content size, as Kafka writes it)', () => {
    // "hello hello hello hello!" as the reference tool writes it (`lz4 -c`).
    const frame = Buffer.from('04224d186440a70f0000006968656c6c6f20060050656c6c6f2100000000b4f0c333', 'hex');
    expect(lz4Decompress(frame).toString()).toBe('hello hello hello hello!');
  });

  it('zstd: a standard frame, and two frames back to back', () => {
    // "sluice\n" as the reference tool writes it (`zstd -c`).
    const one = Buffer.from('28b52ffd0458390000736c756963650abb5b6e3f', 'hex');
    expect(zstdDecompressAll(one).toString()).toBe('sluice\n');
    expect(zstdDecompressAll(Buffer.concat([one, one])).toString()).toBe('sluice\nsluice\n');
  });

  it('registers into kafkajs, and names the codec when a batch does not decompress', async () => {
    installCodecs();
    const codec = (kafkajs.CompressionCodecs as Record<number, () => { decompress(b: Buffer): Promise<Buffer> }>)[kafkajs.CompressionTypes.ZSTD]!();
    expect((await codec.decompress(Buffer.from('28b52ffd0458390000736c756963650abb5b6e3f', 'hex'))).toString()).toBe('sluice\n');
    await expect(codec.decompress(Buffer.from('not zstd'))).rejects.toThrow(/cannot decompress a Zstandard record batch/);
  });
});
