/**
 * Issue 11, end to end: the sink cuts batches at fixed offset windows so that
 * a batch re-read after a crash is identical to its first insert, and
 * ClickHouse's insert deduplication on ReplicatedMergeTree drops the repeat.
 * Here both halves of that claim meet real services: ClickHouse 18.16 with
 * ZooKeeper (scripts/services.sh starts both, with the <macros> used below)
 * and the sink run as a child process, SIGKILLed mid-backlog.
 *
 * Not here yet: a SIGKILL during a slow trickle, where batches are cut by
 * age. A batch cut by age and written but not committed is re-read later
 * with more records behind it, cut differently, and not recognised as a
 * repeat; today that duplicates rows in about half the runs (issue 11), and
 * a test that fails half the time proves nothing either way.
 *
 * SLUICE_TEST_CLICKHOUSE_URL points this file at another ClickHouse than the
 * shared one (e.g. a private pair started with LOCAL_SERVICES_DIR); Kafka is
 * the shared broker either way.
 */
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLICKHOUSE_URL,
  EVENTS_DDL,
  committedTotal,
  createTopic,
  event,
  insertsSettled,
  produce,
  randomName,
  scalar,
  sinkEnv,
  startSink,
  waitFor,
} from '../helpers.js';

const CH_URL = process.env.SLUICE_TEST_CLICKHOUSE_URL ?? CLICKHOUSE_URL;

let client: ClickHouseClient;
const ch = () => client;

beforeAll(async () => {
  client = createClient({ url: CH_URL, request_timeout: 60_000 });
  // Fail with the cure rather than with "No macro shard in config" later.
  const macros = await scalar(client, `SELECT count() FROM system.macros WHERE macro IN ('shard', 'replica')`);
  if (macros !== 2) {
    throw new Error(`ClickHouse at ${CH_URL} has no <macros> shard/replica (nor, likely, <zookeeper>): it runs an old config; scripts/services.sh restart clickhouse`);
  }
});

afterAll(async () => {
  await client?.close();
});

const REPLICATED_DDL = (table: string) =>
  `CREATE TABLE ${table} (id UInt64, ts DateTime, user String, amount Float64, kind String) ` +
  `ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/${table}', '{replica}') ORDER BY id`;

const events = (n: number, from = 0) => Array.from({ length: n }, (_, i) => event(from + i));

/** ClickHouse's count of inserted blocks it dropped as repeats (server-wide, since start). */
const duplicatedBlocks = () => scalar(ch(), `SELECT sum(value) FROM system.events WHERE event = 'DuplicatedInsertedBlocks'`);

describe('ClickHouse insert deduplication', () => {
  it('drops an identical block inserted again into ReplicatedMergeTree, keeps every copy in MergeTree, and compares whole blocks', async () => {
    const replicated = randomName('dedup_r');
    const plain = randomName('dedup_p');
    await ch().command({ query: REPLICATED_DDL(replicated) });
    await ch().command({ query: EVENTS_DDL(plain) });
    const block = events(1000).map((e) => JSON.parse(e) as Record<string, unknown>);

    for (let i = 0; i < 3; i++) {
      await ch().insert({ table: replicated, values: block, format: 'JSONEachRow' });
      await ch().insert({ table: plain, values: block, format: 'JSONEachRow' });
    }
    expect(await scalar(ch(), `SELECT count() FROM ${replicated}`)).toBe(1000);
    expect(await scalar(ch(), `SELECT count() FROM ${plain}`)).toBe(3000);

    // One row more makes another block: all of it lands again. This is why
    // a batch must be re-cut at exactly the same offsets to be recognised.
    const longer = [...block, JSON.parse(event(1000)) as Record<string, unknown>];
    await ch().insert({ table: replicated, values: longer, format: 'JSONEachRow' });
    expect(await scalar(ch(), `SELECT count() FROM ${replicated}`)).toBe(2001);
    expect(await scalar(ch(), `SELECT uniqExact(id) FROM ${replicated}`)).toBe(1001);
  });
});

interface KillRun {
  /** Per kill, once its inserts settled: rows in the table, distinct ids, offsets committed. */
  kills: { rows: number; distinct: number; committed: number }[];
  total: number;
  distinct: number;
  /** DuplicatedInsertedBlocks grew by this much during the run (server-wide counter). */
  droppedBlocks: number;
}

