/**
 * Issue #2 end to end, on the real local Kafka and ClickHouse: every record
 * lands exactly once, offsets are committed to the end and never past what
 * is written, and a SIGKILL loses nothing.
 */
import { describe, expect, it } from 'vitest';
import {
  freePort,
  metricSum,
  withAdmin,
  useClickHouse,
  EVENTS_DDL,
  committedByPartition,
  committedTotal,
  createTopic,
  endOffsets,
  event,
  insertsSettled,
  produce,
  randomName,
  scalar,
  sinkEnv,
  startSink,
  waitFor,
} from '../helpers.js';

const client = useClickHouse();

const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => event(from + i));

describe('core sink', () => {
  it('lands 200,000 records over 8 partitions exactly once and commits to the end offsets', async () => {
    const topic = randomName('core');
    const table = randomName('core');
    const group = randomName('g');
    const N = 200_000;
    await createTopic(topic, 8);
    await client().command({ query: EVENTS_DDL(table) });
    await produce(topic, ids(N), 8);

    const sink = startSink(sinkEnv(topic, table, group));
    await waitFor('all rows', async () => (await scalar(client(), `SELECT count() FROM ${table}`)) >= N);
    const ends = await endOffsets(topic);
    await waitFor('commits to reach the end offsets', async () => {
      const committed = await committedByPartition(group, topic);
      return [...ends].every(([p, end]) => committed.get(p) === end);
    });
    expect(await sink.stop()).toBe(0);

    expect(await scalar(client(), `SELECT count() FROM ${table}`)).toBe(N);
    expect(await scalar(client(), `SELECT uniqExact(id) FROM ${table}`)).toBe(N);
    expect(await scalar(client(), `SELECT min(id) FROM ${table}`)).toBe(0);
    expect(await scalar(client(), `SELECT max(id) FROM ${table}`)).toBe(N - 1);
    const committed = await committedByPartition(group, topic);
    expect([...committed.entries()].sort()).toEqual([...ends.entries()].sort());
    expect(sink.lines.some((l) => l.event === 'sink.stopped' && l.clean === true)).toBe(true);
  });

  it('commits nothing past what is written while the table is missing, and lands everything once it is back', async () => {
    const topic = randomName('outage');
    const table = randomName('outage');
    const group = randomName('g');
    await createTopic(topic, 4);
    await client().command({ query: EVENTS_DDL(table) });
    const port = await freePort();
    const sink = startSink(sinkEnv(topic, table, group, { SLUICE_BATCH_MAX_WAIT_MS: '100', SLUICE_METRICS_PORT: String(port) }));
    await sink.waitForEvent('sink.started');

    await produce(topic, ids(1000), 4);
    await waitFor('first 1,000 committed', async () => (await committedTotal(group, topic)) === 1000);

    // The table disappears (a migration gone wrong); records keep arriving.
    await client().command({ query: `RENAME TABLE ${table} TO ${table}_hidden` });
    await produce(topic, ids(5000, 1000), 4);
    // A person must act: one error line per partition, then quiet retries (counted).
    await sink.waitForEvent('insert.failing', (l) => l.kind === 'fatal' && l.level === 'error');
    // Several more failed attempts, then check: nothing committed beyond the first 1,000.
    await waitFor('repeated retries', async () => (await metricSum(port, 'sluice_retries_total')) >= 6);
    expect(sink.lines.filter((l) => l.event === 'insert.failing').length).toBeLessThanOrEqual(4);
    expect(await committedTotal(group, topic)).toBe(1000);
    expect(sink.proc.exitCode).toBeNull();

    await client().command({ query: `RENAME TABLE ${table}_hidden TO ${table}` });
    await waitFor('all 6,000 rows', async () => (await scalar(client(), `SELECT uniqExact(id) FROM ${table}`)) === 6000);
    await waitFor('all 6,000 committed', async () => (await committedTotal(group, topic)) === 6000);
    expect(await sink.stop()).toBe(0);
    expect(await scalar(client(), `SELECT count() FROM ${table}`)).toBe(6000);
  });

  it('loses nothing when killed with SIGKILL mid-stream; duplicates are bounded by written-but-uncommitted rows', async () => {
    const topic = randomName('kill');
    const table = randomName('kill');
    const group = randomName('g');
    const N = 100_000;
    await createTopic(topic, 4);
    await client().command({ query: EVENTS_DDL(table) });
    await produce(topic, ids(N), 4);

    // Small batches so the kill lands between many commits.
    const env = sinkEnv(topic, table, group, { SLUICE_BATCH_MAX_ROWS: '2000', SLUICE_INSERT_CONCURRENCY: '2', SLUICE_KAFKA_SESSION_TIMEOUT_MS: '6000' });
    const first = startSink(env);
    await waitFor('a quarter of the rows', async () => (await scalar(client(), `SELECT count() FROM ${table}`)) >= N / 4, 120_000, 20);
    await first.stop('SIGKILL');
    await insertsSettled(client(), table);
    const rowsAtKill = await scalar(client(), `SELECT count() FROM ${table}`);
    const committedAtKill = await committedTotal(group, topic);
    expect(committedAtKill).toBeLessThanOrEqual(rowsAtKill);

    const second = startSink(env);
    await waitFor('every id', async () => (await scalar(client(), `SELECT uniqExact(id) FROM ${table}`)) === N);
    await waitFor('commits at the end', async () => (await committedTotal(group, topic)) === N);
    expect(await second.stop()).toBe(0);
    const total = await scalar(client(), `SELECT count() FROM ${table}`);
    const duplicates = total - N;
    console.log(`[kill test] rows at kill ${rowsAtKill}, committed at kill ${committedAtKill}, duplicates ${duplicates}`);
    expect(duplicates).toBeGreaterThanOrEqual(0);
    expect(duplicates).toBeLessThanOrEqual(rowsAtKill - committedAtKill);
  });
});

