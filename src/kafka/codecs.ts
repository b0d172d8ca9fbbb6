/**
 * codecs — Snappy, LZ4 and Zstandard record batches, which kafkajs cannot
 * read on its own.
 *
 * Why: kafkajs ships gzip only. A batch compressed with any other codec —
 * by a producer (`compression.type=lz4` is common in Java and Go clients),
 * or by the broker itself when the topic's `compression.type` says so —
 * crashes the consumer with KafkaJSNotImplemented, for good: the partition
 * never moves again (measured: `LZ4 compression not implemented`,
 * consumer crash, restarting false).
 *
 * Contract: `installCodecs()` (idempotent; every Kafka client sluice makes
 * calls it) registers decompressors in kafkajs' codec table:
 *  - Snappy: raw blocks, and the xerial framing Java producers write
 *    (magic `\x82SNAPPY\0`, then 4-byte big-endian length-prefixed blocks);
 *  - LZ4: the LZ4 frame format Kafka uses since message format v1;
 *  - Zstandard: standard frames (several concatenated frames too).
 * All three are pure JavaScript (no native build, so the container image
 * and a fresh machine need nothing more). Compression is not provided:
 * sluice produces only dead letters and replays, uncompressed; asking for
 * it throws a clear error. A batch that does not decompress throws an
 * Error naming the codec.
 */
import kafkajs from 'kafkajs';
import { decompress as zstdDecompress } from 'fzstd';
import lz4 from 'lz4js';
import snappy from 'snappyjs';

const { CompressionCodecs, CompressionTypes } = kafkajs;

/** Java's SnappyOutputStream header: magic, then version and compatible-version ints. */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER = 16;

export function snappyDecompress(buf: Buffer): Buffer {
  if (buf.length >= XERIAL_HEADER && buf.subarray(0, 8).equals(XERIAL_MAGIC)) {
    const parts: Buffer[] = [];
    for (let p = XERIAL_HEADER; p < buf.length; ) {
      if (p + 4 > buf.length) throw new Error('snappy: truncated xerial block length');
      const n = buf.readUInt32BE(p);
      p += 4;
      if (p + n > buf.length) throw new Error('snappy: truncated xerial block');
      parts.push(Buffer.from(snappy.uncompress(buf.subarray(p, p + n))));
      p += n;
    }
    return Buffer.concat(parts);
  }
  return Buffer.from(snappy.uncompress(buf));
}

export function lz4Decompress(buf: Buffer): Buffer {
  const out = lz4.decompress(buf);
  return Buffer.from(out.buffer, out.byteOffset, out.length);
}

export function zstdDecompressAll(buf: Buffer): Buffer {
  const out = zstdDecompress(buf);
  return Buffer.from(out.buffer, out.byteOffset, out.length);
}

function codec(name: string, decompress: (buf: Buffer) => Buffer) {
  return () => ({
    async compress(): Promise<Buffer> {
      throw new Error(`sluice does not produce ${name}-compressed batches`);
    },
    async decompress(buf: Buffer): Promise<Buffer> {
      try {
        return decompress(buf);
      } catch (err) {
        throw new Error(`cannot decompress a ${name} record batch: ${(err as Error).message}`);
      }
    },
  });
}

let installed = false;

export function installCodecs(): void {
  if (installed) return;
  const codecs = CompressionCodecs as Record<number, unknown>;
  codecs[CompressionTypes.Snappy] = codec('Snappy', snappyDecompress);
  codecs[CompressionTypes.LZ4] = codec('LZ4', lz4Decompress);
  codecs[CompressionTypes.ZSTD] = codec('Zstandard', zstdDecompressAll);
  installed = true;
}