/**
 * A backlog of `n` records over 4 partitions drained by a sink that is
 * SIGKILLed twice (at a quarter and at 60% of the rows) and restarted each
 * time. Every partition holds a whole number of 2,000-row windows and no
 * batch is cut by age, so every batch — first write or re-read — is a full
 * window: the case fixed offset windows make reproducible. (A batch cut by
 * age is not reproducible; see the trickle case in issue 11.)
 */
async function killTwiceMidBacklog(table: string, n: number): Promise<KillRun> {
  const topic = randomName('repl');
  const group = randomName('g');
  await createTopic(topic, 4);
  await produce(topic, events(n), 4);
  const env = sinkEnv(topic, table, group, {
    SLUICE_CLICKHOUSE_URL: CH_URL,
    SLUICE_BATCH_MAX_ROWS: '2000',
    SLUICE_BATCH_MAX_WAIT_MS: '600000',
    SLUICE_INSERT_CONCURRENCY: '2',
    SLUICE_KAFKA_SESSION_TIMEOUT_MS: '6000',
  });
  const blocksBefore = await duplicatedBlocks();
  const kills: KillRun['kills'] = [];
  for (const share of [0.25, 0.6]) {
    const sink = startSink(env);
    // Distinct ids, not rows: on a plain table re-written rows are no progress.
    await waitFor(`${share * 100}% of the ids`, async () => (await scalar(ch(), `SELECT uniqExact(id) FROM ${table}`)) >= n * share, 180_000, 20);
    await sink.stop('SIGKILL');
    await insertsSettled(ch(), table);
    kills.push({
      rows: await scalar(ch(), `SELECT count() FROM ${table}`),
      distinct: await scalar(ch(), `SELECT uniqExact(id) FROM ${table}`),
      committed: await committedTotal(group, topic),
    });
  }
  const last = startSink(env);
  // Started before it is stopped: the second run may have drained everything already.
  await last.waitForEvent('sink.started');
  await waitFor('every id', async () => (await scalar(ch(), `SELECT uniqExact(id) FROM ${table}`)) === n, 180_000);
  await waitFor('commits at the end', async () => (await committedTotal(group, topic)) === n, 180_000);
  expect(await last.stop()).toBe(0);
  return {
    kills,
    total: await scalar(ch(), `SELECT count() FROM ${table}`),
    distinct: await scalar(ch(), `SELECT uniqExact(id) FROM ${table}`),
    droppedBlocks: (await duplicatedBlocks()) - blocksBefore,
  };
}

/**
 * Rows written but not committed when the sink was killed: what a restart
 * writes again, at most (less when a later kill lands before the restart
 * has re-written all of them).
 */
const rewritten = (run: KillRun) => run.kills.reduce((sum, k) => sum + (k.distinct - k.committed), 0);

describe('the sink on a replicated table', () => {
  // 4 partitions × 24,000 records = 12 full 2,000-row windows each.
  const N = 96_000;

  it('lands every record exactly once after two SIGKILLs mid-backlog: count() = uniqExact(id) = produced', async () => {
    const table = randomName('repl_kill');
    await ch().command({ query: REPLICATED_DDL(table) });
    const run = await killTwiceMidBacklog(table, N);
    // droppedBlocks × 2,000 rows is what ClickHouse deduplicated: the
    // duplicates a plain table would have kept in this very run.
    console.log(`[replicated kill] rewritten ${rewritten(run)} ${JSON.stringify(run)}`);
    for (const k of run.kills) expect(k.committed).toBeLessThanOrEqual(k.rows);
    expect(run.distinct).toBe(N);
    expect(run.total).toBe(N);
  });

  it('control: the same scenario on a plain MergeTree loses nothing, and keeps the re-written batches as duplicates', async () => {
    const table = randomName('plain_kill');
    await ch().command({ query: EVENTS_DDL(table) });
    const run = await killTwiceMidBacklog(table, N);
    const duplicates = run.total - run.distinct;
    console.log(`[plain kill] duplicates ${duplicates} rewritten ${rewritten(run)} ${JSON.stringify(run)}`);
    expect(run.distinct).toBe(N);
    // Only what was written but not committed at a kill is written again.
    expect(duplicates).toBeGreaterThanOrEqual(0);
    expect(duplicates).toBeLessThanOrEqual(rewritten(run));
  });
});
