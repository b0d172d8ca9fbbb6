/**
 * headers — how long kafkajs takes to decode records of unusual shapes: many
 * headers, large keys and values, many records per batch. No services.
 *
 * Contract: builds uncompressed v2 record batches with the built
 * dist/kafka/patched.js (`recordBatch`) and decodes them with kafkajs' own
 * RecordBatch decoder (`decodeRecordBatch`), the code a fetch runs for each
 * batch; the `fetch path` cases go through kafkajs' fetch-response records
 * decoder (decodeMessages) instead, which gathers the records of all the
 * batches of one partition. It measures whatever kafkajs is installed and says
 * whether it is patched. To measure upstream kafkajs 2.2.4, reverse the patch
 * first and re-apply it after:
 *     npx patch-package --reverse && bash bench/exec.sh headers; npx patch-package
 *
 * Cases (one record per batch unless said):
 *   headers N            one record, N headers `h<i>` (distinct keys), 4-byte values
 *   headers N, one key   one record, N headers all named `dup` (one array of N)
 *   1 MiB value, 1 hdr / ~1 MiB of tiny headers (100,000 headers)
 *   value / key of S MiB, no headers
 *   10,000 records x 3 headers   the common shape: a few small headers each
 *   R records/batch      R records of 16-byte values, no headers, one batch
 *   fetch path R         the same batch through decodeMessages
 * Each case is timed until --runs timed runs are done or --budget-s has
 * passed, at least once; a first run under 1 s is a warm-up and not counted.
 * GC runs between runs (node --expose-gc, as bench/exec.sh runs it). Reports
 * the median ms per decode and per-unit cost (ns per header, per byte, per
 * record) with the fastest and slowest run; a case that throws reports the
 * error instead. Prints a table and writes bench/results/headers-<ts>.json.
 *
 * Parameters (flag, else env, else default):
 *   --headers N,N,…   BENCH_HEADERS_COUNTS     5000,10000,20000,50000
 *   --records R,R,…   BENCH_HEADERS_RECORDS    10000,100000,200000
 *   --runs N          BENCH_HEADERS_RUNS       5
 *   --budget-s S      BENCH_HEADERS_BUDGET_S   10
 *   --groups G,G,…    BENCH_HEADERS_GROUPS     headers,mib,sizes,records
 *       headers = the header-count cases, mib = the two ~1 MiB records,
 *       sizes = large values and keys, records = records per batch and fetch path
 *       (upstream kafkajs needs about half an hour for the 100,000 headers of mib)
 *   BENCH_SLUICE_DIST  <repo>/dist   which build's patched.js to load
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { environment, errText, fmt, formatTable, intListParam, intParam, say as sayAs, writeJson } from './lib/harness.js';

const benchDist = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(benchDist, '..', '..');
const say = (msg: string) => sayAs('headers', msg);
const require = createRequire(import.meta.url);

type HeaderPair = readonly [string, Buffer | null];
interface BatchRecord {
  key?: Buffer | null;
  value: Buffer | null;
  headers?: readonly HeaderPair[];
}
interface DecodedBatch {
  records: ReadonlyArray<{ headers: Record<string, unknown>; value: Buffer | null }>;
}
interface PatchedModule {
  recordBatch(records: readonly BatchRecord[], firstOffset?: number, timestamp?: number): Buffer;
  decodeRecordBatch(batch: Buffer): Promise<DecodedBatch>;
  kafkajsPatchProblem(): Promise<string | undefined>;
}
type DecodeMessages = (decoder: unknown) => Promise<unknown[]>;

interface Case {
  name: string;
  /** What `perUnit` counts: headers, bytes or records. */
  unit: string;
  units: number;
  /** One decode; returns what it checked so the work cannot be dropped. */
  op: () => Promise<unknown>;
}

interface CaseResult {
  name: string;
  unit: string;
  units: number;
  runs: number;
  msMedian?: number;
  msMin?: number;
  msMax?: number;
  nsPerUnit?: number;
  error?: string;
}

const MiB = 2 ** 20;
const GROUPS = ['headers', 'mib', 'sizes', 'records'];
const gc = (globalThis as { gc?: () => void }).gc;

