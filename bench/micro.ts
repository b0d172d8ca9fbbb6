/**
 * micro — in-process timings of sluice's per-record hot path, no services.
 *
 * Contract: loads the *built* modules (dist/kafka/record.js, dist/pipeline/batcher.js,
 * dist/formats/encoder.js — what ships, not the sources) and times, on the
 * benchmark's own events (lib/dataset.ts, ~220 bytes of JSON each):
 *   compactChunk      10,000 kafkajs-like messages → ChunkRecords (one copy per chunk)
 *   Batcher.add       those 10,000 records into one partition's batcher (default limits)
 *   encode (chunks)   a 100,000-record batch of ChunkRecords from 10 chunks (the run path: slices)
 *   encode (buffers)  a 100,000-record batch of plain Buffer records (the fallback: value + '\n' each)
 *   precheck (chunks) / precheck (buffers)   every record of those batches
 * Each case is calibrated to at least --run-ms per timed run, warmed up once,
 * then timed --runs times with a GC before each run (node --expose-gc, as
 * bench/exec.sh runs it); it reports the median ns/record and MB/s (JSON
 * payload bytes, 1 MB = 10^6 B) with the fastest and slowest run, so a noisy
 * neighbour on the shared machine shows as spread instead of hiding in one
 * number. Prints a table and writes bench/results/micro-<timestamp>.json.
 *
 * Parameters (flag, else env, else default):
 *   --runs N      BENCH_MICRO_RUNS     9
 *   --run-ms MS   BENCH_MICRO_RUN_MS   300
 *   BENCH_SLUICE_DIST   <repo>/dist   which build to measure
 *
 * kafkajs-like messages: `{ offset: string, timestamp: string, key: null,
 * value: Buffer, headers: {} }` whose values are views into one large
 * Buffer with a few bytes of framing between them, the way kafkajs decodes
 * a fetch response; compactChunk's copy cost depends on that.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createDataset } from './lib/dataset.js';
import { environment, errText, fmt, formatTable, intParam, say as sayAs, writeJson } from './lib/harness.js';

const benchDist = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(benchDist, '..', '..');
const say = (msg: string) => sayAs('micro', msg);

// The shipped modules are plain JS under dist/ (no declarations are
// emitted), so their shapes are declared here, loosely: only what is called.
interface RawMessage {
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, unknown>;
}
interface PlainRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
}
type AnyRecord = object;
interface RecordModule {
  compactChunk(messages: readonly RawMessage[]): AnyRecord[];
}
interface BatcherModule {
  Batcher: new (topic: string, partition: number, limits: { maxRows: number; maxBytes: number; maxWaitMs: number }) => {
    add(records: readonly AnyRecord[], now: number): unknown[];
  };
}
interface EncoderModule {
  encode(records: readonly AnyRecord[]): { chunks: Buffer[]; bytes: number };
  precheck(record: AnyRecord, maxRecordBytes: number): string | undefined;
}

/** sluice's defaults (README configuration table). */
const LIMITS = { maxRows: 100_000, maxBytes: 8 * 1024 * 1024, maxWaitMs: 1000 };
const MAX_RECORD_BYTES = 1024 * 1024;
const CHUNK_RECORDS = 10_000;
const BATCH_RECORDS = 100_000;
/** Bytes between values in the fake fetch response: record framing, roughly what a v2 record batch carries per record. */
const FRAMING_BYTES = 20;

interface Case {
  name: string;
  records: number;
  payloadBytes: number;
  op: () => unknown;
}

interface CaseResult {
  name: string;
  recordsPerOp: number;
  payloadBytesPerOp: number;
  itersPerRun: number;
  runs: number;
  nsPerRecordMedian: number;
  nsPerRecordMin: number;
  nsPerRecordMax: number;
  mbPerSMedian: number;
}

// Results land here so the optimiser cannot drop an op as dead code.
let sink: unknown;

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

/** Values of `lines` laid out in one Buffer with framing between them, and kafkajs-like messages over it. */
function fetchResponse(lines: string[], firstOffset: number): RawMessage[] {
  const total = lines.reduce((s, l) => s + l.length + FRAMING_BYTES, 0);
  const buf = Buffer.alloc(total, 0x01);
  const now = String(Date.now());
  const out: RawMessage[] = [];
  let p = 0;
  for (let i = 0; i < lines.length; i++) {
    p += FRAMING_BYTES;
    const n = buf.write(lines[i]!, p, 'latin1'); // the dataset is ASCII
    out.push({ offset: String(firstOffset + i), timestamp: now, key: null, value: buf.subarray(p, p + n), headers: {} });
    p += n;
  }
  return out;
}

const gc = (globalThis as { gc?: () => void }).gc;

function measure(c: Case, runs: number, runMs: number): CaseResult {
  // Calibrate: how many ops make one run last runMs (this also warms the JIT up).
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
  // One untimed run at the final size, then the timed ones.
  for (let i = 0; i < iters; i++) sink = c.op();
  const nsPerRecord: number[] = [];
  for (let r = 0; r < runs; r++) {
    gc?.();
    const t = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) sink = c.op();
    nsPerRecord.push(Number(process.hrtime.bigint() - t) / (iters * c.records));
  }
  nsPerRecord.sort((a, b) => a - b);
  const median = nsPerRecord[Math.floor(nsPerRecord.length / 2)]!;
  const bytesPerRecord = c.payloadBytes / c.records;
  return {
    name: c.name,
    recordsPerOp: c.records,
    payloadBytesPerOp: c.payloadBytes,
    itersPerRun: iters,
    runs,
    nsPerRecordMedian: Math.round(median * 10) / 10,
    nsPerRecordMin: Math.round(nsPerRecord[0]! * 10) / 10,
    nsPerRecordMax: Math.round(nsPerRecord[nsPerRecord.length - 1]! * 10) / 10,
    // bytes per ns = GB/s; × 1000 = MB/s.
    mbPerSMedian: Math.round((bytesPerRecord / median) * 1000),
  };
}

