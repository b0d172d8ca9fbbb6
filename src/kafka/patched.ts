/**
 * patched — proves at start-up that the installed kafkajs carries sluice's
 * patch (patches/kafkajs+2.2.4.patch, applied by patch-package on install).
 *
 * Why: kafkajs 2.2.4 has three costs a producer can blow up, each patched:
 *  - it folds a record's headers into an object by copying the whole object
 *    once per header, O(n²): one record with 20,000 headers blocks the event
 *    loop for over a minute, the member drops out of its group, rejoins,
 *    fetches the same record and blocks again, forever;
 *  - it gathers a fetched batch's records with `push(...records)`, which
 *    throws RangeError past ~125,000 records in one batch (a 280 KB gzip
 *    batch holds 200,000) and stops the consumer for good;
 *  - its producer groups a send's messages per partition by copying the
 *    partition's array per message, O(n²): 40,000 dead letters in one send
 *    block the event loop for 13 s.
 * An install that skipped the patch (`--ignore-scripts`, a copied
 * node_modules, a kafkajs upgrade) must not run.
 *
 * Contract:
 *  - `kafkajsPatchProblem()` resolves to undefined when the kafkajs that
 *    `import 'kafkajs'` loads is the patched 2.2.4, else to one line saying
 *    what is wrong and how to fix it. It checks the version, the marker the
 *    patch sets on each patched module (`patchedBySluice`), and then decodes
 *    a synthetic record batch with GUARD_HEADERS headers (repeated keys
 *    interleaved) through kafkajs' own fetch-path decoder and compares the
 *    result exactly. The decode runs only once the markers are there, so an
 *    unpatched kafkajs is reported without paying its quadratic decode;
 *    patched the whole check took 39–96 ms here (first call, loading
 *    kafkajs' modules included).
 *  - `assertKafkajsPatched()` throws that line as a SluiceError of kind
 *    'config' (fix the installation, restart).
 *  - `recordBatch()` encodes records (key, value, headers as ordered pairs,
 *    so a key may repeat anywhere) as one uncompressed v2 record batch, the
 *    bytes a fetch response carries; `decodeRecordBatch()` runs kafkajs' own
 *    RecordBatch decoder on them and `decodeFetchedRecords()` its fetch-path
 *    decoder (all batches of one partition). The check, the tests and
 *    bench/headers.ts share them.
 *
 * kafkajs' protocol modules are internal (no exports map forbids the deep
 * require); they are loaded with the same resolution `import 'kafkajs'` uses,
 * so the modules checked are the modules the consumer and producer run.
 */
import { createRequire } from 'node:module';
import { SluiceError } from '../errors.js';

/** The kafkajs version the patch file is made for (patch-package matches it by file name). */
export const PATCHED_KAFKAJS_VERSION = '2.2.4';
/** What the patch sets on each module it changes (`module.exports.patchedBySluice = 1`). */
const MARKER = 'patchedBySluice';
const PATCHED_MODULES = [
  'kafkajs/src/protocol/recordBatch/record/v0/decoder',
  'kafkajs/src/protocol/requests/fetch/v4/decodeMessages',
  'kafkajs/src/producer/groupMessagesPerPartition',
] as const;
/** Headers of the check's record: far past where upstream's fold would show, cheap for the linear one. */
export const GUARD_HEADERS = 3000;

export type HeaderPair = readonly [key: string, value: Buffer | null];

export interface BatchRecord {
  readonly key?: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: readonly HeaderPair[];
}

/** What kafkajs' RecordBatch decoder returns, as far as sluice reads it. */
export interface DecodedBatch {
  readonly records: ReadonlyArray<{
    readonly offset: string;
    readonly key: Buffer | null;
    readonly value: Buffer | null;
    readonly headers: Record<string, unknown>;
  }>;
}

type DecodedRecord = DecodedBatch['records'][number];

interface KafkajsModules {
  readonly version: string;
  readonly Decoder: new (buffer: Buffer) => unknown;
  readonly decodeBatch: (decoder: unknown) => Promise<DecodedBatch>;
  readonly decodeMessages: (decoder: unknown) => Promise<DecodedRecord[]>;
}

const require = createRequire(import.meta.url);

