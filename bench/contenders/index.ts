/**
 * contenders — every way of draining the topic that the benchmark compares.
 *
 * Contract: each Contender gets a RunContext naming a topic already full of
 * the dataset, a fresh empty table and a fresh consumer group. `precheck`
 * prepares what must exist before the clock starts and says why the
 * contender cannot run here (the harness then records that and moves on);
 * `start` begins consuming and returns a Running. The harness, not the
 * contender, decides when it is done (by counting rows in ClickHouse) and
 * then calls `stop`, which must return within the grace period plus a few
 * seconds whatever the contender does.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { chQuery, ident } from '../lib/clickhouse.js';
import { COLUMNS, COLUMN_NAMES } from '../lib/dataset.js';
import { spawnLogged } from '../lib/spawn.js';
import { sinker, sinkerBinary } from './sinker.js';
import type { Contender, Exit, RunContext } from './types.js';

export type { Contender, Exit, RunContext, Running } from './types.js';

/**
 * The sluice-tuned run, fitted to a 2-core box draining a backlog: two
 * inserts in flight (more only queue behind ClickHouse on the same cores)
 * and batches 2.5x sluice's defaults (100,000 rows / 16 MiB) so each insert makes fewer, larger parts
 * (less server CPU per row, fewer merges), with a buffer cap that still
 * holds several such batches. BENCH_SLUICE_TUNED="K=V,K=V" replaces these.
 * Keys must be ones sluice knows: it refuses to start on any other SLUICE_*.
 */
const SLUICE_TUNED_DEFAULTS: Record<string, string> = {
  SLUICE_BATCH_MAX_ROWS: '250000',
  SLUICE_BATCH_MAX_BYTES: String(64 * 1024 * 1024),
  SLUICE_INSERT_CONCURRENCY: '2',
  SLUICE_MAX_BUFFER_BYTES: String(256 * 1024 * 1024),
};
const SLUICE_TUNING_KEYS = new Set([
  'SLUICE_BATCH_MAX_ROWS', 'SLUICE_BATCH_MAX_BYTES', 'SLUICE_BATCH_MAX_WAIT_MS', 'SLUICE_INSERT_CONCURRENCY', 'SLUICE_MAX_BUFFER_BYTES',
]);

export function sluiceTuning(override: string | undefined): Record<string, string> {
  if (!override) return { ...SLUICE_TUNED_DEFAULTS };
  const out: Record<string, string> = {};
  for (const pair of override.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [key, value] = pair.split('=', 2) as [string, string | undefined];
    // sluice refuses unknown SLUICE_* keys, so a typo here would only show up as "failed".
    if (!SLUICE_TUNING_KEYS.has(key) || value === undefined) {
      throw new Error(`BENCH_SLUICE_TUNED: "${pair}" is not KEY=VALUE with KEY one of ${[...SLUICE_TUNING_KEYS].join(', ')}`);
    }
    out[key] = value;
  }
  return out;
}

export function createContenders(opts: { sluiceTuned: Record<string, string> }): Contender[] {
  return [
    pipe(),
    kafkaEngine(),
    naive(),
    sluice('sluice', 'sluice, default settings (typed RowBinary inserts)', {}),
    sluice('sluice-json', 'sluice, SLUICE_INSERT_FORMAT=jsoneachrow (passthrough: the server parses JSON)', { SLUICE_INSERT_FORMAT: 'jsoneachrow' }),
    sluice('sluice-tuned', `sluice, ${Object.entries(opts.sluiceTuned).map(([k, v]) => `${k.replace('SLUICE_', '')}=${v}`).join(' ')}`, opts.sluiceTuned),
    sinker(),
  ];
}

/**
 * The run order when none is asked for. sinker joins only when
 * BENCH_SINKER_BIN names a binary: the repo cannot provide one (it is built
 * from the peer's public source), and a default run should not report a
 * contender nobody set up as "not available".
 */
export function defaultContenders(): string[] {
  const names = ['pipe', 'kafka-engine', 'naive', 'sluice', 'sluice-json', 'sluice-tuned'];
  if (sinkerBinary() !== undefined) names.push('sinker');
  return names;
}

function pipe(): Contender {
  return {
    name: 'pipe',
    describe: 'kcat -C -e -u | clickhouse-client INSERT … FORMAT JSONEachRow',
    async precheck() {
      return undefined;
    },
    async start(ctx) {
      const kcat = `kcat -C -b ${ctx.brokers} -t ${ident(ctx.topic)} -e -q -u -f '%s\\n'`;
      const insert = `clickhouse-client --query "INSERT INTO ${ident(ctx.table)} FORMAT JSONEachRow"`;
      // bash's `times` prints the CPU of reaped children (both pipe stages)
      // exactly, which /proc sampling can miss for a stage that exits between samples.
      const script = `set -o pipefail; ${kcat} | ${insert}; rc=$?; times; exit $rc`;
      const proc = spawnLogged('bash', ['-c', script], process.env, ctx, { captureStdout: true });
      return {
        ...proc.running,
        // Natural end: kcat -e exits at the end of every partition and the
        // insert completes when its stdin closes; only signal if it hangs.
        stop: () => proc.stopAfter(ctx.stopGraceMs),
        exactCpuS() {
          // `times` prints two lines: the shell's own user/sys, then its children's.
          const lines = proc.stdout().trim().split('\n').slice(-2);
          const parse = (line: string | undefined): number | undefined => {
            const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(line?.trim() ?? '');
            return m ? Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]) : undefined;
          };
          const self = parse(lines[0]);
          const children = parse(lines[1]);
          return self === undefined || children === undefined ? undefined : self + children;
        },
      };
    },
  };
}

