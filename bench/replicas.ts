/**
 * replicas — what running 1, 2, 3 sluice replicas in one consumer group costs
 * and gains on this machine.
 *
 * Contract: produces N events (default 2,000,000) once to a fresh topic with
 * 12 partitions (divisible by 1, 2, 3 and 4, so every replica count gets an
 * even share), then for each table engine (default plain MergeTree, then
 * ReplicatedMergeTree) and each replica count r (default 1, 2, 3) starts r
 * sluice processes together — same fresh group, same fresh table, default
 * settings, distinct metrics ports — and times from the first spawn until the
 * table holds every id. Duplicates (count() - uniqExact(id)) are what the
 * rebalances of r replicas joining re-wrote: kept by the plain table, dropped
 * by the replicated one when each re-written batch is cut where it was
 * first (issue 11). Reports rows/s, the ratio to the first run's rows/s,
 * time to the first row (start-up + group join), the replicas' summed CPU
 * per million rows, each replica's peak RSS (VmHWM) and rows inserted (its
 * own sluice_records_inserted_total, scraped once at completion), Kafka and
 * ClickHouse server CPU per million rows over the run, and duplicates (rows
 * re-written because a rebalance moved a partition before its commit).
 * Prints a table and writes bench/results/replicas-<timestamp>.json. Every
 * run's table and group are dropped after it, the topic at the end unless
 * --keep. Exit 0 when the benchmark ran, whatever the statuses; 1 when it could not.
 *
 * All replicas share the machine's cores with Kafka, ClickHouse and this
 * harness, so the ratio shows the overhead of more replicas here, not the
 * capacity that replicas on more machines would add.
 *
 * Parameters (flag, else env, else default):
 *   --rows N            BENCH_ROWS          2000000
 *   --partitions P      BENCH_PARTITIONS    12
 *   --replicas a,b,c    BENCH_REPLICAS      1,2,3
 *   --engines e,f       BENCH_ENGINES       plain,replicated (a replicated
 *                       run is reported skipped on a server without macros)
 *   --timeout S         BENCH_TIMEOUT_S     900 (per replica count)
 *   --keep              BENCH_KEEP=1        keep the topic and tables
 *   BENCH_SLUICE_ENV "SLUICE_X=v,…" (extra sluice settings; default none),
 *   BENCH_SLUICE_CLI (<repo>/dist/cli/index.js), BENCH_BROKERS, BENCH_CLICKHOUSE_URL
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { chQuery, ident } from './lib/clickhouse.js';
import { createTableSql } from './lib/dataset.js';
import { createTreeSampler } from './lib/proc.js';
import { produceDataset } from './generate.js';
import {
  MiB, cleanup, cpuOf, environment, errText, finalCounts, fmt, formatTable, intListParam, intParam, round, runId, say as sayAs,
  servicePids, commonParams, type CommonParams, waitForRows, writeJson, type Environment,
} from './lib/harness.js';
import { every, freePort, scrapeMetrics, startSluice, type SluiceProcess } from './lib/sluice.js';

const SAMPLE_MS = 250;

const benchDist = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(benchDist, '..', '..');
const say = (msg: string) => sayAs('replicas', msg);

type Engine = 'plain' | 'replicated';

interface Params extends CommonParams {
  rows: number;
  partitions: number;
  replicas: number[];
  engines: Engine[];
}

interface Run {
  /** The table's engine: MergeTree or ReplicatedMergeTree. */
  engine: Engine;
  replicas: number;
  status: string;
  wallS?: number;
  firstRowS?: number;
  rowsPerS?: number;
  mbPerS?: number;
  /** rowsPerS over the first run's rowsPerS on the same engine (1 replica by default). */
  vsFirst?: number;
  /** utime+stime of all replicas at completion, per million rows. */
  cpuSPerMRows?: number;
  /** VmHWM of each replica. */
  peakRssMiB?: number[];
  /** Each replica's sluice_records_inserted_total at completion: how the group split the work. */
  rowsInserted?: Array<number | undefined>;
  clickhouseCpuSPerMRows?: number;
  kafkaCpuSPerMRows?: number;
  rowsInTable?: number;
  duplicates?: number;
}

