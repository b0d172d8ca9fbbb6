/**
 * micro-typed — in-process timings of the typed-row hot path (issue 10),
 * no services: JSON record bytes → one RowBinary row, per record.
 *
 * Contract: loads the *built* modules (dist/formats/json.js, decoder.js,
 * row-writer.js) and times, on the benchmark's own events (lib/dataset.ts,
 * ~220 bytes, 11 columns), over a 100,000-record batch whose values are
 * views into ten large chunks (as ChunkRecords hold them):
 *   JSON.parse                 utf8 decode + JSON.parse of each value: the floor
 *                              of any decoder built on JSON.parse
 *   JSON.parse + RowBinary     that plus a hand-written RowBinary write of the
 *                              11 fields (what DESIGN.md's 1.3 µs/row measured)
 *   typed decode               JsonDecoder.decode: one pass over the bytes,
 *                              strings copied raw, numbers and dates in place
 *   typed decode, keys shuffled  the same records with keys in reverse order
 *                              (the row is put in column order with one copy)
 *   typed decode, WithDefaults the RowBinaryWithDefaults layout
 *   typed batch                typedEncoder.encode over ChunkRecords (compactChunk,
 *                              each with a 9-byte key, no headers): what the
 *                              worker runs per batch, fresh buffer included
 *   typed batch + metadata     the same table plus six Kafka metadata columns
 *                              (_topic, _partition, _offset, _timestamp
 *                              DateTime64(3), _key Nullable(String), _headers
 *                              Map(String, String)) filled from each record
 *   metadata columns alone     just those six columns' writes, per record
 * Same measuring rules as micro.ts: each case calibrated to >= --run-ms per
 * timed run, warmed up, then --runs timed runs with a GC before each
 * (node --expose-gc, as bench/exec.sh runs it); median ns/record with the
 * fastest and slowest run, plus the process's CPU time per record (user +
 * system, median): on a shared 2-core machine wall time also counts the
 * time others held the CPU. Before timing, every case's output is checked:
 * the typed rows must equal the hand-written rows byte for byte.
 * Prints a table and writes bench/results/micro-typed-<timestamp>.json.
 *
 * Parameters (flag, else env, else default):
 *   --runs N      BENCH_MICRO_RUNS     9
 *   --run-ms MS   BENCH_MICRO_RUN_MS   300
 *   BENCH_SLUICE_DIST   <repo>/dist   which build to measure
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { COLUMNS, createDataset } from './lib/dataset.js';
import { environment, errText, fmt, formatTable, intParam, say as sayAs, writeJson } from './lib/harness.js';

const benchDist = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(benchDist, '..', '..');
const say = (msg: string) => sayAs('micro-typed', msg);

// The shipped modules are plain JS (no declarations): their shapes, loosely.
interface Writer {
  buf: Buffer;
  pos: number;
  u8(v: number): void;
  u16(v: number): void;
  u32(v: number): void;
  i64(v: number): void;
  f32(v: number): void;
  f64(v: number): void;
  varuint(v: number): void;
  ensure(n: number): void;
  finish(): Buffer;
}
interface Outcome { ok: boolean; reason?: string }
interface Decoder { decode(value: Uint8Array, out: Writer, start?: number, end?: number): Outcome }
type Layout = 'RowBinary' | 'RowBinaryWithDefaults';
interface JsonModule { JsonDecoder: new (schema: unknown, opts: { layout: Layout }) => Decoder }
interface DecoderModule { tableSchema(info: unknown): unknown }
interface RowWriterModule { RowWriter: new (capacity?: number) => Writer }
interface Encoded { rows: unknown[]; invalid: unknown[]; bytes: number; body(from: number, to: number): Buffer[] }
interface BatchModule { typedEncoder(table: string, decoder: Decoder, version: number, metadata?: unknown): { encode(records: unknown[], origin: unknown): Encoded } }
interface MetadataModule {
  bindMetadata(schema: unknown, columns: unknown, withDefaults: boolean): { payload: unknown; metadata: unknown };
  parseMetadataColumns(text: string): unknown;
  DEFAULT_METADATA_COLUMNS_TEXT: string;
}
interface RecordModule { compactChunk(messages: Array<{ offset: string; timestamp: string; key: Buffer | null; value: Buffer | null }>): unknown[] }

const BATCH_RECORDS = 100_000;
const CHUNKS = 10;

interface Case { name: string; op: () => unknown }
interface CaseResult {
  name: string;
  nsPerRecordMedian: number;
  nsPerRecordMin: number;
  nsPerRecordMax: number;
  /** CPU time (user + system) of this process per record: less moved by other load on a shared machine than wall time. */
  cpuNsPerRecordMedian: number;
  mbPerSMedian: number;
  itersPerRun: number;
  runs: number;
}

