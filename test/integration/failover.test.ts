/**
 * Issue 15: failover to MirrorMaker 2's backup cluster, with real clusters.
 *
 * Two single-node Kafka clusters of this file's own — P (29092) and B
 * (39092), state under .local/failover-{p,b}, wiped at the start — and
 * MirrorMaker 2 (dedicated mode) replicating P into B, all started through
 * scripts/services.sh; the shared ClickHouse. For each replication policy
 * (identity, default): a topic of 2 partitions filled on P before
 * MirrorMaker starts; two sinks consume it from P into a MergeTree and a
 * ReplicatedMergeTree table (each its own group, batches of 500); mid-stream
 * the site crashes: the sinks are killed, `sluice failover` shows its plan
 * while P still answers, P is killed, `sluice failover --execute` positions
 * both groups on B, the sinks restart against B's copy of the topic, and
 * every record lands. Then, per method, the groups are put back at that
 * method's start (`--using <method> --execute`; P is started again for
 * `committed`) and the sinks re-read: the duplicates each method leaves in
 * each table are counted, and logged with the re-read figures.
 *
 * Asserts only what is deterministic: every id lands; after the chosen
 * start the replicated table holds no duplicate and the plain one exactly
 * the re-read count the plan printed; each method's start loses nothing
 * (every id still there) and the replicated table keeps at most one
 * partial batch per partition per method.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLICKHOUSE_URL, insertsSettled, randomName, scalar, sinkEnv, startSink, useClickHouse, waitFor, type SinkProcess } from '../helpers.js';
import { formatPlan } from '../../src/cli/failover.js';
import type { FailoverPlan } from '../../src/pipeline/failover.js';

const CLI = new URL('../../dist/cli/index.js', import.meta.url).pathname;
const SERVICES = new URL('../../scripts/services.sh', import.meta.url).pathname;
const LOCAL = new URL('../../.local/', import.meta.url).pathname;
const P = { port: 29092, dir: `${LOCAL}failover-p` };
const B = { port: 39092, dir: `${LOCAL}failover-b` };
const brokers = (c: { port: number }) => `127.0.0.1:${c.port}`;
const PER_PARTITION = 6000;
const N = 2 * PER_PARTITION;
// Deleted on P before MirrorMaker 2 starts: B's partition 1 then starts at
// offset 0 with P's record 100 — B no longer preserves offsets there, and
// the failover must find records by time.
const DELETED = 100;
const BATCH = 200;

function services(command: string, which: string, cluster: { port: number; dir: string }, extra: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const env = {
      ...process.env,
      LOCAL_SERVICES_DIR: cluster.dir,
      LOCAL_KAFKA_PORT: String(cluster.port),
      LOCAL_KAFKA_CONTROLLER_PORT: String(cluster.port + 1),
      LOCAL_KAFKA_HEAP: '-Xms64m -Xmx256m',
      ...extra,
    };
    const p = spawn('bash', [SERVICES, command, which], { stdio: ['ignore', 'inherit', 'inherit'], env });
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`services.sh ${command} ${which} (${cluster.dir}) exited ${code}`))));
  });
}

const client = (c: { port: number }) => new Kafka({ brokers: [brokers(c)], clientId: 'failover-test', logLevel: logLevel.NOTHING, retry: { retries: 10 } });

async function endTotal(c: { port: number }, topic: string): Promise<number> {
  const admin = client(c).admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) return 0;
    return (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

async function committed(c: { port: number }, group: string, topic: string): Promise<number[]> {
  const admin = client(c).admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return (t?.partitions ?? []).sort((a, b) => a.partition - b.partition).map((p) => Number(p.offset));
  } finally {
    await admin.disconnect();
  }
}

/** `sluice failover` as a child process: exit code, stdout and stderr. */
async function failover(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const p = spawn(process.execPath, [CLI, 'failover', ...args], { env: { PATH: process.env.PATH ?? '', SLUICE_CLICKHOUSE_URL: CLICKHOUSE_URL }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => p.once('close', (c) => resolve(c)));
  return { code, out, err };
}

const ch = useClickHouse();

const ddl = (table: string, replicated: boolean) =>
  `CREATE TABLE ${table} (id UInt64, _topic String, _partition Int32, _offset UInt64, _timestamp UInt64, _key Nullable(String)) ` +
  (replicated ? `ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${table}', '{replica}') ORDER BY id` : 'ENGINE = MergeTree ORDER BY id');

beforeAll(async () => {
  // This file's clusters only: stopped if a previous run left them, then wiped.
  await services('stop', 'mirrormaker', B);
  await services('stop', 'kafka', P);
  await services('stop', 'kafka', B);
  rmSync(P.dir, { recursive: true, force: true });
  rmSync(B.dir, { recursive: true, force: true });
  await services('start', 'kafka', B);
}, 180_000);

afterAll(async () => {
  await services('stop', 'mirrormaker', B).catch(() => {});
  await services('stop', 'kafka', P).catch(() => {});
  await services('stop', 'kafka', B).catch(() => {});
}, 120_000);

interface Figures {
  policy: string;
  method: string;
  table: string;
  /** Per partition. */
  reread: Array<number | null>;
  duplicates: Array<number | null>;
}
const figures: Figures[] = [];
afterAll(() => {
  console.log('failover figures (re-read: records the warehouse held that the method reads again; duplicates: count() - uniqExact(id) it leaves)');
  for (const f of figures) console.log(`${f.policy.padEnd(8)} ${f.table.padEnd(10)} ${f.method.padEnd(40)} re-read ${JSON.stringify(f.reread).padEnd(14)} duplicates ${JSON.stringify(f.duplicates)}`);
});

describe.each(['identity', 'default'] as const)('failover to B under the %s replication policy', (policy) => {
  it('positions both groups on B from the warehouse with nothing lost and nothing re-read; each method\'s re-reads and duplicates measured', async () => {
    const topic = randomName('fo');
    const remote = policy === 'identity' ? topic : `P.${topic}`;
    const tables = { plain: randomName('fo_plain'), replicated: randomName('fo_repl') };
    const groups = { plain: randomName('g_plain'), replicated: randomName('g_repl') };
    const kinds = ['plain', 'replicated'] as const;
    for (const k of kinds) await ch().command({ query: ddl(tables[k], k === 'replicated') });

    // P, its topic filled, then MirrorMaker 2 (the topic exists before it starts).
    await services('start', 'kafka', P);
    const admin = client(P).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = client(P).producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    for (let i = 0; i < N; i += 100) {
      const messages = Array.from({ length: 100 }, (_, j) => ({ key: `k${i + j}`, value: JSON.stringify({ id: i + j }), partition: (i + j) % 2 }));
      await producer.send({ topic, messages, acks: -1 });
    }
    await producer.disconnect();
    const cut = client(P).admin();
    await cut.connect();
    await cut.fetchTopicMetadata({ topics: [topic] });
    await cut.deleteTopicRecords({ topic, partitions: [{ partition: 1, offset: String(DELETED) }] });
    await cut.disconnect();
    const EXPECTED = N - DELETED;
    await services('start', 'mirrormaker', B, { LOCAL_MM2_SOURCE: brokers(P), LOCAL_MM2_TARGET: brokers(B), LOCAL_MM2_POLICY: policy, LOCAL_MM2_TOPICS: topic });
    await waitFor(`MirrorMaker 2 to copy ${N} records to ${remote} on B`, async () => (await endTotal(B, remote)) === EXPECTED, 120_000, 500);

    // The sinks on P, frozen (SIGSTOP) mid-stream once a quarter has landed, then killed.
    // On B under the default policy the sinks record P.<topic> as <topic>
    // (_topic, insert identity): re-read rows are the same bytes as from P.
    const alias: Record<string, string> = policy === 'default' ? { SLUICE_MIRROR_SOURCE_ALIAS: 'P' } : {};
    const env = (k: (typeof kinds)[number], on: { port: number }, t: string) =>
      sinkEnv(t, tables[k], groups[k], { SLUICE_KAFKA_BROKERS: brokers(on), SLUICE_BATCH_MAX_ROWS: String(BATCH), ...(on === B ? alias : {}) });
    let sinks: SinkProcess[] = kinds.map((k) => startSink(env(k, P, topic)));
    for (const [i, k] of kinds.entries()) {
      await waitFor(`${k} sink to land a quarter of the records`, async () => (await scalar(ch(), `SELECT count() FROM ${tables[k]}`)) >= N / 4, 120_000, 20);
      sinks[i]!.proc.kill('SIGSTOP');
    }
    for (const s of sinks) s.proc.kill('SIGKILL');
    await Promise.all(sinks.map((s) => s.exited));
    for (const k of kinds) await insertsSettled(ch(), tables[k]);
    for (const k of kinds) console.log(`${policy}/${k}: ${await scalar(ch(), `SELECT count() FROM ${tables[k]}`)} of ${N} landed on P; committed on P ${await committed(P, groups[k], topic)}`);
    // MirrorMaker 2 has checkpointed what the groups committed (its candidate exists) before P dies.
    for (const k of kinds) {
      const onP = (await committed(P, groups[k], topic)).filter((o) => o > 0).length;
      await waitFor(`MirrorMaker 2 to sync ${k}'s offsets to B`, async () => (await committed(B, groups[k], remote)).filter((o) => o >= 0).length >= onP, 120_000, 500);
    }

    const common = (k: (typeof kinds)[number]) => ['--to', brokers(B), '--from', brokers(P), '--source-alias', 'P', '--group', groups[k], '--topic', topic, '--table', tables[k]];
    const plans: Record<string, FailoverPlan> = {};
    for (const k of kinds) {
      const dry = await failover(common(k));
      expect(dry.code, dry.err).toBe(0);
      console.log(`${policy}/${k}, P still up — sluice failover (dry run):\n${dry.out}`);
      const json = await failover([...common(k), '--json']);
      plans[k] = JSON.parse(json.out) as FailoverPlan;
    }

    // P dies; the failover goes without it.
    await services('kill', 'mirrormaker', B);
    await services('kill', 'kafka', P);
    const chosen: Record<string, FailoverPlan> = {};
    for (const k of kinds) {
      const run = await failover([...common(k), '--execute', '--json']);
      expect(run.code, run.err).toBe(0);
      chosen[k] = JSON.parse(run.out) as FailoverPlan;
      console.log(`${policy}/${k}, P down — sluice failover --execute:\n${formatPlan(chosen[k], true)}`);
      expect(chosen[k].notes.join('\n')).toMatch(/committed: cluster P not used/);
      expect(await committed(B, groups[k], remote)).toEqual(chosen[k].rows.map((r) => r.chosen.start));
    }

    const ends = [PER_PARTITION, PER_PARTITION - DELETED];
    const catchUp = async (which: ReadonlyArray<(typeof kinds)[number]>) => {
      sinks = which.map((k) => startSink(env(k, B, remote)));
      for (const k of which) {
        await waitFor(`${k} sink to commit the end of ${remote} on B`, async () => (await committed(B, groups[k], remote)).every((o, p) => o === ends[p]), 120_000);
      }
      await Promise.all(sinks.map((s) => s.stop()));
      for (const k of which) await insertsSettled(ch(), tables[k]);
    };
    /** count() − uniqExact(id) per partition, once every id is there. */
    const dups = async (k: (typeof kinds)[number]): Promise<number[]> => {
      expect(await scalar(ch(), `SELECT uniqExact(id) FROM ${tables[k]}`)).toBe(EXPECTED);
      const rs = await ch().query({ query: `SELECT _partition AS p, count() - uniqExact(id) AS d FROM ${tables[k]} GROUP BY p ORDER BY p`, format: 'JSONEachRow' });
      return (await rs.json<{ d: string }>()).map((r) => Number(r.d));
    };
    const rereads = (plan: FailoverPlan, pick: (r: FailoverPlan['rows'][number]) => number | null | undefined) => plan.rows.map((r) => pick(r) ?? null);

    await catchUp(kinds);
    for (const k of kinds) {
      const d = await dups(k);
      figures.push({ policy, method: `chosen: ${chosen[k]!.rows.map((r) => `${r.chosen.method}/${r.candidates.warehouse?.via ?? '-'}`).join(', ')}`, table: k, reread: rereads(chosen[k]!, (r) => r.chosen.reread), duplicates: d });
      // MergeTree keeps every re-read record.
      expect(d.reduce((a, b) => a + b, 0)).toBe(chosen[k]!.totalReread);
    }
    // B preserves partition 0's offsets: found by offset; partition 1's are
    // shifted: found by time, then by key among that millisecond's records.
    // Neither re-reads anything.
    for (const k of kinds) {
      expect(chosen[k]!.rows.map((r) => r.candidates.warehouse?.via)).toEqual(['offset', 'time+key']);
      expect(chosen[k]!.rows.map((r) => r.chosen.reread)).toEqual([0, 0]);
    }

    // Each method alone on the replicated table: its start (`--using M
    // --execute`), then a re-read to the end; what it adds is what it leaves.
    // (On MergeTree a method leaves exactly its re-read count: the plan's.)
    await services('start', 'kafka', P);
    for (const method of ['mm2', 'committed'] as const) {
      const before = await dups('replicated');
      const run = await failover([...common('replicated'), '--using', method, '--execute', '--json']);
      expect(run.code, run.err).toBe(0);
      const starts = (JSON.parse(run.out) as FailoverPlan).rows.map((r) => r.chosen.start);
      expect(starts).toEqual(plans.replicated!.rows.map((r) => Math.max(r.low, r.candidates[method]?.start ?? r.low)));
      await catchUp(['replicated']);
      const d = (await dups('replicated')).map((x, i) => x - before[i]!);
      for (const k of kinds) {
        figures.push({ policy, method, table: k, reread: rereads(plans[k]!, (r) => r.candidates[method]?.reread), duplicates: k === 'plain' ? rereads(plans[k]!, (r) => r.candidates[method]?.reread) : d });
      }
      // Same offsets, same batches: only the first, partial one is new.
      expect(d[0]).toBeLessThan(BATCH);
    }
    await services('stop', 'kafka', P);
  });
});