function readParams(): Params {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string' },
      partitions: { type: 'string' },
      replicas: { type: 'string' },
      engines: { type: 'string' },
      timeout: { type: 'string' },
      keep: { type: 'boolean' },
    },
  });
  const e = process.env;
  return {
    rows: intParam('rows (BENCH_ROWS)', values.rows ?? e.BENCH_ROWS, 2_000_000),
    partitions: intParam('partitions (BENCH_PARTITIONS)', values.partitions ?? e.BENCH_PARTITIONS, 12),
    replicas: intListParam('replicas (BENCH_REPLICAS)', values.replicas ?? e.BENCH_REPLICAS, [1, 2, 3]),
    engines: engineList(values.engines ?? e.BENCH_ENGINES),
    ...commonParams(values, e, repoRoot, 900),
  };
}

function engineList(raw: string | undefined): Engine[] {
  if (raw === undefined || raw.trim() === '') return ['plain', 'replicated'];
  const out = raw.split(',').map((v) => v.trim());
  for (const v of out) if (v !== 'plain' && v !== 'replicated') throw new Error(`engines (BENCH_ENGINES): '${v}' is neither plain nor replicated`);
  return out as Engine[];
}

async function main(): Promise<void> {
  const params = readParams();
  if (!existsSync(params.sluiceCli)) throw new Error(`${params.sluiceCli} does not exist (run npm run build)`);
  const env: Environment = await environment(repoRoot, params.clickhouseUrl);
  const id = runId();
  const prefix = `sluice_replicas_${id}`;
  const topic = ident(`${prefix}_topic`);
  const resultsDir = join(repoRoot, 'bench', 'results');
  const logDir = join(resultsDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const startedAt = new Date().toISOString();

  let current: SluiceProcess[] = [];
  const onSignal = (signal: NodeJS.Signals) => {
    say(`${signal}: stopping`);
    void (async () => {
      await Promise.all(current.map((p) => p.stop().catch(() => {})));
      if (!params.keep) await cleanup(params.clickhouseUrl, params.brokers, prefix).catch(() => {});
      process.exit(130);
    })();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const runs: Run[] = [];
  let dataset: { rows: number; payloadBytes: number; produceSeconds: number; perPartition: number[] } | undefined;
  try {
    say(`producing ${params.rows} events to ${topic} over ${params.partitions} partitions`);
    const produced = await produceDataset({ brokers: params.brokers, topic, rows: params.rows, partitions: params.partitions });
    dataset = { rows: produced.rows, payloadBytes: produced.payloadBytes, produceSeconds: round(produced.seconds, 1), perPartition: produced.perPartition };
    say(`produced ${(produced.payloadBytes / 1e6).toFixed(0)} MB in ${produced.seconds.toFixed(1)} s`);
    const macros = Number((await chQuery(params.clickhouseUrl, `SELECT count() FROM system.macros WHERE macro IN ('shard', 'replica')`)).trim());
    for (const engine of params.engines) {
      const firstOfEngine = runs.length;
      for (const r of params.replicas) {
        const run = engine === 'replicated' && macros !== 2
          ? { engine, replicas: r, status: 'skipped: the server has no {shard}/{replica} macros (scripts/services.sh restart clickhouse)' }
          : await runReplicas(engine, r, params, prefix, topic, produced.payloadBytes, logDir, id, (ps) => { current = ps; })
            .catch((err: unknown): Run => ({ engine, replicas: r, status: `failed: ${errText(err)}` }));
        current = [];
        const first = runs[firstOfEngine];
        if (first?.rowsPerS && run.rowsPerS) run.vsFirst = round(run.rowsPerS / first.rowsPerS, 2);
        runs.push(run);
        say(`${engine}, ${r} replica(s): ${run.status}${run.rowsPerS ? `, ${run.rowsPerS} rows/s` : ''}${run.duplicates !== undefined ? `, ${run.duplicates} duplicates` : ''}`);
      }
    }
  } finally {
    if (!params.keep) await cleanup(params.clickhouseUrl, params.brokers, prefix).catch((err) => say(`cleanup: ${errText(err)}`));
    else say(`kept topic ${topic} and tables ${prefix}_*`);
  }

  const firstName = runs[0] ? `x ${runs[0].replicas}r` : 'x first';
  const header = ['engine', 'replicas', 'wall s', '1st row s', 'rows/s', firstName, 'CPU s/M rows', 'peak RSS MiB each', 'rows each', 'CH CPU s/M', 'Kafka CPU s/M', 'dups', 'status'];
  const rows = runs.map((r) => [
    r.engine, String(r.replicas), fmt(r.wallS, 1), fmt(r.firstRowS, 1), fmt(r.rowsPerS), r.vsFirst === undefined ? '-' : r.vsFirst.toFixed(2),
    fmt(r.cpuSPerMRows), r.peakRssMiB?.map((v) => fmt(v, 0)).join(' / ') ?? '-',
    r.rowsInserted?.map((v) => (v === undefined ? '?' : `${(v / 1e6).toFixed(2)}M`)).join(' / ') ?? '-',
    fmt(r.clickhouseCpuSPerMRows), fmt(r.kafkaCpuSPerMRows), fmt(r.duplicates), r.status,
  ]);
  const settings = Object.keys(params.sluiceEnv).length > 0 ? Object.entries(params.sluiceEnv).map(([k, v]) => `${k}=${v}`).join(' ') : 'sluice defaults';
  process.stdout.write([
    `replicas: ${params.rows} events, ${dataset ? (dataset.payloadBytes / 1e6).toFixed(0) : '?'} MB, ${params.partitions} partitions, one group, ${settings}; ` +
      `ClickHouse ${env.clickhouse}, Kafka ${env.kafka ?? '?'}, node ${env.node}, ${env.cpus} CPUs (load ${env.loadAvgAtStart} at start)`,
    formatTable(header, rows),
    `NOTE: every replica shares the same ${env.cpus}-core machine with Kafka, ClickHouse and the harness, so this shows the ` +
      'overhead of more replicas (group joins, rebalances, more and smaller inserts), not the capacity more machines would add.',
    'wall s = first spawn to last row counted; 1st row s = start-up + group join + first insert; CPU = utime+stime summed over the replicas; ' +
      'rows each = each replica\'s sluice_records_inserted_total; dups = count() - uniqExact(id): rows re-written after a rebalance moved a partition ' +
      'before its commit and not dropped by the table (plain = MergeTree, replicated = ReplicatedMergeTree, which drops a repeated block).',
  ].join('\n') + '\n');
  const path = writeJson(resultsDir, 'replicas', startedAt, {
    benchmark: 'replicas',
    runId: id,
    startedAt,
    finishedAt: new Date().toISOString(),
    params: { rows: params.rows, partitions: params.partitions, replicas: params.replicas, engines: params.engines, timeoutS: params.timeoutS, sluiceEnv: params.sluiceEnv },
    environment: env,
    dataset,
    runs,
  });
  say(`results: ${path}; sluice logs: ${logDir}/${id}-*.log`);
}

async function runReplicas(
  engine: Engine,
  r: number,
  params: Params,
  prefix: string,
  topic: string,
  payloadBytes: number,
  logDir: string,
  id: string,
  setCurrent: (ps: SluiceProcess[]) => void,
): Promise<Run> {
  const N = params.rows;
  const name = ident(`${prefix}_${engine}_${r}r`);
  await chQuery(params.clickhouseUrl, createTableSql(name, engine));
  const ports: number[] = [];
  for (let i = 0; i < r; i++) ports.push(await freePort());

  const servers = servicePids(repoRoot);
  const serverCpu0 = { clickhouse: cpuOf(servers.clickhouse), kafka: cpuOf(servers.kafka) };
  const t0 = performance.now();
  // Spawned back to back, before anything is awaited: "start together".
  const procs = ports.map((port, i) => startSluice({
    cli: params.sluiceCli,
    cwd: repoRoot,
    logFile: join(logDir, `${id}-${engine}-${r}r-${i + 1}.log`),
    env: {
      SLUICE_KAFKA_BROKERS: params.brokers,
      SLUICE_TOPICS: topic,
      SLUICE_GROUP_ID: name,
      SLUICE_KAFKA_CLIENT_ID: `sluice-bench-${i + 1}`,
      SLUICE_CLICKHOUSE_URL: params.clickhouseUrl,
      SLUICE_TABLE: name,
      SLUICE_START_FROM: 'earliest',
      SLUICE_METRICS_PORT: String(port),
      SLUICE_LOG_LEVEL: 'warn',
      ...params.sluiceEnv,
    },
  }));
  setCurrent(procs);
  const samplers = procs.map((p) => createTreeSampler(p.pid));
  // CPU must be read while each process is alive; VmHWM is kept by the kernel anyway.
  const sampling = every(SAMPLE_MS, async () => { for (const s of samplers) s.sample(); });
  const exits: Array<number | string | undefined> = procs.map(() => undefined);
  procs.forEach((p, i) => void p.exited.then((c) => { exits[i] = c; }));

  const outcome = await waitForRows({
    url: params.clickhouseUrl,
    table: name,
    rows: N,
    deadline: t0 + params.timeoutS * 1000,
    failed: () => {
      const i = exits.findIndex((c) => c !== undefined);
      return i < 0 ? undefined : `replica ${i + 1} exited with ${exits[i]}: ${procs[i]!.tail().trim().split('\n').slice(-3).join(' | ')}`;
    },
  });
  await sampling.stop();
  const ends = samplers.map((s) => s.sample());
  const serverCpu1 = { clickhouse: cpuOf(servers.clickhouse), kafka: cpuOf(servers.kafka) };
  const inserted = await Promise.all(ports.map((port) =>
    scrapeMetrics(port).then((s) => s.total.get('sluice_records_inserted_total') ?? 0, () => undefined)));
  await Promise.all(procs.map((p) => p.stop()));

  const wallS = ((outcome.doneAt ?? performance.now()) - t0) / 1000;
  const millions = N / 1e6;
  const run: Run = {
    engine,
    replicas: r,
    status: outcome.status,
    wallS: round(wallS, 2),
    firstRowS: outcome.firstRowAt === undefined ? undefined : round((outcome.firstRowAt - t0) / 1000, 2),
    peakRssMiB: ends.map((e) => round(e.peakRssBytes / MiB, 1)),
    rowsInserted: inserted,
  };
  if (outcome.status === 'ok') {
    run.rowsPerS = Math.round(N / wallS);
    run.mbPerS = round(payloadBytes / 1e6 / wallS, 1);
    run.cpuSPerMRows = round(ends.reduce((s, e) => s + e.cpuS, 0) / millions, 2);
    const perM = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : round((a - b) / millions, 2));
    const ch = perM(serverCpu1.clickhouse, serverCpu0.clickhouse);
    const kafka = perM(serverCpu1.kafka, serverCpu0.kafka);
    if (ch !== undefined) run.clickhouseCpuSPerMRows = ch;
    if (kafka !== undefined) run.kafkaCpuSPerMRows = kafka;
  }
  const final = await finalCounts(params.clickhouseUrl, name).catch(() => undefined);
  if (final) {
    run.rowsInTable = final.rows;
    run.duplicates = final.duplicates;
  }
  // Next run on a quiet server: dropping the table cancels its merges.
  if (!params.keep) {
    await chQuery(params.clickhouseUrl, `DROP TABLE IF EXISTS ${name}`).catch(() => {});
    await deleteGroup(params.brokers, name).catch(() => {});
  }
  return run;
}

async function deleteGroup(brokers: string, group: string): Promise<void> {
  const admin = new Kafka({ clientId: 'sluice-bench', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.deleteGroups([group]);
  } finally {
    await admin.disconnect();
  }
}

main().catch((err: unknown) => {
  say(`ERROR: ${errText(err)}`);
  process.exit(1);
});