describe('shutdown', () => {
  it('SIGTERM flushes what is buffered, commits it, leaves the group and exits 0', async () => {
    const topic = randomName('term');
    const table = randomName('term');
    const group = randomName('g');
    const port = await freePort();
    await createTopic(topic, 2);
    await client().command({ query: EVENTS_DDL(table) });
    // Batches that would only flush after ten minutes: the records sit in the buffer.
    const sink = startSink(sinkEnv(topic, table, group, { SLUICE_BATCH_MAX_WAIT_MS: '600000', SLUICE_METRICS_PORT: String(port) }));
    await sink.waitForEvent('sink.started');
    await produce(topic, ids(3000), 2);
    await waitFor('all 3,000 records buffered', async () => (await metricSum(port, 'sluice_records_consumed_total')) === 3000);
    expect(await metricSum(port, 'sluice_buffered_bytes')).toBeGreaterThan(0);
    expect(await scalar(client(), `SELECT count() FROM ${table}`)).toBe(0);
    expect(await committedTotal(group, topic)).toBe(0);

    expect(await sink.stop('SIGTERM')).toBe(0);
    expect(sink.lines.find((l) => l.event === 'sink.stopped')?.clean).toBe(true);
    expect(await scalar(client(), `SELECT uniqExact(id) FROM ${table}`)).toBe(3000);
    expect(await scalar(client(), `SELECT count() FROM ${table}`)).toBe(3000);
    expect(await committedTotal(group, topic)).toBe(3000);
    // It left the group rather than waiting out the session timeout.
    const state = await withAdmin(async (admin) => (await admin.describeGroups([group])).groups[0]!);
    expect(state.members).toHaveLength(0);
  });

  it('gives up after SLUICE_SHUTDOWN_TIMEOUT_MS when it cannot write, exits 1, and commits nothing unwritten', async () => {
    const topic = randomName('deadline');
    const table = randomName('deadline');
    const group = randomName('g');
    await createTopic(topic, 1);
    await client().command({ query: EVENTS_DDL(table) });
    const sink = startSink(sinkEnv(topic, table, group, { SLUICE_SHUTDOWN_TIMEOUT_MS: '2000', SLUICE_BATCH_MAX_WAIT_MS: '100' }));
    await sink.waitForEvent('sink.started');
    await client().command({ query: `RENAME TABLE ${table} TO ${table}_away` });
    await produce(topic, ids(500), 1);
    await sink.waitForEvent('insert.failing');
    expect(await sink.stop('SIGTERM')).toBe(1);
    expect(sink.lines.some((l) => l.event === 'sink.shutdown_timeout')).toBe(true);
    expect(await committedTotal(group, topic)).toBe(0);
  });

  it('a second signal exits at once', async () => {
    const topic = randomName('twice');
    const table = randomName('twice');
    await createTopic(topic, 1);
    await client().command({ query: EVENTS_DDL(table) });
    const sink = startSink(sinkEnv(topic, table, randomName('g'), { SLUICE_SHUTDOWN_TIMEOUT_MS: '600000' }));
    await sink.waitForEvent('sink.started');
    await client().command({ query: `RENAME TABLE ${table} TO ${table}_away` });
    await produce(topic, ids(10), 1);
    await sink.waitForEvent('insert.failing');
    sink.proc.kill('SIGTERM');
    await sink.waitForEvent('sink.stopping');
    sink.proc.kill('SIGTERM');
    expect(await sink.exited).toBe(130);
    expect(sink.lines.some((l) => l.event === 'sink.forced_exit')).toBe(true);
  });
});