async function main(): Promise<void> {
  const params = readParams();
  const record = await load<RecordModule>(params.dist, 'kafka/record.js');
  const batcher = await load<BatcherModule>(params.dist, 'pipeline/batcher.js');
  const encoder = await load<EncoderModule>(params.dist, 'formats/encoder.js');
  const startedAt = new Date().toISOString();
  const env = await environment(repoRoot);

  const dataset = createDataset(BATCH_RECORDS);
  const lines = Array.from({ length: BATCH_RECORDS }, (_, i) => dataset.eventLine(i));
  // Ten fetch responses of 10,000 messages, as ten eachBatch calls would deliver them.
  const responses = Array.from({ length: BATCH_RECORDS / CHUNK_RECORDS }, (_, k) =>
    fetchResponse(lines.slice(k * CHUNK_RECORDS, (k + 1) * CHUNK_RECORDS), k * CHUNK_RECORDS));
  const payload = (msgs: readonly { value: Buffer | null }[]) => msgs.reduce((s, m) => s + (m.value?.length ?? 0), 0);
  const chunk0 = responses[0]!;
  const chunkRecords0 = record.compactChunk(chunk0);
  const chunkBatch = responses.flatMap((msgs) => record.compactChunk(msgs));
  const plainBatch: PlainRecord[] = responses.flat().map((m) => ({ offset: Number(m.offset), timestamp: Number(m.timestamp), key: null, value: m.value }));
  const batchPayload = payload(plainBatch);

  // The encoder must see the shapes it sees in production, or the bench measures the wrong path.
  const chunkBody = encoder.encode(chunkBatch);
  if (chunkBody.chunks.length !== responses.length) throw new Error(`encode(ChunkRecords) made ${chunkBody.chunks.length} slices, expected one per chunk (${responses.length})`);
  if (encoder.encode(plainBatch).chunks.length !== 2 * BATCH_RECORDS) throw new Error('encode(Buffer records) did not take the value + separator path');
  if (chunkBatch.some((r) => encoder.precheck(r, MAX_RECORD_BYTES) !== undefined)) throw new Error('precheck rejected a dataset record');

  const b = new batcher.Batcher('bench', 0, LIMITS);
  const cases: Case[] = [
    { name: 'compactChunk', records: CHUNK_RECORDS, payloadBytes: payload(chunk0), op: () => record.compactChunk(chunk0) },
    { name: 'Batcher.add', records: CHUNK_RECORDS, payloadBytes: payload(chunk0), op: () => b.add(chunkRecords0, 0) },
    { name: 'encode (chunks)', records: BATCH_RECORDS, payloadBytes: batchPayload, op: () => encoder.encode(chunkBatch) },
    { name: 'encode (buffers)', records: BATCH_RECORDS, payloadBytes: batchPayload, op: () => encoder.encode(plainBatch) },
    {
      name: 'precheck (chunks)', records: BATCH_RECORDS, payloadBytes: batchPayload,
      op: () => { let bad = 0; for (const r of chunkBatch) if (encoder.precheck(r, MAX_RECORD_BYTES)) bad++; return bad; },
    },
    {
      name: 'precheck (buffers)', records: BATCH_RECORDS, payloadBytes: batchPayload,
      op: () => { let bad = 0; for (const r of plainBatch) if (encoder.precheck(r, MAX_RECORD_BYTES)) bad++; return bad; },
    },
  ];

  if (!gc) say('no global gc() (run with node --expose-gc, as bench/exec.sh does): timed runs may carry earlier garbage');
  const results: CaseResult[] = [];
  for (const c of cases) {
    say(`${c.name} …`);
    results.push(measure(c, params.runs, params.runMs));
  }
  void sink;

  const header = ['case', 'records/op', 'ns/record', 'min', 'max', 'MB/s', 'runs x ops'];
  const rows = results.map((r) => [
    r.name, fmt(r.recordsPerOp), fmt(r.nsPerRecordMedian, 1), fmt(r.nsPerRecordMin, 1), fmt(r.nsPerRecordMax, 1), fmt(r.mbPerSMedian), `${r.runs} x ${r.itersPerRun}`,
  ]);
  process.stdout.write([
    `micro: sluice hot path, built modules from ${params.dist}; ${(batchPayload / BATCH_RECORDS).toFixed(1)} B/event; ` +
      `node ${env.node}, ${env.cpus} CPUs ${env.cpuModel ?? ''} (load ${env.loadAvgAtStart} at start), commit ${env.commit ?? '?'}`,
    formatTable(header, rows),
    `ns/record and MB/s (JSON payload, 10^6 B) are medians of ${params.runs} timed runs of >= ${params.runMs} ms each; ` +
      'min/max = fastest/slowest run. GC runs between timed runs, not inside them; garbage an op makes is collected (and billed) within its run.',
  ].join('\n') + '\n');
  const path = writeJson(join(repoRoot, 'bench', 'results'), 'micro', startedAt, {
    benchmark: 'micro',
    startedAt,
    finishedAt: new Date().toISOString(),
    params: { runs: params.runs, runMs: params.runMs, dist: params.dist, limits: LIMITS, chunkRecords: CHUNK_RECORDS, batchRecords: BATCH_RECORDS, framingBytes: FRAMING_BYTES },
    environment: env,
    exposeGc: gc !== undefined,
    cases: results,
  });
  say(`results: ${path}`);
}

main().catch((err: unknown) => {
  say(`ERROR: ${errText(err)}`);
  process.exit(1);
});
