/**
 * backlog — does a bigger backlog make sluice use more memory?
 *
 * Contract: for each multiplier m (default 1, 10, 100) of a base size
 * (default 100,000 events ≈ 22 MB), produces base×m events to a fresh topic
 * (8 partitions) *before* sluice starts — so sluice meets the whole backlog
 * at once, the case DESIGN.md's invariant 3 is about — then runs one sluice
 * at default settings against a fresh table and group until the table holds
 * every id. Per level it reports rows, payload MB, wall s (sluice start → last
 * row counted), rows/s, the sluice process's peak RSS (VmHWM, the kernel's
 * high-water mark, so no spike is missed), its own peak
 * `sluice_buffered_bytes` (scraped from /metrics every 250 ms: a sampled
 * peak) next to the configured cap, and peak heap / external memory (also
 * scraped, to say where RSS beyond the buffer goes). Prints a table and
 * writes bench/results/backlog-<timestamp>.json. Each level's topic, table
 * and group are dropped when the level ends (a 100x topic is ~2.2 GB), and
 * everything of the run at the end unless --keep. Figures are measured,
 * never estimated; a level that does not finish says why in `status`.
 * Exit 0 when the benchmark ran (whatever the statuses), 1 when it could not.
 *
 * Parameters (flag, else env, else default):
 *   --base N            BENCH_BACKLOG_BASE         100000
 *   --multipliers a,b   BENCH_BACKLOG_MULTIPLIERS  1,10,100
 *   --partitions P      BENCH_PARTITIONS           8
 *   --timeout S         BENCH_TIMEOUT_S            1800 (per level)
 *   --keep              BENCH_KEEP=1               keep each level's topic and table
 *   BENCH_SLUICE_ENV    "SLUICE_X=v,…" added to sluice's environment (default: none,
 *                       i.e. sluice's defaults; SLUICE_MAX_BUFFER_BYTES here is the reported cap)
 *   BENCH_SLUICE_CLI (<repo>/dist/cli/index.js), BENCH_BROKERS, BENCH_CLICKHOUSE_URL
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chQuery, ident } from './lib/clickhouse.js';
import { createTableSql } from './lib/dataset.js';
import { createTreeSampler } from './lib/proc.js';
import { produceDataset } from './generate.js';
import {
  MiB, cleanup, environment, errText, finalCounts, fmt, formatTable, intListParam, intParam, round, runId, say as sayAs, commonParams, type CommonParams,
  waitForRows, writeJson, type Environment,
} from './lib/harness.js';
import { every, freePort, scrapeMetrics, startSluice } from './lib/sluice.js';

/** sluice's own default (README configuration table); the reported cap unless BENCH_SLUICE_ENV sets one. */
const DEFAULT_MAX_BUFFER_BYTES = 64 * MiB;
const SCRAPE_MS = 250;

const benchDist = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(benchDist, '..', '..');
const say = (msg: string) => sayAs('backlog', msg);

interface Params extends CommonParams {
  base: number;
  multipliers: number[];
  partitions: number;
}

interface Level {
  multiplier: number;
  status: string;
  rows: number;
  payloadBytes?: number;
  produceSeconds?: number;
  wallS?: number;
  rowsPerS?: number;
  mbPerS?: number;
  /** VmHWM of the sluice process. */
  peakRssMiB?: number;
  /** peakRssMiB minus the first level's. */
  rssDeltaMiB?: number;
  /** Max of the scraped sluice_buffered_bytes gauge. */
  peakBufferedMiB?: number;
  capMiB: number;
  peakHeapUsedMiB?: number;
  peakExternalMiB?: number;
  /** Max of sluice_paused_partitions seen: > 0 means backpressure engaged. */
  maxPausedPartitions?: number;
  scrapes?: number;
  cpuSPerMRows?: number;
  rowsInTable?: number;
  duplicates?: number;
}

function readParams(): Params {
  const { values } = parseArgs({
    options: {
      base: { type: 'string' },
      multipliers: { type: 'string' },
      partitions: { type: 'string' },
      timeout: { type: 'string' },
      keep: { type: 'boolean' },
    },
  });
  const e = process.env;
  return {
    base: intParam('base (BENCH_BACKLOG_BASE)', values.base ?? e.BENCH_BACKLOG_BASE, 100_000),
    multipliers: intListParam('multipliers (BENCH_BACKLOG_MULTIPLIERS)', values.multipliers ?? e.BENCH_BACKLOG_MULTIPLIERS, [1, 10, 100]),
    partitions: intParam('partitions (BENCH_PARTITIONS)', values.partitions ?? e.BENCH_PARTITIONS, 8),
    ...commonParams(values, e, repoRoot, 1800),
  };
}

