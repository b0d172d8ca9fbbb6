/**
 * wire — the Confluent Schema Registry wire format: the few bytes in front
 * of every Avro, Protobuf or JSON Schema payload written through a registry.
 *
 * Contract: `readFrame(buf, start, end)` parses
 *   byte 0        magic 0
 *   bytes 1..4    the schema id, big-endian unsigned
 *   (Protobuf)    the message-index list: a zig-zag varint count, then that
 *                 many zig-zag varint indexes (the path to the message type
 *                 in the schema's file: top-level index, then nested); a
 *                 single 0 byte is the shorthand for [0], the first message
 *   then          the payload, to `end`
 * and returns the id, the indexes and where the payload starts, or a reason
 * (never throws): a record without the frame is a bad record, not a crash.
 * `frame()` writes the same bytes (producers in the tests and the bench,
 * and anyone who wants real Confluent frames from Node).
 * https://docs.confluent.io/platform/current/schema-registry/fundamentals/serdes-develop/index.html#wire-format
 */

export const MAGIC = 0;

export interface Frame {
  readonly schemaId: number;
  /** Protobuf only: the message-index path ([0] for the first message). */
  readonly indexes: readonly number[];
  readonly payloadStart: number;
}

/** The shorthand [0] is by far the most common list: shared, not allocated per record. */
const FIRST: readonly number[] = Object.freeze([0]);

/** Enough for any real schema; a hostile count must not allocate a huge array. */
const MAX_INDEXES = 64;

export function readFrame(buf: Uint8Array, start: number, end: number, protobuf: boolean): Frame | string {
  if (end - start < 5) return `${end - start} bytes is too short for a Schema Registry frame (magic byte 0 and a 4-byte schema id)`;
  if (buf[start] !== MAGIC) return `first byte is ${buf[start]}, not the Schema Registry magic byte 0`;
  const schemaId = ((buf[start + 1]! << 24) >>> 0) + (buf[start + 2]! << 16) + (buf[start + 3]! << 8) + buf[start + 4]!;
  let pos = start + 5;
  if (!protobuf) return { schemaId, indexes: FIRST, payloadStart: pos };
  const count = readZigZag(buf, pos, end);
  if (count === undefined) return 'truncated Protobuf message-index list';
  pos = count.next;
  if (count.value === 0) return { schemaId, indexes: FIRST, payloadStart: pos };
  if (count.value < 0 || count.value > MAX_INDEXES) return `bad Protobuf message-index count ${count.value}`;
  const indexes: number[] = [];
  for (let i = 0; i < count.value; i++) {
    const x = readZigZag(buf, pos, end);
    if (x === undefined) return 'truncated Protobuf message-index list';
    if (x.value < 0) return `bad Protobuf message index ${x.value}`;
    indexes.push(x.value);
    pos = x.next;
  }
  return { schemaId, indexes, payloadStart: pos };
}

/** A zig-zag varint of up to 32 bits. */
function readZigZag(buf: Uint8Array, pos: number, end: number): { value: number; next: number } | undefined {
  let raw = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= end) return undefined;
    const b = buf[pos++]!;
    raw += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return { value: raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2, next: pos };
  }
  return undefined;
}

function writeZigZag(n: number, out: number[]): void {
  let raw = n >= 0 ? n * 2 : -n * 2 - 1;
  while (raw >= 0x80) {
    out.push((raw % 0x80) | 0x80);
    raw = Math.floor(raw / 0x80);
  }
  out.push(raw);
}

/** The Confluent frame around `payload`; `indexes` only for Protobuf ([0] is written as the single byte 0). */
export function frame(schemaId: number, payload: Uint8Array, indexes?: readonly number[]): Buffer {
  const head = [MAGIC, (schemaId >>> 24) & 0xff, (schemaId >>> 16) & 0xff, (schemaId >>> 8) & 0xff, schemaId & 0xff];
  if (indexes) {
    if (indexes.length === 1 && indexes[0] === 0) head.push(0);
    else {
      writeZigZag(indexes.length, head);
      for (const i of indexes) writeZigZag(i, head);
    }
  }
  return Buffer.concat([Buffer.from(head), payload]);
}