function kafkajsModules(): KafkajsModules {
  return {
    version: (require('kafkajs/package.json') as { version: string }).version,
    Decoder: require('kafkajs/src/protocol/decoder') as KafkajsModules['Decoder'],
    decodeBatch: require('kafkajs/src/protocol/recordBatch/v0/decoder') as KafkajsModules['decodeBatch'],
    decodeMessages: require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages') as KafkajsModules['decodeMessages'],
  };
}

/** Decodes one record batch (as `recordBatch()` lays it out) with kafkajs' own RecordBatch decoder. */
export function decodeRecordBatch(batch: Buffer): Promise<DecodedBatch> {
  const { Decoder, decodeBatch } = kafkajsModules();
  return decodeBatch(new Decoder(batch));
}

/** Decodes record batches laid end to end as a fetch response carries one partition's records (int32 size, then the batches). */
export function decodeFetchedRecords(batches: readonly Buffer[]): Promise<DecodedRecord[]> {
  const { Decoder, decodeMessages } = kafkajsModules();
  const size = batches.reduce((s, b) => s + b.length, 0);
  const framed = Buffer.alloc(4 + size);
  framed.writeInt32BE(size, 0);
  let p = 4;
  for (const b of batches) p += b.copy(framed, p);
  return decodeMessages(new Decoder(framed));
}

export async function kafkajsPatchProblem(): Promise<string | undefined> {
  const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));
  let version: string;
  try {
    version = kafkajsModules().version;
  } catch (err) {
    return `kafkajs cannot be loaded for the patch check: ${errText(err)}`;
  }
  const patch = `patches/kafkajs+${PATCHED_KAFKAJS_VERSION}.patch`;
  const fix = 'run `npm ci` (without --ignore-scripts) so patch-package applies patches/';
  if (version !== PATCHED_KAFKAJS_VERSION) {
    return `kafkajs ${version} is installed but sluice's patch is for ${PATCHED_KAFKAJS_VERSION}: pin kafkajs ${PATCHED_KAFKAJS_VERSION} or port ${patch}`;
  }
  const unmarked = PATCHED_MODULES.filter((m) => (require(m) as Record<string, unknown>)[MARKER] !== 1);
  if (unmarked.length > 0) {
    return `kafkajs ${version} is not patched (${patch}; ${unmarked.join(', ')} unchanged): one record with many headers would block the sink for minutes; ${fix}`;
  }

  const headers = guardHeaders(GUARD_HEADERS);
  let records: DecodedRecord[];
  try {
    records = await decodeFetchedRecords([recordBatch([{ value: Buffer.from('x'), headers }])]);
  } catch (err) {
    return `kafkajs' record decoder failed on a synthetic record: ${errText(err)}; ${fix}`;
  }
  const got = records[0]?.headers;
  if (records.length !== 1 || !got || !sameHeaders(got, foldPairs(headers))) {
    return `kafkajs' patched record decoder returned wrong headers for a synthetic record; ${fix}`;
  }
  return undefined;
}

export async function assertKafkajsPatched(): Promise<void> {
  const problem = await kafkajsPatchProblem();
  if (problem !== undefined) throw new SluiceError('config', problem);
}

/** n headers: keys k0…k(n/2-1) once each, with `rep` repeated between them, so repeats interleave with other keys. */
function guardHeaders(n: number): HeaderPair[] {
  const out: HeaderPair[] = [];
  for (let i = 0; out.length < n; i++) {
    out.push([i % 2 === 0 ? 'rep' : `k${i}`, Buffer.from(String(i))]);
  }
  return out;
}

/** The documented fold: first value of a key as is, later ones make it an array, wire order. Plain keys only. */
function foldPairs(pairs: readonly HeaderPair[]): Map<string, Buffer | null | Array<Buffer | null>> {
  const out = new Map<string, Buffer | null | Array<Buffer | null>>();
  for (const [k, v] of pairs) {
    const cur = out.get(k);
    out.set(k, cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [cur, v]);
  }
  return out;
}

const sameValue = (a: unknown, b: Buffer | null) => (b === null ? a === null : Buffer.isBuffer(a) && a.equals(b));

function sameHeaders(got: Record<string, unknown>, want: Map<string, Buffer | null | Array<Buffer | null>>): boolean {
  const keys = Object.keys(got);
  if (keys.length !== want.size) return false;
  let i = 0;
  for (const [k, w] of want) {
    if (keys[i++] !== k) return false;
    const g = got[k];
    if (Array.isArray(w)) {
      if (!Array.isArray(g) || g.length !== w.length || !w.every((x, j) => sameValue(g[j], x))) return false;
    } else if (!sameValue(g, w)) return false;
  }
  return true;
}

