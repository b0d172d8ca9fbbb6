/**
 * Issue 15: failover to MirrorMaker 2's backup cluster, with real clusters.
 *
 * Two single-node Kafka clusters of this file's own — P (29092) and B
 * (39092), state under .local/failover-{p,b}, wiped at the start — and
 * MirrorMaker 2 (dedicated mode) replicating P into B, all started through
 * scripts/services.sh; the shared ClickHouse. For each replication policy
 * (identity, default): a topic of 2 partitions filled on P before
 * MirrorMaker starts, partition 1's first 100 records deleted so that B's
 * offsets are shifted there (partition 0's are preserved). Four sinks (own
 * table and group each, batches of 200) consume it from P; mid-stream each
 * is frozen and killed; `sluice failover` shows its plan while P answers;
 * MirrorMaker 2 is stopped; one group is moved with `--using committed`
 * while P answers; P is killed; the others are moved — the chosen start
 * into a MergeTree and a ReplicatedMergeTree table, `--using mm2` into
 * another ReplicatedMergeTree; every sink restarts against B's copy and
 * every record lands. The re-read and the duplicates each way leaves are
 * logged per partition. Then P comes back: the groups that read B fail
 * back to P from the warehouse (the same command reversed), and records
 * produced to P afterwards land once.
 *
 * Asserts what is deterministic: every id lands; the chosen (warehouse)
 * start re-reads nothing and leaves no duplicate, by offset on partition 0
 * and by time then key on partition 1; MergeTree keeps exactly the re-read
 * records; on an offset-preserving partition a replicated table keeps at
 * most the first, partial batch of an mm2 or committed start.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLICKHOUSE_URL, insertsSettled, randomName, scalar, sinkEnv, startSink, useClickHouse, waitFor } from '../helpers.js';
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

async function groupMembers(c: { port: number }, group: string): Promise<number> {
  const admin = client(c).admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([group]);
    return groups[0]?.members.length ?? 0;
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
  it('positions the groups on B with nothing lost; the warehouse re-reads nothing, and each method\'s re-reads and duplicates are measured', async () => {
    const t0 = Date.now();
    const mark = (what: string) => console.log(`[${policy}] ${what} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const topic = randomName('fo');
    const remote = policy === 'identity' ? topic : `P.${topic}`;
    // One table and group per way of failing over: the chosen start on a
    // plain and on a replicated table, and each other method alone on a
    // replicated one — each applied at the failover, independently.
    const sinksOf = [
      { name: 'plain', replicated: false, using: undefined },
      { name: 'replicated', replicated: true, using: undefined },
      { name: 'replicated, mm2 only', replicated: true, using: 'mm2' },
      { name: 'replicated, committed only', replicated: true, using: 'committed' },
    ].map((x) => ({ ...x, table: randomName('fo_t'), group: randomName('g_fo') }));
    for (const x of sinksOf) await ch().command({ query: ddl(x.table, x.replicated) });

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
    mark('MirrorMaker 2 copied the topic');

    // On B under the default policy the sinks record P.<topic> as <topic>
    // (_topic, insert identity): re-read rows are the same bytes as from P.
    const alias: Record<string, string> = policy === 'default' ? { SLUICE_MIRROR_SOURCE_ALIAS: 'P' } : {};
    // On P, batches are cut by rows only (no age cut under a slow moment):
    // re-read windows on B are then the same blocks wherever offsets match.
    const env = (x: (typeof sinksOf)[number], on: { port: number }, t: string) =>
      sinkEnv(t, x.table, x.group, { SLUICE_KAFKA_BROKERS: brokers(on), SLUICE_BATCH_MAX_ROWS: String(BATCH), ...(on === B ? alias : { SLUICE_BATCH_MAX_WAIT_MS: '600000', SLUICE_KAFKA_SESSION_TIMEOUT_MS: '6000' }) });
    // The sinks on P, each frozen (SIGSTOP) mid-stream once a quarter has landed, then killed.
    const onP = sinksOf.map((x) => startSink(env(x, P, topic)));
    for (const [i, x] of sinksOf.entries()) {
      await waitFor(`${x.name} sink to land a quarter of the records`, async () => (await scalar(ch(), `SELECT count() FROM ${x.table}`)) >= N / 4, 120_000, 20);
      onP[i]!.proc.kill('SIGSTOP');
    }
    for (const s of onP) s.proc.kill('SIGKILL');
    await Promise.all(onP.map((s) => s.exited));
    for (const x of sinksOf) {
      await insertsSettled(ch(), x.table);
      console.log(`${policy}/${x.name}: ${await scalar(ch(), `SELECT count() FROM ${x.table}`)} of ${N} landed from P; committed on P ${await committed(P, x.group, topic)}`);
    }
    // MirrorMaker 2 has checkpointed what the groups committed (its candidate exists) before P dies.
    for (const x of sinksOf) {
      const committedOnP = (await committed(P, x.group, topic)).filter((o) => o > 0).length;
      await waitFor(`MirrorMaker 2 to sync ${x.name}'s offsets to B`, async () => (await committed(B, x.group, remote)).filter((o) => o >= 0).length >= committedOnP, 120_000, 500);
    }
    mark('sinks crashed');

    const args = (x: (typeof sinksOf)[number]) => [
      '--to', brokers(B), '--from', brokers(P), '--source-alias', 'P', '--group', x.group, '--topic', topic, '--table', x.table,
      ...(x.using ? ['--using', x.using] : []),
    ];
    const dry = await failover(args(sinksOf[1]!));
    expect(dry.code, dry.err).toBe(0);
    console.log(`${policy}/replicated, P still up — sluice failover (dry run):\n${dry.out}`);
    // MirrorMaker 2 stops first: its offset sync would overwrite the new offsets.
    await services('kill', 'mirrormaker', B);
    const plans = new Map<(typeof sinksOf)[number], FailoverPlan>();
    const execute = async (x: (typeof sinksOf)[number]) => {
      const run = await failover([...args(x), '--execute', '--json']);
      expect(run.code, run.err).toBe(0);
      const plan = JSON.parse(run.out) as FailoverPlan;
      plans.set(x, plan);
      expect(await committed(B, x.group, remote)).toEqual(plan.rows.map((r) => r.chosen.start));
      return plan;
    };
    // The committed method needs P: applied while P still answers.
    await execute(sinksOf[3]!);
    // P dies; the other failovers go without it.
    await services('kill', 'kafka', P);
    const executed = await Promise.all(sinksOf.slice(0, 3).map(async (x) => [x, await execute(x)] as const));
    for (const [x, plan] of executed) {
      console.log(`${policy}/${x.name}, P down — sluice failover --execute${x.using ? ` --using ${x.using}` : ''}:\n${formatPlan(plan, true, brokers(B))}`);
      expect(plan.notes.join('\n')).toMatch(/committed: cluster P not used/);
    }
    mark('failover executed');

    // The sinks restart against B's copy; every record lands.
    const ends = [PER_PARTITION, PER_PARTITION - DELETED];
    const onB = sinksOf.map((x) => startSink(env(x, B, remote)));
    for (const x of sinksOf) {
      await waitFor(`${x.name} sink to commit the end of ${remote} on B`, async () => (await committed(B, x.group, remote)).every((o, p) => o === ends[p]), 120_000);
    }
    await Promise.all(onB.map((s) => s.stop()));
    mark('caught up on B');

    for (const x of sinksOf) {
      await insertsSettled(ch(), x.table);
      expect(await scalar(ch(), `SELECT uniqExact(id) FROM ${x.table}`), x.name).toBe(EXPECTED);
      const rs = await ch().query({ query: `SELECT _partition AS p, count() - uniqExact(id) AS d FROM ${x.table} GROUP BY p ORDER BY p`, format: 'JSONEachRow' });
      const duplicates = (await rs.json<{ d: string }>()).map((r) => Number(r.d));
      const plan = plans.get(x)!;
      const rereads = plan.rows.map((r) => r.chosen.reread);
      figures.push({ policy, method: `${x.name}: ${plan.rows.map((r) => `${r.chosen.method}/${r.candidates[r.chosen.method as 'warehouse']?.via ?? '-'}`).join(', ')}`, table: x.replicated ? 'replicated' : 'plain', reread: rereads, duplicates });
      if (!x.replicated) expect(duplicates, 'MergeTree keeps every re-read record').toEqual(rereads);
      if (x.using === undefined) {
        // B preserves partition 0's offsets: found by offset; partition 1's
        // are shifted: found by time, then by key among that millisecond's
        // records. Neither re-reads anything.
        expect(plan.rows.map((r) => r.candidates.warehouse?.via)).toEqual(['offset', 'time+key']);
        expect(rereads).toEqual([0, 0]);
        expect(duplicates).toEqual([0, 0]);
      } else {
        // Where B keeps P's offsets, re-read windows are the same blocks: at
        // most the first, partial one is new.
        expect(duplicates[0]).toBeLessThan(BATCH);
        expect(duplicates[1]).toBeLessThanOrEqual(rereads[1]! + BATCH);
      }
    }

    // Failing back: P is repaired (its log as it was) and the groups that
    // read B move back to P from the warehouse — the same command reversed.
    // Everything P holds was read from P or from B's copy, so they start at
    // P's end (partition 1 by time and key: its rows from B carry B's offsets).
    await services('start', 'kafka', P);
    const back = sinksOf.filter((x) => x.using === undefined);
    for (const x of back) {
      // P restores the crashed members with the group; it drops them when
      // their session times out (6 s here). Until then --execute is refused.
      await waitFor(`the crashed members of ${x.name}'s group to time out on P`, async () => (await groupMembers(P, x.group)) === 0, 120_000, 500);
      const run = await failover(['--to', brokers(P), '--source-alias', 'B', '--policy', 'identity', '--using', 'warehouse', '--group', x.group, '--topic', topic, '--table', x.table, '--execute', '--json']);
      expect(run.code, run.err).toBe(0);
      const plan = JSON.parse(run.out) as FailoverPlan;
      console.log(`${policy}/${x.name}, failing back to P — sluice failover --execute:\n${formatPlan(plan, true, brokers(P))}`);
      expect(await committed(P, x.group, topic)).toEqual([PER_PARTITION, PER_PARTITION]);
    }
    const producerAgain = client(P).producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producerAgain.connect();
    await producerAgain.send({ topic, acks: -1, messages: Array.from({ length: 200 }, (_, j) => ({ key: `k${N + j}`, value: JSON.stringify({ id: N + j }), partition: j % 2 })) });
    await producerAgain.disconnect();
    const onPAgain = back.map((x) => startSink(sinkEnv(topic, x.table, x.group, { SLUICE_KAFKA_BROKERS: brokers(P), SLUICE_BATCH_MAX_ROWS: String(BATCH) })));
    for (const x of back) {
      await waitFor(`${x.name} sink to commit P's new end`, async () => (await committed(P, x.group, topic)).every((o) => o === PER_PARTITION + 100), 120_000);
    }
    await Promise.all(onPAgain.map((s) => s.stop()));
    for (const x of back) {
      await insertsSettled(ch(), x.table);
      expect(await scalar(ch(), `SELECT uniqExact(id) FROM ${x.table}`), x.name).toBe(EXPECTED + 200);
      expect(await scalar(ch(), `SELECT count() FROM ${x.table}`), x.name).toBe(EXPECTED + 200);
    }
    mark('failed back to P');
    await services('stop', 'kafka', P);
  });
});