async function main(): Promise<void> {
  const params = readParams();
  if (!existsSync(params.sluiceCli)) throw new Error(`${params.sluiceCli} does not exist (run npm run build)`);
  const capBytes = params.sluiceEnv.SLUICE_MAX_BUFFER_BYTES ? Number(params.sluiceEnv.SLUICE_MAX_BUFFER_BYTES) : DEFAULT_MAX_BUFFER_BYTES;
  const env: Environment = await environment(repoRoot, params.clickhouseUrl);
  const id = runId();
  const prefix = `sluice_backlog_${id}`;
  const resultsDir = join(repoRoot, 'bench', 'results');
  const logDir = join(resultsDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const startedAt = new Date().toISOString();

  let stopCurrent: (() => Promise<void>) | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    say(`${signal}: stopping`);
    void (async () => {
      await stopCurrent?.().catch(() => {});
      if (!params.keep) await cleanup(params.clickhouseUrl, params.brokers, prefix).catch(() => {});
      process.exit(130);
    })();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const levels: Level[] = [];
  try {
    for (const m of params.multipliers) {
      const level = await runLevel(m, params, prefix, capBytes, logDir, id, (s) => { stopCurrent = s; })
        .catch((err: unknown): Level => ({ multiplier: m, rows: params.base * m, capMiB: round(capBytes / MiB, 1), status: `failed: ${errText(err)}` }));
      stopCurrent = undefined;
      const first = levels.find((l) => l.peakRssMiB !== undefined);
      if (first && level.peakRssMiB !== undefined) level.rssDeltaMiB = round(level.peakRssMiB - first.peakRssMiB!, 1);
      levels.push(level);
      say(`${m}x: ${level.status}${level.rowsPerS ? `, ${level.rowsPerS} rows/s, peak RSS ${level.peakRssMiB} MiB` : ''}`);
    }
  } finally {
    if (!params.keep) await cleanup(params.clickhouseUrl, params.brokers, prefix).catch((err) => say(`cleanup: ${errText(err)}`));
  }

  const header = ['backlog', 'rows', 'payload MB', 'wall s', 'rows/s', 'peak RSS MiB', 'Δ RSS MiB', 'peak buffered MiB', 'cap MiB', 'peak heap MiB', 'peak ext MiB', 'paused max', 'CPU s/M rows', 'dups', 'status'];
  const rows = levels.map((l) => [
    `${l.multiplier}x`, fmt(l.rows), fmt(l.payloadBytes === undefined ? undefined : l.payloadBytes / 1e6, 1), fmt(l.wallS, 1), fmt(l.rowsPerS),
    fmt(l.peakRssMiB, 0), l.rssDeltaMiB === undefined ? '-' : (l.rssDeltaMiB >= 0 ? '+' : '') + fmt(l.rssDeltaMiB, 0),
    fmt(l.peakBufferedMiB, 1), fmt(l.capMiB, 0), fmt(l.peakHeapUsedMiB, 0), fmt(l.peakExternalMiB, 0), fmt(l.maxPausedPartitions),
    fmt(l.cpuSPerMRows), fmt(l.duplicates), l.status,
  ]);
  const settings = Object.keys(params.sluiceEnv).length > 0 ? Object.entries(params.sluiceEnv).map(([k, v]) => `${k}=${v}`).join(' ') : 'sluice defaults';
  process.stdout.write([
    `backlog vs memory: base ${params.base} events, ${params.partitions} partitions, ${settings}; ` +
      `ClickHouse ${env.clickhouse}, Kafka ${env.kafka ?? '?'}, node ${env.node}, ${env.cpus} CPUs (load ${env.loadAvgAtStart} at start)`,
    formatTable(header, rows),
    'peak RSS = VmHWM of the sluice process; Δ = vs the first level. peak buffered / heap / ext = max of sluice_buffered_bytes, ' +
      'sluice_nodejs_heap_size_used_bytes, sluice_nodejs_external_memory_bytes scraped every 250 ms (sampled peaks). ' +
      'The whole backlog is in Kafka before sluice starts; wall s = sluice start to last row counted. ' +
      'A level whose backlog is below the cap never fills the buffer: the bound shows between the levels above it.',
  ].join('\n') + '\n');
  const path = writeJson(resultsDir, 'backlog', startedAt, {
    benchmark: 'backlog',
    runId: id,
    startedAt,
    finishedAt: new Date().toISOString(),
    params: { base: params.base, multipliers: params.multipliers, partitions: params.partitions, timeoutS: params.timeoutS, sluiceEnv: params.sluiceEnv },
    environment: env,
    levels,
  });
  say(`results: ${path}; sluice logs: ${logDir}/${id}-*.log`);
}

async function runLevel(
  m: number,
  params: Params,
  prefix: string,
  capBytes: number,
  logDir: string,
  id: string,
  setStop: (stop: () => Promise<void>) => void,
): Promise<Level> {
  const N = params.base * m;
  // "_<m>x" so no level's name is a prefix of another's (cleanup goes by prefix).
  const name = ident(`${prefix}_${m}x`);
  const level: Level = { multiplier: m, rows: N, capMiB: round(capBytes / MiB, 1), status: 'ok' };

  say(`${m}x: producing ${N} events to ${name} over ${params.partitions} partitions`);
  const produced = await produceDataset({ brokers: params.brokers, topic: name, rows: N, partitions: params.partitions });
  level.payloadBytes = produced.payloadBytes;
  level.produceSeconds = round(produced.seconds, 1);
  say(`${m}x: produced ${(produced.payloadBytes / 1e6).toFixed(0)} MB in ${produced.seconds.toFixed(1)} s`);
  await chQuery(params.clickhouseUrl, createTableSql(name));

  const port = await freePort();
  const t0 = performance.now();
  const sluice = startSluice({
    cli: params.sluiceCli,
    cwd: repoRoot,
    logFile: join(logDir, `${id}-${m}x.log`),
    env: {
      SLUICE_KAFKA_BROKERS: params.brokers,
      SLUICE_TOPICS: name,
      SLUICE_GROUP_ID: name,
      SLUICE_CLICKHOUSE_URL: params.clickhouseUrl,
      SLUICE_TABLE: name,
      SLUICE_START_FROM: 'earliest',
      SLUICE_METRICS_PORT: String(port),
      SLUICE_LOG_LEVEL: 'warn',
      ...params.sluiceEnv,
    },
  });
  setStop(() => sluice.stop());
  const sampler = createTreeSampler(sluice.pid);
  let peakBuffered = 0;
  let peakHeap = 0;
  let peakExternal = 0;
  let maxPaused = 0;
  let scrapes = 0;
  // /proc is read on the same beat: VmHWM is a high-water mark anyway, but
  // CPU must be read while the process is alive.
  const scraper = every(SCRAPE_MS, async () => {
    sampler.sample();
    const s = await scrapeMetrics(port);
    scrapes++;
    peakBuffered = Math.max(peakBuffered, s.total.get('sluice_buffered_bytes') ?? 0);
    peakHeap = Math.max(peakHeap, s.total.get('sluice_nodejs_heap_size_used_bytes') ?? 0);
    peakExternal = Math.max(peakExternal, s.total.get('sluice_nodejs_external_memory_bytes') ?? 0);
    maxPaused = Math.max(maxPaused, s.total.get('sluice_paused_partitions') ?? 0);
  });

  let exitCode: number | string | undefined;
  void sluice.exited.then((c) => { exitCode = c; });
  const outcome = await waitForRows({
    url: params.clickhouseUrl,
    table: name,
    rows: N,
    deadline: t0 + params.timeoutS * 1000,
    failed: () => (exitCode === undefined ? undefined : `sluice exited with ${exitCode}: ${sluice.tail().trim().split('\n').slice(-3).join(' | ')}`),
  });
  // Figures at the moment the last row was counted, before shutdown work.
  const end = sampler.sample();
  await scraper.stop();
  await sluice.stop();

  level.status = outcome.status;
  const wallS = ((outcome.doneAt ?? performance.now()) - t0) / 1000;
  level.wallS = round(wallS, 2);
  level.peakRssMiB = round(end.peakRssBytes / MiB, 1);
  level.peakBufferedMiB = round(peakBuffered / MiB, 1);
  level.peakHeapUsedMiB = round(peakHeap / MiB, 1);
  level.peakExternalMiB = round(peakExternal / MiB, 1);
  level.maxPausedPartitions = maxPaused;
  level.scrapes = scrapes;
  if (outcome.status === 'ok') {
    level.rowsPerS = Math.round(N / wallS);
    level.mbPerS = round(produced.payloadBytes / 1e6 / wallS, 1);
    level.cpuSPerMRows = round(end.cpuS / (N / 1e6), 2);
  }
  const final = await finalCounts(params.clickhouseUrl, name).catch(() => undefined);
  if (final) {
    level.rowsInTable = final.rows;
    level.duplicates = final.duplicates;
  }
  // The next level must start on a quiet machine with the disk space back:
  // dropping the table cancels its merges; the topic goes too.
  if (!params.keep) await cleanup(params.clickhouseUrl, params.brokers, name).catch((err) => say(`${m}x: cleanup: ${errText(err)}`));
  return level;
}

main().catch((err: unknown) => {
  say(`ERROR: ${errText(err)}`);
  process.exit(1);
});