// ---- encoding: Kafka message format v2 (KIP-98), uncompressed ---------------

/** Bytes of a zigzag varint (Kafka's signed varint). */
function varintSize(n: number): number {
  let u = n >= 0 ? n * 2 : -n * 2 - 1;
  let size = 1;
  while (u >= 0x80) {
    u = Math.floor(u / 128);
    size++;
  }
  return size;
}

class Writer {
  readonly buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.alloc(size);
  }
  varint(n: number): void {
    let u = n >= 0 ? n * 2 : -n * 2 - 1;
    while (u >= 0x80) {
      this.buf[this.pos++] = (u % 128) | 0x80;
      u = Math.floor(u / 128);
    }
    this.buf[this.pos++] = u;
  }
  bytes(b: Buffer | null): void {
    if (b === null) return this.varint(-1);
    this.varint(b.length);
    this.pos += b.copy(this.buf, this.pos);
  }
}

const bytesSize = (b: Buffer | null) => (b === null ? varintSize(-1) : varintSize(b.length) + b.length);

/** Header keys as UTF-8, computed once (a key's byte length and bytes are both needed). */
function recordBodySize(r: BatchRecord, offsetDelta: number, keys: Buffer[]): number {
  let size = 1 /* attributes */ + varintSize(0) /* timestamp delta */ + varintSize(offsetDelta) + bytesSize(r.key ?? null) + bytesSize(r.value);
  const headers = r.headers ?? [];
  size += varintSize(headers.length);
  for (let i = 0; i < headers.length; i++) size += bytesSize(keys[i]!) + bytesSize(headers[i]![1]);
  return size;
}

/**
 * One uncompressed v2 record batch starting at `firstOffset`, timestamps all
 * `timestamp`. The CRC is left 0: kafkajs does not check it and this batch
 * never goes to a broker.
 */
export function recordBatch(records: readonly BatchRecord[], firstOffset = 0, timestamp = 0): Buffer {
  const keys = records.map((r) => (r.headers ?? []).map(([k]) => Buffer.from(k, 'utf8')));
  const bodies = records.map((r, i) => recordBodySize(r, i, keys[i]!));
  const recordsSize = bodies.reduce((s, b) => s + varintSize(b) + b, 0);
  const afterLength = 4 + 1 + 4 + 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4; // epoch … record count
  const w = new Writer(8 + 4 + afterLength + recordsSize);
  w.buf.writeBigInt64BE(BigInt(firstOffset), 0);
  w.buf.writeInt32BE(afterLength + recordsSize, 8);
  let p = 12;
  p = w.buf.writeInt32BE(0, p); // partition leader epoch
  p = w.buf.writeInt8(2, p); // magic
  p = w.buf.writeUInt32BE(0, p); // crc (unchecked)
  p = w.buf.writeInt16BE(0, p); // attributes: no compression, create time
  p = w.buf.writeInt32BE(Math.max(records.length - 1, 0), p); // last offset delta
  p = w.buf.writeBigInt64BE(BigInt(timestamp), p); // first timestamp
  p = w.buf.writeBigInt64BE(BigInt(timestamp), p); // max timestamp
  p = w.buf.writeBigInt64BE(-1n, p); // producer id
  p = w.buf.writeInt16BE(-1, p); // producer epoch
  p = w.buf.writeInt32BE(-1, p); // first sequence
  p = w.buf.writeInt32BE(records.length, p);
  w.pos = p;
  records.forEach((r, i) => {
    w.varint(bodies[i]!);
    w.buf[w.pos++] = 0; // attributes
    w.varint(0); // timestamp delta
    w.varint(i); // offset delta
    w.bytes(r.key ?? null);
    w.bytes(r.value);
    const headers = r.headers ?? [];
    w.varint(headers.length);
    headers.forEach(([, v], j) => {
      w.bytes(keys[i]![j]!);
      w.bytes(v);
    });
  });
  if (w.pos !== w.buf.length) throw new Error(`recordBatch: wrote ${w.pos} bytes, sized ${w.buf.length}`);
  return w.buf;
}