function readParams() {
  const { values } = parseArgs({
    options: { headers: { type: 'string' }, records: { type: 'string' }, runs: { type: 'string' }, 'budget-s': { type: 'string' }, groups: { type: 'string' } },
  });
  const e = process.env;
  const groups = (values.groups ?? e.BENCH_HEADERS_GROUPS ?? 'headers,mib,sizes,records').split(',').map((g) => g.trim()).filter(Boolean);
  for (const g of groups) if (!GROUPS.includes(g)) throw new Error(`--groups: "${g}" is not one of ${GROUPS.join(', ')}`);
  return {
    headers: intListParam('headers (BENCH_HEADERS_COUNTS)', values.headers ?? e.BENCH_HEADERS_COUNTS, [5000, 10_000, 20_000, 50_000]),
    records: intListParam('records (BENCH_HEADERS_RECORDS)', values.records ?? e.BENCH_HEADERS_RECORDS, [10_000, 100_000, 200_000]),
    runs: intParam('runs (BENCH_HEADERS_RUNS)', values.runs ?? e.BENCH_HEADERS_RUNS, 5),
    budgetS: intParam('budget-s (BENCH_HEADERS_BUDGET_S)', values['budget-s'] ?? e.BENCH_HEADERS_BUDGET_S, 10),
    groups,
    dist: resolve(e.BENCH_SLUICE_DIST || join(repoRoot, 'dist')),
  };
}

async function measure(c: Case, runs: number, budgetS: number): Promise<CaseResult> {
  const ms: number[] = [];
  const started = performance.now();
  try {
    for (let i = 0; ms.length < runs; i++) {
      gc?.();
      const t = performance.now();
      await c.op();
      const took = performance.now() - t;
      if (!(i === 0 && took < 1000)) ms.push(took);
      if (ms.length > 0 && performance.now() - started > budgetS * 1000) break;
    }
  } catch (err) {
    return { name: c.name, unit: c.unit, units: c.units, runs: ms.length, error: errText(err).split('\n')[0]! };
  }
  ms.sort((a, b) => a - b);
  const median = ms[Math.floor(ms.length / 2)]!;
  const r2 = (n: number) => Math.round(n * 100) / 100;
  return { name: c.name, unit: c.unit, units: c.units, runs: ms.length, msMedian: r2(median), msMin: r2(ms[0]!), msMax: r2(ms.at(-1)!), nsPerUnit: r2((median * 1e6) / c.units) };
}

