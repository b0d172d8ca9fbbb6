/**
 * record — the pipeline's record for data that came from Kafka: offsets into
 * one shared, compacted chunk instead of a Buffer object per value.
 *
 * Contract: `compactChunk` copies one fetched chunk of messages out of
 * kafkajs' fetch response into one buffer laid out `value\n value\n …`
 * (keys in a second one) and returns ChunkRecords over it; `value` and `key`
 * are views made on demand, so a buffered record costs one small object.
 *
 * Why: holding kafkajs' per-message Buffer slices keeps whole fetch
 * responses (every partition's data) alive for as long as any one record of
 * them is buffered — memory the buffer cap cannot see — and a Buffer view
 * per record costs more heap than a 200-byte event itself. One copy per
 * chunk makes the held bytes the accounted ones, and lets the encoder send
 * runs of consecutive records as one slice, without copying again.
 */
import { isUtf8 } from 'node:buffer';

/** One Kafka record as the pipeline carries it. `value` is the raw bytes, never parsed here. */
export interface SourceRecord {
  readonly offset: number;
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: Readonly<Record<string, unknown>> | undefined;
  /** Key + value + header bytes when known without touching them (ChunkRecord below). */
  readonly byteSize?: number;
}

export const NEWLINE = 0x0a;

export class ChunkRecord implements SourceRecord {
  constructor(
    readonly offset: number,
    readonly timestamp: number,
    /** Holds this record's value at [valueStart, valueEnd) followed by '\n'. */
    readonly chunk: Buffer,
    /** -1 for a record without a value (tombstone). */
    readonly valueStart: number,
    readonly valueEnd: number,
    /** Holds this record's key at [keyStart, keyEnd); -1: no key (metadata columns read it in place). */
    readonly keys: Buffer | undefined,
    readonly keyStart: number,
    readonly keyEnd: number,
    readonly headers: Readonly<Record<string, unknown>> | undefined,
    /** The whole chunk is valid UTF-8, so this value is (see compactChunk). */
    readonly utf8: boolean,
    /** Header names and values, in bytes: counted against the record limit and the buffer cap. */
    readonly headerBytes: number = 0,
  ) {}

  get value(): Buffer | null {
    return this.valueStart < 0 ? null : this.chunk.subarray(this.valueStart, this.valueEnd);
  }

  get key(): Buffer | null {
    return this.keys && this.keyStart >= 0 ? this.keys.subarray(this.keyStart, this.keyEnd) : null;
  }

  get byteSize(): number {
    return (this.valueStart < 0 ? 0 : this.valueEnd - this.valueStart) + (this.keyStart < 0 ? 0 : this.keyEnd - this.keyStart) + this.headerBytes;
  }
}

export interface RawMessage {
  readonly offset: string;
  readonly timestamp: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: Record<string, unknown>;
}

export function compactChunk(messages: readonly RawMessage[]): ChunkRecord[] {
  let valueBytes = 0;
  let keyBytes = 0;
  for (const m of messages) {
    if (m.value) valueBytes += m.value.length + 1;
    if (m.key) keyBytes += m.key.length;
  }
  // allocUnsafeSlow: not carved from the shared pool, so nothing else pins it.
  const values = Buffer.allocUnsafeSlow(valueBytes);
  const keys = keyBytes > 0 ? Buffer.allocUnsafeSlow(keyBytes) : undefined;
  // Pass 1 copies and notes where each value and key landed; pass 2 makes
  // the records once the chunk's UTF-8 verdict is known.
  const at = new Int32Array(messages.length * 4).fill(-1);
  let vp = 0;
  let kp = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.value) {
      at[4 * i] = vp;
      // TypedArray#set: a builtin, cheaper per call than Buffer#copy's JS wrapper.
      values.set(m.value, vp);
      vp += m.value.length;
      at[4 * i + 1] = vp;
      values[vp++] = NEWLINE;
    }
    if (m.key && keys) {
      at[4 * i + 2] = kp;
      keys.set(m.key, kp);
      kp += m.key.length;
      at[4 * i + 3] = kp;
    }
  }
  // One native check of the whole chunk instead of one per record: values
  // are separated by '\n', which can never sit inside a multi-byte UTF-8
  // sequence, so a valid chunk means every value in it is valid.
  const utf8 = isUtf8(values);
  const out: ChunkRecord[] = new Array(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const headers = copyHeaders(m.headers);
    out[i] = new ChunkRecord(Number(m.offset), Number(m.timestamp), values, at[4 * i]!, at[4 * i + 1]!, keys, at[4 * i + 2]!, at[4 * i + 3]!, headers, utf8, headers ? headersSize(headers) : 0);
  }
  return out;
}

// Only non-empty headers are kept (most records have none), copied so they
// do not pin the fetch response either.
function copyHeaders(h: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!h) return undefined;
  let out: Record<string, unknown> | undefined;
  for (const k in h) {
    const v = h[k];
    (out ??= {})[k] = Array.isArray(v) ? v.map(copyValue) : copyValue(v);
  }
  return out;
}

function copyValue(v: unknown): unknown {
  return Buffer.isBuffer(v) ? Buffer.from(v) : v;
}

/**
 * Bytes of header names and values. Headers are part of what a record costs
 * in memory and of what SLUICE_MAX_RECORD_BYTES limits: counting key and
 * value alone let 600 records with 900 kB of headers each sit far above the
 * buffer cap without a pause (issue #16).
 */
export function headersSize(h: Readonly<Record<string, unknown>>): number {
  let n = 0;
  for (const k in h) {
    n += Buffer.byteLength(k);
    const v = h[k];
    for (const one of Array.isArray(v) ? v : [v]) n += Buffer.isBuffer(one) ? one.length : typeof one === 'string' ? Buffer.byteLength(one) : 0;
  }
  return n;
}