let sink: unknown;
const gc = (globalThis as { gc?: () => void }).gc;

function readParams(): { runs: number; runMs: number; dist: string } {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, 'run-ms': { type: 'string' } } });
  const e = process.env;
  return {
    runs: intParam('runs (BENCH_MICRO_RUNS)', values.runs ?? e.BENCH_MICRO_RUNS, 9),
    runMs: intParam('run-ms (BENCH_MICRO_RUN_MS)', values['run-ms'] ?? e.BENCH_MICRO_RUN_MS, 300),
    dist: resolve(e.BENCH_SLUICE_DIST || join(repoRoot, 'dist')),
  };
}

async function load<T>(dist: string, file: string): Promise<T> {
  const path = join(dist, file);
  if (!existsSync(path)) throw new Error(`${path} does not exist (run npm run build)`);
  return (await import(pathToFileURL(path).href)) as T;
}

function measure(c: Case, records: number, bytesPerRecord: number, runs: number, runMs: number): CaseResult {
  let iters = 1;
  for (;;) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) sink = c.op();
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (ms >= runMs / 4) {
      iters = Math.max(1, Math.ceil((iters * runMs) / Math.max(ms, 0.001)));
      break;
    }
    iters *= 2;
  }
  for (let i = 0; i < iters; i++) sink = c.op();
  const ns: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < runs; r++) {
    gc?.();
    const c0 = process.cpuUsage();
    const t = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) sink = c.op();
    ns.push(Number(process.hrtime.bigint() - t) / (iters * records));
    const dc = process.cpuUsage(c0);
    cpu.push(((dc.user + dc.system) * 1000) / (iters * records));
  }
  ns.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const median = ns[Math.floor(ns.length / 2)]!;
  return {
    name: c.name,
    nsPerRecordMedian: Math.round(median * 10) / 10,
    nsPerRecordMin: Math.round(ns[0]! * 10) / 10,
    nsPerRecordMax: Math.round(ns[ns.length - 1]! * 10) / 10,
    cpuNsPerRecordMedian: Math.round(cpu[Math.floor(cpu.length / 2)]! * 10) / 10,
    mbPerSMedian: Math.round((bytesPerRecord / median) * 1000),
    itersPerRun: iters,
    runs,
  };
}

/** Values laid out in CHUNKS large buffers: [chunk, start, end] per record. */
function chunked(lines: string[]): Array<[Buffer, number, number]> {
  const per = Math.ceil(lines.length / CHUNKS);
  const out: Array<[Buffer, number, number]> = [];
  for (let k = 0; k < lines.length; k += per) {
    const part = lines.slice(k, k + per);
    const buf = Buffer.from(part.join(''), 'utf8');
    let p = 0;
    for (const l of part) {
      const n = Buffer.byteLength(l);
      out.push([buf, p, p + n]);
      p += n;
    }
  }
  return out;
}

interface Event { ts: string; id: number; user_id: number; event_type: string; country: string; status: number; duration_ms: number; price: number; score: number; sku: string; url: string }

/** The plain approach: JSON.parse, then each field written by hand (Date.parse for the timestamp, utf8 writes for strings). */
function parseAndWrite(w: Writer, chunk: Buffer, s: number, e: number): void {
  const o = JSON.parse(chunk.toString('utf8', s, e)) as Event;
  w.u32(Date.parse(o.ts.replace(' ', 'T') + 'Z') / 1000);
  w.i64(o.id);
  w.u32(o.user_id);
  str(w, o.event_type);
  str(w, o.country);
  w.u16(o.status);
  w.u32(o.duration_ms);
  w.f64(o.price);
  w.f32(o.score);
  str(w, o.sku);
  str(w, o.url);
}

function str(w: Writer, s: string): void {
  const n = Buffer.byteLength(s);
  w.varuint(n);
  w.ensure(n);
  w.pos += w.buf.write(s, w.pos, 'utf8');
}