async function main(): Promise<void> {
  const params = readParams();
  const path = join(params.dist, 'kafka', 'patched.js');
  if (!existsSync(path)) throw new Error(`${path} does not exist (run npm run build)`);
  const patched = (await import(pathToFileURL(path).href)) as PatchedModule;
  const decodeMessages = require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages') as DecodeMessages;
  const Decoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => unknown;
  const problem = await patched.kafkajsPatchProblem();
  const kafkajs = problem === undefined ? 'kafkajs 2.2.4 patched' : `kafkajs NOT patched (${problem})`;
  const startedAt = new Date().toISOString();
  const env = await environment(repoRoot);

  /** A case decoding one batch and checking what came out, so a wrong decode cannot pass as fast. */
  const batchCase = (name: string, unit: string, units: number, records: BatchRecord[], check: (d: DecodedBatch) => boolean): Case => {
    const batch = patched.recordBatch(records);
    return {
      name, unit, units,
      op: async () => {
        const d = await patched.decodeRecordBatch(batch);
        if (d.records.length !== records.length || !check(d)) throw new Error(`${name}: decoded wrong`);
        return d;
      },
    };
  };
  const headerCount = (d: DecodedBatch) => Object.keys(d.records[0]!.headers).length;
  const tinyHeaders = (n: number, key: (i: number) => string): HeaderPair[] =>
    Array.from({ length: n }, (_, i) => [key(i), Buffer.from(String(i % 10_000).padStart(4, '0'))] as const);

  const cases: Case[] = [];
  if (params.groups.includes('headers')) {
    for (const n of params.headers) {
      cases.push(batchCase(`headers ${fmt(n)}`, 'header', n, [{ value: Buffer.from('{}'), headers: tinyHeaders(n, (i) => `h${i}`) }], (d) => headerCount(d) === n));
    }
    const top = Math.max(...params.headers);
    cases.push(batchCase(`headers ${fmt(top)}, one key`, 'header', top, [{ value: Buffer.from('{}'), headers: tinyHeaders(top, () => 'dup') }],
      (d) => (d.records[0]!.headers.dup as unknown[]).length === top));
  }
  if (params.groups.includes('mib')) {
    cases.push(batchCase('1 MiB value, 1 header', 'byte', MiB, [{ value: Buffer.alloc(MiB, 0x61), headers: [['h', Buffer.from('v')]] }], (d) => headerCount(d) === 1));
    // Keys h0…h99999 (2–6 bytes) and 4-byte values: ~1 MiB of header bytes.
    const tiny = tinyHeaders(100_000, (i) => `h${i}`);
    const tinyBytes = tiny.reduce((s, [k, v]) => s + k.length + v!.length + 2, 0);
    cases.push(batchCase(`${(tinyBytes / MiB).toFixed(2)} MiB of 100,000 headers`, 'byte', tinyBytes, [{ value: Buffer.from('{}'), headers: tiny }], (d) => headerCount(d) === 100_000));
  }
  if (params.groups.includes('sizes')) {
    for (const mib of [1, 4, 16]) {
      cases.push(batchCase(`value of ${mib} MiB`, 'byte', mib * MiB, [{ value: Buffer.alloc(mib * MiB, 0x61) }], (d) => d.records[0]!.value!.length === mib * MiB));
      cases.push(batchCase(`key of ${mib} MiB`, 'byte', mib * MiB, [{ key: Buffer.alloc(mib * MiB, 0x61), value: null }], () => true));
    }
  }
  if (params.groups.includes('records')) {
    // The common shape: a few small headers on every record (tracing, source, type).
    const typical: HeaderPair[] = [['trace-id', Buffer.from('4bf92f3577b34da6')], ['source', Buffer.from('checkout')], ['type', Buffer.from('click')]];
    cases.push(batchCase('10,000 records x 3 headers', 'record', 10_000, Array.from({ length: 10_000 }, (_, i) => ({ value: Buffer.from(String(i).padStart(16, '0')), headers: typical })),
      (d) => d.records.length === 10_000 && headerCount(d) === 3));
    for (const r of params.records) {
      const records = Array.from({ length: r }, (_, i) => ({ value: Buffer.from(String(i).padStart(16, '0')) }));
      cases.push(batchCase(`${fmt(r)} records/batch`, 'record', r, records, (d) => d.records.length === r));
      // decodeMessages reads: int32 size, then the batches of one partition.
      const batch = patched.recordBatch(records);
      const framed = Buffer.alloc(4 + batch.length);
      framed.writeInt32BE(batch.length, 0);
      batch.copy(framed, 4);
      cases.push({
        name: `fetch path ${fmt(r)} records`, unit: 'record', units: r,
        op: async () => {
          const out = await decodeMessages(new Decoder(framed));
          if (out.length !== r) throw new Error(`fetch path: ${out.length} of ${r} records`);
          return out;
        },
      });
    }
  }

  if (!gc) say('no global gc() (run with node --expose-gc, as bench/exec.sh does)');
  say(kafkajs);
  const results: CaseResult[] = [];
  for (const c of cases) {
    say(`${c.name} …`);
    results.push(await measure(c, params.runs, params.budgetS));
  }

  const header = ['case', 'ms/decode', 'min', 'max', 'ns/unit', 'unit', 'runs'];
  const rows = results.map((r) => (r.error !== undefined
    ? [r.name, `ERROR: ${r.error}`, '', '', '', '', String(r.runs)]
    : [r.name, fmt(r.msMedian, 2), fmt(r.msMin, 2), fmt(r.msMax, 2), fmt(r.nsPerUnit, 1), r.unit, String(r.runs)]));
  process.stdout.write([
    `headers: kafkajs record decoding; ${kafkajs}; node ${env.node}, ${env.cpus} CPUs ${env.cpuModel ?? ''} (load ${env.loadAvgAtStart} at start), commit ${env.commit ?? '?'}`,
    formatTable(header, rows),
    'ms/decode: median wall time of one batch decode (one record unless the case says records); ns/unit = median / units.',
  ].join('\n') + '\n');
  const out = writeJson(join(repoRoot, 'bench', 'results'), 'headers', startedAt, {
    benchmark: 'headers', startedAt, finishedAt: new Date().toISOString(), kafkajs, params, environment: env, exposeGc: gc !== undefined, cases: results,
  });
  say(`results: ${out}`);
}

main().catch((err: unknown) => {
  say(`ERROR: ${errText(err)}`);
  process.exit(1);
});
