/**
 * fit — dead letters cut to what the dead-letter topic accepts.
 *
 * Contract (pure, no I/O):
 *  - `recordBound(m)` is an upper bound of the bytes one message takes in a
 *    Kafka v2 record batch (uncompressed — the dead-letter producer does not
 *    compress): its key, value and headers plus the largest varints the
 *    format can spend on them. A batch adds BATCH_OVERHEAD_BYTES.
 *  - `packLetters(messages, limit)` splits messages, in order, into produce
 *    requests whose batch bound stays within `limit` (the topic's
 *    max.message.bytes), so a batch of letters is never refused as too large
 *    because of its neighbours.
 *  - `fitLetter(m, limit)` returns `m` if it fits alone; otherwise a copy
 *    whose value (then the record's own headers, then the key) is cut so it
 *    fits, marked with `sluice.truncated` (what was cut) and
 *    `sluice.original.bytes` (key + value + headers before the cut). The
 *    `sluice.*` headers always stay: the source topic, partition and offset
 *    say where the whole record can still be read while the source retains
 *    it. Nothing is ever silently dropped.
 *
 * Why bounds and not exact sizes: the broker checks the batch it receives,
 * and an over-estimate costs at most a few bytes of a produce request, while
 * an under-estimate stalls a partition (the bug this module exists for).
 */
import type { IHeaders, Message } from 'kafkajs';

/** Record batch header of the v2 format (magic 2), fixed size. */
export const BATCH_OVERHEAD_BYTES = 61;
/** Per record: length, attributes, timestamp and offset deltas, key and value lengths, header count — each at its largest varint. */
const RECORD_FIXED_BYTES = 5 + 1 + 10 + 5 + 5 + 5 + 5;
/** Per header: key and value length varints. */
const HEADER_FIXED_BYTES = 5 + 5;

export const TRUNCATED_HEADER = 'sluice.truncated';
export const ORIGINAL_BYTES_HEADER = 'sluice.original.bytes';

function byteLength(v: Buffer | string | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

function headerBytes(headers: IHeaders | undefined): number {
  let n = 0;
  for (const [k, v] of Object.entries(headers ?? {})) {
    for (const one of Array.isArray(v) ? v : [v]) n += HEADER_FIXED_BYTES + Buffer.byteLength(k) + byteLength(one as Buffer | string | undefined);
  }
  return n;
}

export function recordBound(m: Message): number {
  return RECORD_FIXED_BYTES + byteLength(m.key) + byteLength(m.value) + headerBytes(m.headers);
}

/** Consecutive runs of messages, each run's batch bound within `limit`; a message too big alone is its own run (fitLetter first). */
export function packLetters(messages: readonly Message[], limit: number): Message[][] {
  const runs: Message[][] = [];
  let run: Message[] = [];
  let size = BATCH_OVERHEAD_BYTES;
  for (const m of messages) {
    const b = recordBound(m);
    if (run.length > 0 && size + b > limit) {
      runs.push(run);
      run = [];
      size = BATCH_OVERHEAD_BYTES;
    }
    run.push(m);
    size += b;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

function toBuffer(v: Buffer | string | null | undefined): Buffer | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? Buffer.from(v) : v;
}

/** `m` itself when it fits alone in a batch of `limit` bytes, else a marked, cut copy that does. */
export function fitLetter(m: Message, limit: number): Message {
  const budget = limit - BATCH_OVERHEAD_BYTES;
  if (recordBound(m) <= budget) return m;
  const sluice: IHeaders = {};
  const own: IHeaders = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) (k.startsWith('sluice.') ? sluice : own)[k] = v;
  const key = toBuffer(m.key);
  const value = toBuffer(m.value);
  const original = byteLength(key) + byteLength(value) + headerBytes(own);
  const cut: string[] = [];
  const markers = (): IHeaders => ({ [TRUNCATED_HEADER]: cut.join(','), [ORIGINAL_BYTES_HEADER]: String(original) });
  // Room left for the value once the rest is counted (markers at their longest).
  cut.push('value', 'headers', 'key');
  const markerBytes = headerBytes(markers());
  cut.length = 0;
  const fixed = RECORD_FIXED_BYTES + headerBytes(sluice) + markerBytes;
  let keptOwn = own;
  let keptKey = key;
  let room = budget - fixed - byteLength(keptKey) - headerBytes(keptOwn);
  if (room < 0) {
    // The record's own headers are what made it too big: drop them.
    keptOwn = {};
    cut.push('headers');
    room = budget - fixed - byteLength(keptKey);
  }
  if (room < 0 && keptKey) {
    keptKey = keptKey.subarray(0, Math.max(0, budget - fixed));
    cut.push('key');
    room = budget - fixed - keptKey.length;
  }
  let keptValue = value;
  if (value && value.length > Math.max(0, room)) {
    keptValue = value.subarray(0, Math.max(0, room));
    cut.unshift('value');
  }
  return { ...m, key: keptKey, value: keptValue, headers: { ...keptOwn, ...sluice, ...markers() } };
}