function kafkaEngine(): Contender {
  const queueOf = (ctx: RunContext) => ident(`${ctx.table}_queue`);
  const viewOf = (ctx: RunContext) => ident(`${ctx.table}_mv`);
  return {
    name: 'kafka-engine',
    describe: 'ClickHouse Kafka table engine + materialized view (server defaults)',
    async precheck(ctx) {
      // The engine's consumer starts at the latest offset for a new group
      // (librdkafka's auto.offset.reset default; 18.16 only lets the server
      // config change it). Committing offset 0 for the group first makes it
      // read the whole topic without touching the shared server's config.
      // It must happen before the queue table exists: its consumer joins
      // the group, and offsets of a group with members cannot be set.
      await commitOffsetsAtStart(ctx);
      // 18.16 takes positional arguments: broker_list, topic_list, group_name, format.
      // Creating the table is the availability test: builds without the engine fail here.
      try {
        await chQuery(ctx.clickhouseUrl, `CREATE TABLE ${queueOf(ctx)} (${COLUMNS}
) ENGINE = Kafka('${ctx.brokers}', '${ident(ctx.topic)}', '${ident(ctx.group)}', 'JSONEachRow')`);
      } catch (err) {
        return `unavailable: ${err instanceof Error ? err.message : String(err)}`;
      }
      return undefined;
    },
    async start(ctx) {
      // Creating the view attaches a reader to the queue table: this is "start".
      await chQuery(ctx.clickhouseUrl, `CREATE MATERIALIZED VIEW ${viewOf(ctx)} TO ${ident(ctx.table)} AS SELECT ${COLUMN_NAMES} FROM ${queueOf(ctx)}`);
      return {
        exited: new Promise<Exit>(() => {}),
        tail: () => '',
        async stop() {
          await chQuery(ctx.clickhouseUrl, `DROP TABLE IF EXISTS ${viewOf(ctx)}`, ctx.stopGraceMs + 5_000);
          await chQuery(ctx.clickhouseUrl, `DROP TABLE IF EXISTS ${queueOf(ctx)}`, ctx.stopGraceMs + 5_000);
        },
      };
    },
  };
}

async function commitOffsetsAtStart(ctx: RunContext): Promise<void> {
  const admin = new Kafka({ clientId: 'sluice-bench', brokers: ctx.brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.setOffsets({
      groupId: ctx.group,
      topic: ctx.topic,
      partitions: Array.from({ length: ctx.partitions }, (_, partition) => ({ partition, offset: '0' })),
    });
  } finally {
    await admin.disconnect();
  }
}

function naive(): Contender {
  return {
    name: 'naive',
    describe: 'hand-written kafkajs eachBatch → JSON.parse → client.insert(JSONEachRow), autoCommit',
    async precheck() {
      return undefined;
    },
    async start(ctx) {
      const env = {
        ...process.env,
        BENCH_BROKERS: ctx.brokers,
        BENCH_TOPIC: ctx.topic,
        BENCH_GROUP: ctx.group,
        BENCH_CLICKHOUSE_URL: ctx.clickhouseUrl,
        BENCH_TABLE: ctx.table,
      };
      const proc = spawnLogged('node', [join(ctx.benchDist, 'contenders', 'naive-kafkajs.js')], env, ctx);
      return { ...proc.running, stop: () => proc.terminate(ctx.stopGraceMs) };
    },
  };
}

function sluice(name: string, describe: string, tuning: Record<string, string>): Contender {
  return {
    name,
    describe,
    async precheck(ctx) {
      return existsSync(ctx.sluiceCli) ? undefined : `not built: ${ctx.sluiceCli} does not exist (run npm run build)`;
    },
    async start(ctx) {
      // sluice refuses to start on any SLUICE_* key it does not know, so
      // none may leak in from the caller's environment.
      const env: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SLUICE_')) env[k] = v;
      Object.assign(env, {
        SLUICE_KAFKA_BROKERS: ctx.brokers,
        SLUICE_TOPICS: ctx.topic,
        SLUICE_GROUP_ID: ctx.group,
        SLUICE_CLICKHOUSE_URL: ctx.clickhouseUrl,
        SLUICE_TABLE: ctx.table,
        SLUICE_START_FROM: 'earliest',
        ...tuning,
      });
      const proc = spawnLogged('node', [ctx.sluiceCli, 'run'], env, ctx, { cwd: ctx.repoRoot });
      return { ...proc.running, stop: () => proc.terminate(ctx.stopGraceMs) };
    },
  };
}
