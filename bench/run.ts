/**
 * run — the end-to-end throughput benchmark (entry point of bench/run.sh).
 *
 * Contract: produces the dataset once to a fresh topic, then runs each
 * selected contender in turn against its own fresh table and consumer group,
 * timing from start until ClickHouse holds all N distinct ids, and prints a
 * table (plus bench/results/<timestamp>.json and latest.json). Every
 * contender ends: a per-contender timeout stops it and records "timeout".
 * A contender that cannot run records why ("not built: …",
 * "unavailable: …", "failed: …") and the others still run; figures are
 * only ever measured, never estimated. The topic and tables are dropped at
 * the end unless --keep. Exit code 0 when the benchmark itself completed,
 * whatever the contenders' statuses; 1 when it could not run at all.
 *
 * Parameters (flag, else env, else default):
 *   --rows N            BENCH_ROWS         2000000
 *   --partitions P      BENCH_PARTITIONS   8
 *   --contenders a,b    BENCH_CONTENDERS   pipe,kafka-engine,naive,sluice,sluice-json,sluice-tuned
 *                                          (,sinker when BENCH_SINKER_BIN names a binary)
 *   --timeout S         BENCH_TIMEOUT_S    600   (per contender)
 *   --keep              BENCH_KEEP=1       keep topic and tables
 *   BENCH_BROKERS (127.0.0.1:9092), BENCH_CLICKHOUSE_URL (http://127.0.0.1:8123),
 *   BENCH_SLUICE_TUNED ("SLUICE_BATCH_MAX_ROWS=…,…" replaces the tuned knobs),
 *   BENCH_SLUICE_CLI (<repo>/dist/cli/index.js: the sluice build to measure),
 *   BENCH_SINKER_BIN (a clickhouse_sinker binary: see contenders/sinker.ts).
 */
import { closeSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { chNumbers, chQuery, ident } from './lib/clickhouse.js';
import { createTableSql } from './lib/dataset.js';
import { cpuOf, gitCommit, kafkaVersion, servicePids } from './lib/harness.js';
import { createTreeSampler, type TreeSample } from './lib/proc.js';
import { produceDataset, type ProduceResult } from './generate.js';
import { createContenders, defaultContenders, sluiceTuning, type Contender, type RunContext, type Running } from './contenders/index.js';
import { printTable, writeResults, type ContenderResult, type Results } from './report.js';

const POLL_MS = 250;
/** After a contender's process exits on its own, rows it already sent may still be landing. */
const AFTER_EXIT_GRACE_MS = 15_000;
/** Longest wait for a kept table's background merges, which would eat the next contender's CPU. */
const SETTLE_MAX_MS = 60_000;

const benchDist = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(benchDist, '..', '..');

interface Params {
  rows: number;
  partitions: number;
  contenders: string[];
  timeoutS: number;
  keep: boolean;
  brokers: string;
  clickhouseUrl: string;
  sluiceTuned: Record<string, string>;
  sluiceCli: string;
}

function readParams(): Params {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string' },
      partitions: { type: 'string' },
      contenders: { type: 'string' },
      timeout: { type: 'string' },
      keep: { type: 'boolean' },
    },
  });
  const e = process.env;
  const int = (name: string, raw: string | undefined, fallback: number): number => {
    const n = raw === undefined || raw === '' ? fallback : Number(raw);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`);
    return n;
  };
  return {
    rows: int('rows (BENCH_ROWS)', values.rows ?? e.BENCH_ROWS, 2_000_000),
    partitions: int('partitions (BENCH_PARTITIONS)', values.partitions ?? e.BENCH_PARTITIONS, 8),
    contenders: (values.contenders ?? e.BENCH_CONTENDERS ?? defaultContenders().join(','))
      .split(',').map((s) => s.trim()).filter(Boolean),
    timeoutS: int('timeout (BENCH_TIMEOUT_S)', values.timeout ?? e.BENCH_TIMEOUT_S, 600),
    keep: values.keep ?? (e.BENCH_KEEP === '1' || e.BENCH_KEEP === 'true'),
    brokers: e.BENCH_BROKERS || '127.0.0.1:9092',
    clickhouseUrl: e.BENCH_CLICKHOUSE_URL || 'http://127.0.0.1:8123',
    sluiceTuned: sluiceTuning(e.BENCH_SLUICE_TUNED),
    sluiceCli: resolve(e.BENCH_SLUICE_CLI || join(repoRoot, 'dist', 'cli', 'index.js')),
  };
}

const say = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function main(): Promise<void> {
  const params = readParams();
  const all = createContenders({ sluiceTuned: params.sluiceTuned });
  const unknown = params.contenders.filter((n) => !all.some((c) => c.name === n));
  if (unknown.length > 0) throw new Error(`unknown contender(s) ${unknown.join(', ')}; known: ${all.map((c) => c.name).join(', ')}`);
  const selected = params.contenders.map((n) => all.find((c) => c.name === n)!);

  const clickhouseVersion = (await chQuery(params.clickhouseUrl, 'SELECT version()')).trim();
  // Short random run id: names stay plain identifiers and never collide with a parallel run.
  const runId = `${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${randomBytes(3).toString('hex')}`;
  const prefix = `sluice_bench_${runId}`;
  const topic = prefix;
  const resultsDir = join(repoRoot, 'bench', 'results');
  const logDir = join(resultsDir, 'logs');
  mkdirSync(logDir, { recursive: true });

  const results: Results = {
    runId,
    startedAt: new Date().toISOString(),
    params: { rows: params.rows, partitions: params.partitions, contenders: params.contenders, timeoutS: params.timeoutS, sluiceTuned: params.sluiceTuned },
    environment: environment(clickhouseVersion),
    dataset: undefined,
    contenders: [],
  };

  let current: Running | undefined;
  // Ctrl-C: stop the running contender's process group and clean up, then exit.
  const onSignal = (signal: NodeJS.Signals) => {
    say(`${signal}: stopping`);
    void (async () => {
      await current?.stop().catch(() => {});
      if (!params.keep) await cleanup(params, prefix, topic).catch(() => {});
      process.exit(130);
    })();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    say(`producing ${params.rows} events to ${topic} over ${params.partitions} partitions`);
    const dataset = await produceDataset({ brokers: params.brokers, topic, rows: params.rows, partitions: params.partitions });
    results.dataset = {
      topic,
      rows: dataset.rows,
      payloadBytes: dataset.payloadBytes,
      avgEventBytes: round(dataset.payloadBytes / dataset.rows, 1),
      produceSeconds: round(dataset.seconds, 2),
      produceRowsPerS: Math.round(dataset.rows / dataset.seconds),
      perPartition: dataset.perPartition,
    };
    say(`produced ${(dataset.payloadBytes / 1e6).toFixed(1)} MB in ${dataset.seconds.toFixed(1)} s`);

    for (const contender of selected) {
      const ctx: RunContext = {
        repoRoot,
        benchDist,
        sluiceCli: params.sluiceCli,
        brokers: params.brokers,
        clickhouseUrl: params.clickhouseUrl,
        topic,
        partitions: params.partitions,
        table: ident(`${prefix}_${contender.name.replace(/-/g, '_')}`),
        group: `${prefix}_${contender.name.replace(/-/g, '_')}`,
        logFile: join(logDir, `${runId}-${contender.name}.log`),
        stopGraceMs: 10_000,
      };
      say(`${contender.name}: ${contender.describe}`);
      const result = await runContender(contender, ctx, dataset, params, (r) => { current = r; })
        .catch((err: unknown): ContenderResult => ({ name: contender.name, describe: contender.describe, status: `failed: ${errText(err)}` }));
      await current?.stop().catch(() => {}); // no-op when it already stopped; ends it if the harness failed mid-run
      current = undefined;
      results.contenders.push(result);
      say(`${contender.name}: ${result.status}${result.rowsPerS ? ` (${result.rowsPerS} rows/s)` : ''}`);
      // The next contender must start on a quiet server: dropping the table
      // cancels its background merges; a kept table is left to finish them.
      if (params.keep) await settle(params.clickhouseUrl, ctx.table);
      else await chQuery(params.clickhouseUrl, `DROP TABLE IF EXISTS ${ctx.table}`).catch(() => {});
    }
  } finally {
    if (!params.keep) await cleanup(params, prefix, topic).catch((err) => say(`cleanup: ${errText(err)}`));
    else say(`kept topic ${topic} and tables ${prefix}_*`);
  }

  const pipe = results.contenders.find((c) => c.name === 'pipe' && c.status === 'ok');
  for (const c of results.contenders) {
    if (pipe?.rowsPerS && c.rowsPerS) c.vsPipe = round(c.rowsPerS / pipe.rowsPerS, 2);
  }
  results.finishedAt = new Date().toISOString();
  printTable(results);
  const files = writeResults(resultsDir, results);
  say(`results: ${files.join(', ')}; contender logs: ${logDir}/${runId}-*.log`);
}

async function runContender(
  contender: Contender,
  ctx: RunContext,
  dataset: ProduceResult,
  params: Params,
  setCurrent: (r: Running) => void,
): Promise<ContenderResult> {
  const base: ContenderResult = { name: contender.name, describe: contender.describe, status: 'ok' };
  const N = dataset.rows;
  await chQuery(ctx.clickhouseUrl, createTableSql(ctx.table));
  const skip = await contender.precheck(ctx).catch((err: unknown) => `failed: precheck: ${errText(err)}`);
  if (skip) return { ...base, status: skip };

  const servers = servicePids(repoRoot);
  const serverCpu0 = { clickhouse: cpuOf(servers.clickhouse), kafka: cpuOf(servers.kafka) };
  const chLogOffset = fileSize(clickhouseErrorLog());
  const t0 = performance.now();
  let running: Running;
  try {
    running = await contender.start(ctx);
  } catch (err) {
    return { ...base, status: `failed: start: ${errText(err)}` };
  }
  setCurrent(running);
  const sampler = running.pid !== undefined ? createTreeSampler(running.pid) : undefined;
  let exit: { code: number | null; signal: NodeJS.Signals | null; atMs: number } | undefined;
  void running.exited.then((e) => { exit = { ...e, atMs: performance.now() }; });

  let status = 'ok';
  let count = 0;
  let distinct = 0;
  let firstRowS: number | undefined;
  let doneMs: number | undefined;
  let sample: TreeSample | undefined;
  let pollError: string | undefined;
  const deadline = t0 + params.timeoutS * 1000;
  for (;;) {
    sample = sampler?.sample() ?? sample;
    try {
      [count] = await chNumbers(ctx.clickhouseUrl, `SELECT count() FROM ${ctx.table}`);
      pollError = undefined;
    } catch (err) {
      // A slow or busy server is not the contender's failure; keep polling until the deadline.
      pollError = errText(err);
    }
    const now = performance.now();
    if (count > 0 && firstRowS === undefined) firstRowS = (now - t0) / 1000;
    if (count >= N && pollError === undefined) {
      // count() alone would accept duplicates standing in for missing rows.
      [distinct] = await chNumbers(ctx.clickhouseUrl, `SELECT uniqExact(id) FROM ${ctx.table}`).catch(() => [0]);
      if (distinct >= N) {
        doneMs = now;
        break;
      }
    }
    if (exit && (exit.code !== 0 || now - exit.atMs > AFTER_EXIT_GRACE_MS)) {
      status = `failed: exited with ${exit.code ?? exit.signal} at ${count}/${N} rows: ${lastLines(running.tail())}`;
      break;
    }
    if (now > deadline) {
      status = `timeout: ${count}/${N} rows after ${params.timeoutS} s${pollError ? ` (last count query failed: ${pollError})` : ''}`;
      break;
    }
    await sleep(POLL_MS);
  }
  // Figures at the moment the last row was counted, before shutdown work.
  const endSample = sampler?.sample() ?? sample;
  const serverCpu1 = { clickhouse: cpuOf(servers.clickhouse), kafka: cpuOf(servers.kafka) };
  const wallS = ((doneMs ?? performance.now()) - t0) / 1000;

  await running.stop().catch((err: unknown) => say(`${contender.name}: stop: ${errText(err)}`));
  const exact = running.exactCpuS?.();
  // A second look after stopping: rows written during shutdown are duplicates worth knowing about.
  const [finalCount, finalDistinct] = await chNumbers(ctx.clickhouseUrl, `SELECT count(), uniqExact(id) FROM ${ctx.table}`);

  if (status !== 'ok' && contender.name === 'kafka-engine' && count === 0) {
    // The engine reports consumer errors only in the server log.
    const lines = newLogLines(clickhouseErrorLog(), chLogOffset, ctx.table, ctx.topic);
    if (lines) status += `; server log: ${lines}`;
  }

  const millions = N / 1e6;
  const cpuS = exact ?? endSample?.cpuS;
  const result: ContenderResult = {
    ...base,
    status,
    wallS: round(wallS, 2),
    firstRowS: firstRowS === undefined ? undefined : round(firstRowS, 2),
    rowsInTable: finalCount,
    distinctIds: finalDistinct,
    duplicates: finalCount! - finalDistinct!,
    cpuSource: running.pid === undefined ? 'inside ClickHouse (see clickhouseCpuSPerMRows)' : exact !== undefined ? 'bash times (children, exact)' : '/proc stat sample at completion',
  };
  // Per-million figures only mean something when all N rows were delivered.
  if (status === 'ok') {
    result.clickhouseCpuSPerMRows = perM(serverCpu1.clickhouse, serverCpu0.clickhouse, millions);
    result.kafkaBrokerCpuSPerMRows = perM(serverCpu1.kafka, serverCpu0.kafka, millions);
    result.rowsPerS = Math.round(N / wallS);
    result.mbPerS = round(dataset.payloadBytes / 1e6 / wallS, 1);
    if (cpuS !== undefined) result.cpuSPerMRows = round(cpuS / millions, 2);
    if (endSample) result.peakRssMiB = round(endSample.peakRssBytes / 2 ** 20, 1);
    if (endSample) result.pids = endSample.pids.length;
  }
  return result;
}

/** Waits (bounded) until the table has no merge running. */
async function settle(url: string, table: string): Promise<void> {
  const until = performance.now() + SETTLE_MAX_MS;
  while (performance.now() < until) {
    const [merges] = await chNumbers(url, `SELECT count() FROM system.merges WHERE database = currentDatabase() AND table = '${ident(table)}'`);
    if (merges === 0) return;
    await sleep(POLL_MS);
  }
}

async function cleanup(params: Params, prefix: string, topic: string): Promise<void> {
  const names = (await chQuery(params.clickhouseUrl,
    `SELECT name FROM system.tables WHERE database = currentDatabase() AND startsWith(name, '${ident(prefix)}')`))
    .split('\n').filter(Boolean);
  // Views first (they read the queue tables), then Kafka queues, then the rest.
  const rank = (n: string) => (n.endsWith('_mv') ? 0 : n.endsWith('_queue') ? 1 : 2);
  for (const name of names.sort((a, b) => rank(a) - rank(b))) {
    await chQuery(params.clickhouseUrl, `DROP TABLE IF EXISTS ${ident(name)}`);
  }
  const admin = new Kafka({ clientId: 'sluice-bench', brokers: params.brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    // The run's topic plus any a contender derived from it (sluice's <topic>.dlq).
    const topics = (await admin.listTopics()).filter((t) => t === topic || t.startsWith(`${prefix}`));
    if (topics.length > 0) await admin.deleteTopics({ topics });
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => {});
  } finally {
    await admin.disconnect();
  }
}



function perM(after: number | undefined, before: number | undefined, millions: number): number | undefined {
  return after === undefined || before === undefined ? undefined : round((after - before) / millions, 2);
}

function clickhouseErrorLog(): string {
  return join(process.env.LOCAL_SERVICES_DIR ?? join(repoRoot, '.local'), 'clickhouse', 'logs', 'error.log');
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** Lines appended to `path` since `offset` that mention any of `needles` (last few only). */
function newLogLines(path: string, offset: number, ...needles: string[]): string {
  const size = fileSize(path);
  if (size <= offset) return '';
  const length = Math.min(size - offset, 1 << 20);
  const buf = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buf, 0, length, size - length);
  } finally {
    closeSync(fd);
  }
  const lines = buf.toString().split('\n').filter((l) => needles.some((n) => l.includes(n)) || /rdkafka|Kafka/i.test(l));
  return lines.slice(-5).join(' | ');
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-5).join(' | ');
}

function environment(clickhouseVersion: string): Results['environment'] {
  const commit = gitCommit(repoRoot);
  const kafka = kafkaVersion(repoRoot);
  return { node: process.version, clickhouse: clickhouseVersion, kafka, cpus: cpus().length, cpuModel: cpus()[0]?.model, commit };
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

main().catch((err: unknown) => {
  say(`ERROR: ${errText(err)}`);
  process.exit(1);
});