async function main(): Promise<void> {
  const params = readParams();
  const json = await load<JsonModule>(params.dist, 'formats/json.js');
  const decoderMod = await load<DecoderModule>(params.dist, 'formats/decoder.js');
  const rw = await load<RowWriterModule>(params.dist, 'formats/row-writer.js');
  const batchMod = await load<BatchModule>(params.dist, 'formats/batch.js');
  const metaMod = await load<MetadataModule>(params.dist, 'formats/metadata.js');
  const recordMod = await load<RecordModule>(params.dist, 'kafka/record.js');
  const startedAt = new Date().toISOString();
  const env = await environment(repoRoot);

  const columns = COLUMNS.trim().split(/,\s*\n\s*/).map((l) => {
    const [name, ...type] = l.trim().split(/\s+/);
    return { name: name!, type: type.join(' '), defaultKind: '', defaultExpression: '' };
  });
  const schema = decoderMod.tableSchema({ database: 'bench', table: 'events', columns, serverTimezone: 'UTC', serverVersion: '18.16.1' });
  const dataset = createDataset(BATCH_RECORDS);
  const lines = Array.from({ length: BATCH_RECORDS }, (_, i) => dataset.eventLine(i));
  const shuffledLines = lines.map((l) => JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(l) as object).reverse())));
  const records = chunked(lines);
  const shuffled = chunked(shuffledLines);
  const payload = lines.reduce((s, l) => s + Buffer.byteLength(l), 0);
  const bytesPerRecord = payload / BATCH_RECORDS;

  const w = new rw.RowWriter(BATCH_RECORDS * 128);
  const rowBinary = new json.JsonDecoder(schema, { layout: 'RowBinary' });
  const withDefaults = new json.JsonDecoder(schema, { layout: 'RowBinaryWithDefaults' });
  const decodeAll = (d: Decoder, recs: Array<[Buffer, number, number]>) => () => {
    w.pos = 0;
    let bad = 0;
    for (const [chunk, s, e] of recs) if (!d.decode(chunk, w, s, e).ok) bad++;
    return bad;
  };
  // The worker's path: ChunkRecords through a table encoder, without and with metadata columns.
  const metaColumns = [...columns, ...['_topic String', '_partition Int32', '_offset UInt64', '_timestamp DateTime64(3)', '_key Nullable(String)', '_headers Map(String, String)']
    .map((l) => ({ name: l.slice(0, l.indexOf(' ')), type: l.slice(l.indexOf(' ') + 1), defaultKind: '', defaultExpression: '' }))];
  const metaSchema = decoderMod.tableSchema({ database: 'bench', table: 'events_meta', columns: metaColumns, serverTimezone: 'UTC', serverVersion: '26.1.1' });
  const bound = metaMod.bindMetadata(metaSchema, metaMod.parseMetadataColumns(metaMod.DEFAULT_METADATA_COLUMNS_TEXT), false);
  const plainEncoder = batchMod.typedEncoder('events', rowBinary, 1);
  const metaEncoder = batchMod.typedEncoder('events_meta', new json.JsonDecoder(bound.payload, { layout: 'RowBinary' }), 1, bound.metadata);
  const per = BATCH_RECORDS / CHUNKS;
  const chunkRecords: unknown[] = [];
  for (let k = 0; k < BATCH_RECORDS; k += per) {
    chunkRecords.push(...recordMod.compactChunk(lines.slice(k, k + per).map((l, j) => ({
      offset: String(1_000_000 + k + j), timestamp: String(1_764_300_000_000 + k + j), key: Buffer.from(`user-${(k + j) % 9999}`.padEnd(9, '0')), value: Buffer.from(l),
    }))));
  }
  const origin = { topic: 'events', partition: 3 };
  const metaWriter = bound.metadata as { write(out: Writer, origin: unknown, record: unknown): string | undefined };
  const encodeAll = (enc: ReturnType<BatchModule['typedEncoder']>) => () => {
    const b = enc.encode(chunkRecords, origin);
    if (b.invalid.length > 0) throw new Error(`${b.invalid.length} records refused`);
    return b.bytes;
  };

  const cases: Case[] = [
    { name: 'JSON.parse', op: () => { let n = 0; for (const [c, s, e] of records) n += (JSON.parse(c.toString('utf8', s, e)) as Event).id; return n; } },
    { name: 'JSON.parse + RowBinary', op: () => { w.pos = 0; for (const [c, s, e] of records) parseAndWrite(w, c, s, e); return w.pos; } },
    { name: 'typed decode', op: decodeAll(rowBinary, records) },
    { name: 'typed decode, keys shuffled', op: decodeAll(rowBinary, shuffled) },
    { name: 'typed decode, WithDefaults', op: decodeAll(withDefaults, records) },
    { name: 'typed batch', op: encodeAll(plainEncoder) },
    { name: 'typed batch + metadata', op: encodeAll(metaEncoder) },
    { name: 'metadata columns alone', op: () => { w.pos = 0; for (const r of chunkRecords) metaWriter.write(w, origin, r); return w.pos; } },
  ];

  // Same bytes from every path, or the timings compare different work.
  const rowsOf = (op: () => unknown) => { const bad = op(); if (bad) throw new Error(`${bad} records refused`); return Buffer.from(w.buf.subarray(0, w.pos)); };
  const handWritten = rowsOf(() => { w.pos = 0; for (const [c, s, e] of records) parseAndWrite(w, c, s, e); return 0; });
  for (const c of [cases[2]!, cases[3]!]) {
    if (!rowsOf(c.op).equals(handWritten)) throw new Error(`${c.name}: rows differ from the hand-written RowBinary`);
  }
  rowsOf(cases[4]!.op);
  // The batch without metadata is the hand-written rows; with metadata, each row is that plus 6 columns.
  const plainBody = Buffer.concat(plainEncoder.encode(chunkRecords, origin).body(0, BATCH_RECORDS));
  if (!plainBody.equals(handWritten)) throw new Error('typed batch: rows differ from the hand-written RowBinary');
  const metaBytes = metaEncoder.encode(chunkRecords, origin).bytes;
  // _topic 7, _partition 4, _offset 8, _timestamp 8, _key 1 + 1 + 9, _headers 1 (empty map).
  if (metaBytes !== plainBody.length + BATCH_RECORDS * 39) throw new Error(`typed batch + metadata: ${metaBytes} bytes, expected ${plainBody.length + BATCH_RECORDS * 39}`);

  if (!gc) say('no global gc() (run with node --expose-gc, as bench/exec.sh does)');
  const results: CaseResult[] = [];
  for (const c of cases) {
    say(`${c.name} …`);
    results.push(measure(c, BATCH_RECORDS, bytesPerRecord, params.runs, params.runMs));
  }
  void sink;
  const base = results[1]!.nsPerRecordMedian;
  const header = ['case', 'ns/record', 'min', 'max', 'CPU ns/record', 'x parse+write', 'MB/s', 'runs x ops'];
  const rows = results.map((r) => [
    r.name, fmt(r.nsPerRecordMedian, 1), fmt(r.nsPerRecordMin, 1), fmt(r.nsPerRecordMax, 1), fmt(r.cpuNsPerRecordMedian, 1),
    fmt(r.nsPerRecordMedian / base, 2), fmt(r.mbPerSMedian), `${r.runs} x ${r.itersPerRun}`,
  ]);
  process.stdout.write([
    `micro-typed: typed-row hot path, built modules from ${params.dist}; ${BATCH_RECORDS} events of ${bytesPerRecord.toFixed(1)} B, ${columns.length} columns; ` +
      `node ${env.node}, ${env.cpus} CPUs ${env.cpuModel ?? ''} (load ${env.loadAvgAtStart} at start), commit ${env.commit ?? '?'}`,
    formatTable(header, rows),
    `medians of ${params.runs} timed runs of >= ${params.runMs} ms each; min/max = fastest/slowest run; GC between runs. ` +
      'CPU ns/record: this process\'s user+system time (counts GC threads too), less moved by a busy machine than wall time. ' +
      'x parse+write: median over the JSON.parse + RowBinary median of this run.',
  ].join('\n') + '\n');
  const path = writeJson(join(repoRoot, 'bench', 'results'), 'micro-typed', startedAt, {
    benchmark: 'micro-typed', startedAt, finishedAt: new Date().toISOString(),
    params: { runs: params.runs, runMs: params.runMs, dist: params.dist, batchRecords: BATCH_RECORDS, chunks: CHUNKS },
    environment: env, exposeGc: gc !== undefined, cases: results,
  });
  say(`results: ${path}`);
}

main().catch((err: unknown) => {
  say(`ERROR: ${errText(err)}`);
  process.exit(1);
});
