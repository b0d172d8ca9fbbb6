/**
 * `sluice replay` on the real services. Dead letters are produced straight
 * to a dead-letter topic with the headers the sink writes (HEADER names):
 * rows with an extra field `score` (unknown field, code 117, until a
 * migration adds the column) and rows with `id: "not-a-number"` (never
 * valid). The runs check what lands in ClickHouse (each id exactly once),
 * what the dead-letter topic holds afterwards (originals plus one copy per
 * still-failing letter per run), the replay group's committed offsets, the
 * summary and the exit code. Most runs call replayCommand in-process; one
 * goes through the built dist/cli/index.js (run `npm run build` first).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { IHeaders, KafkaMessage } from 'kafkajs';
import { HEADER } from '../../src/dlq/dead-letters.js';
import { REPLAY_ATTEMPTS_HEADER, replay as replayRun, type ReplayProgress, type ReplaySummary } from '../../src/dlq/replay.js';
import { parseReplayArgs, replayCommand } from '../../src/cli/replay.js';
import {
  BROKERS,
  CLICKHOUSE_URL,
  clickhouse,
  committedByPartition,
  createProducer,
  createTopic,
  endOffsets,
  kafka,
  randomName,
  scalar,
  waitFor,
  withAdmin,
} from '../helpers.js';

const CLI = new URL('../../dist/cli/index.js', import.meta.url).pathname;
// The sink's environment: replay writes only to its SLUICE_TABLE (SLUICE_TOPICS for --to-source); each test sets them.
const ENV: Record<string, string> = { SLUICE_KAFKA_BROKERS: BROKERS.join(','), SLUICE_CLICKHOUSE_URL: CLICKHOUSE_URL };
const DDL = (table: string) => `CREATE TABLE ${table} (id UInt64, name String) ENGINE = MergeTree ORDER BY id`;
// Kafka 4 refuses timestamps an hour or more ahead; an hour back keeps clear of that.
const T0 = Date.now() - 3_600_000;

let ch: ClickHouseClient;
beforeAll(() => {
  ch = clickhouse();
});
afterAll(async () => {
  await ch.close();
});

interface LetterSpec {
  value: string;
  /** Dead-letter partition; also used as the source partition. */
  partition: number;
  sourceOffset: number;
  table: string;
  code: number;
  extraHeaders?: IHeaders;
  failedAt?: number;
}

/** The headers `createDeadLetterSink` writes for a rejected record. */
function letterHeaders(source: string, l: LetterSpec): IHeaders {
  return {
    ...l.extraHeaders,
    [HEADER.topic]: source,
    [HEADER.partition]: String(l.partition),
    [HEADER.offset]: String(l.sourceOffset),
    [HEADER.timestamp]: String(T0 + l.sourceOffset),
    [HEADER.table]: l.table,
    [HEADER.errorClass]: 'rejected',
    [HEADER.errorCode]: String(l.code),
    [HEADER.errorMessage]: l.code === 117 ? 'Code: 117, e.displayText() = DB::Exception: Unknown field found while parsing JSONEachRow format: score' : 'Code: 27, Cannot parse input',
    [HEADER.version]: '0.1.0',
    [HEADER.failedAt]: new Date(l.failedAt ?? T0 + 1000).toISOString(),
  };
}

/** Produces the letters in sends of `perSend` (each send is at least one record batch on the broker). */
async function produceLetters(dlq: string, source: string, letters: LetterSpec[], perSend = letters.length): Promise<void> {
  const producer = await createProducer();
  try {
    for (let i = 0; i < letters.length; i += perSend) {
      await producer.send({
        topic: dlq,
        acks: -1,
        messages: letters.slice(i, i + perSend).map((l) => ({
          partition: l.partition,
          key: `k${l.sourceOffset}`,
          value: l.value,
          timestamp: String(T0 + l.sourceOffset),
          headers: letterHeaders(source, l),
        })),
      });
    }
  } finally {
    await producer.disconnect();
  }
}

/** `score` rows (good once the column exists) and wrong-type rows, alternating over two partitions. */
function letters(table: string, scoreIds: number[], badIds: number[]): LetterSpec[] {
  const all = [
    ...scoreIds.map((id) => ({ value: JSON.stringify({ id, name: `n${id}`, score: id * 10 }), code: 117, id })),
    ...badIds.map((id) => ({ value: JSON.stringify({ id: 'not-a-number', name: `n${id}` }), code: 27, id })),
  ];
  return all.map((l) => ({ value: l.value, partition: l.id % 2, sourceOffset: l.id, table, code: l.code }));
}

/** Every record of `topic` up to its current end, with its partition. */
async function readTopic(topic: string): Promise<Array<KafkaMessage & { partition: number }>> {
  const ends = await endOffsets(topic);
  const total = [...ends.values()].reduce((a, b) => a + b, 0);
  const groupId = randomName('reader');
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  const out: Array<KafkaMessage & { partition: number }> = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message, partition }) => void out.push({ ...message, partition }) });
  try {
    await waitFor(`${total} records on ${topic}`, () => out.length >= total, 60_000);
  } finally {
    await consumer.disconnect();
    await withAdmin((a) => a.deleteGroups([groupId])).catch(() => {});
  }
  return out;
}

const header = (m: KafkaMessage, k: string) => m.headers?.[k]?.toString();

async function replay(...args: string[]) {
  return replayWith(false, args);
}

async function replayWith(isTTY: boolean, args: string[]) {
  let out = '';
  let err = '';
  const code = await replayCommand(args, { out: (s) => (out += s), err: (s) => (err += s), env: ENV, isTTY });
  return { code, out, err, summary: () => JSON.parse(out) as ReplaySummary };
}

/** `node dist/cli/index.js replay ...args`, as on-call would run it. */
function replayCli(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, 'replay', ...args], { env: { PATH: process.env.PATH ?? '', ...ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d));
    proc.stderr.on('data', (d: Buffer) => (err += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 120_000);
    proc.once('error', reject);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

async function ids(table: string): Promise<number[]> {
  const rs = await ch.query({ query: `SELECT id FROM ${table} ORDER BY id`, format: 'JSONEachRow' });
  return ((await rs.json()) as Array<{ id: string }>).map((r) => Number(r.id));
}

async function committed(group: string, topic: string): Promise<number[]> {
  const c = await committedByPartition(group, topic);
  return [...c].sort((a, b) => a[0] - b[0]).map(([, o]) => o);
}

async function setup(partitions: number) {
  const source = randomName('replay_src');
  const table = randomName('replay_t');
  const dlq = `${source}.dlq`;
  await createTopic(source, partitions);
  await createTopic(dlq, partitions);
  await ch.command({ query: DDL(table) });
  ENV.SLUICE_TOPICS = source;
  ENV.SLUICE_TABLE = table;
  return { source, table, dlq, group: `sluice-replay-${dlq}` };
}

describe('sluice replay', () => {
  it('re-dead-letters what still fails, lands the rest exactly once after the fix, and a re-run adds nothing', async () => {
    expect(existsSync(CLI), 'dist/cli/index.js missing: run `npm run build` first').toBe(true);
    const { source, table, dlq, group } = await setup(2);
    const scoreIds = [1, 2, 3, 4, 5, 6];
    const badIds = [7, 8, 9, 10];
    await produceLetters(dlq, source, letters(table, scoreIds, badIds));
    const originals = await readTopic(dlq);
    expect(originals).toHaveLength(10);

    // Before the fix: nothing lands; every letter goes back once, the group moves past the originals.
    const first = await replay('--topic', source, '--json');
    expect(first.code).toBe(1);
    expect(first.err).toBe('');
    expect(first.summary()).toMatchObject({ read: 10, selected: 10, replayed: 0, stillFailing: 10, skippedByFilter: 0, notDeadLetters: 0 });
    const errors = first.summary().stillFailingByError;
    // Decoded as the sink decodes them (typed rows): both kinds fail in
    // sluice, before any insert, as class invalid.
    expect(errors.map((e) => [e.code, e.errorClass, e.count])).toEqual([[null, 'invalid', 10]]);
    expect(errors[0]!.example).toMatch(/score|column id/);
    expect(await ids(table)).toEqual([]);
    expect([...(await endOffsets(dlq))].sort()).toEqual([[0, 10], [1, 10]]);
    expect(await committed(group, dlq)).toEqual([5, 5]);

    const afterFirst = await readTopic(dlq);
    const copies = afterFirst.filter((m) => header(m, REPLAY_ATTEMPTS_HEADER) !== undefined);
    expect(copies).toHaveLength(10);
    for (const copy of copies) {
      const original = originals.find((o) => header(o, HEADER.offset) === header(copy, HEADER.offset))!;
      expect(copy.value!.equals(original.value!)).toBe(true);
      expect(copy.key!.equals(original.key!)).toBe(true);
      expect(copy.timestamp).toBe(original.timestamp);
      expect(copy.partition).toBe(original.partition);
      expect(header(copy, REPLAY_ATTEMPTS_HEADER)).toBe('1');
      for (const k of [HEADER.topic, HEADER.partition, HEADER.table, HEADER.timestamp]) expect(header(copy, k)).toBe(header(original, k));
      // The new error: found by sluice's decoding this time, no server code.
      expect(header(copy, HEADER.errorClass)).toBe('invalid');
      expect(header(copy, HEADER.errorCode)).toBe('');
      expect(Date.parse(header(copy, HEADER.failedAt)!)).toBeGreaterThan(Date.parse(header(original, HEADER.failedAt)!));
    }

    // The migration: the `score` letters land exactly once, the wrong-type ones go back again.
    await ch.command({ query: `ALTER TABLE ${table} ADD COLUMN score Int32` });
    const second = await replay('--dlq-topic', dlq, '--json');
    expect(second.code).toBe(1);
    expect(second.summary()).toMatchObject({ read: 10, selected: 10, replayed: 6, stillFailing: 4 });
    expect(second.summary().stillFailingByError.map((e) => [e.code, e.errorClass, e.count])).toEqual([[null, 'invalid', 4]]);
    expect(second.summary().stillFailingByError[0]!.example).toContain('column id');
    expect(await ids(table)).toEqual(scoreIds);
    expect(await scalar(ch, `SELECT sum(score) FROM ${table}`)).toBe(210);
    expect(await committed(group, dlq)).toEqual([10, 10]);
    const afterSecond = await readTopic(dlq);
    expect(afterSecond).toHaveLength(24);
    expect(afterSecond.filter((m) => header(m, REPLAY_ATTEMPTS_HEADER) === '2').map((m) => JSON.parse(m.value!.toString()).name).sort()).toEqual(
      ['n10', 'n7', 'n8', 'n9'],
    );

    // Third run, through the real CLI: nothing new lands, no duplicate rows, still failing reported.
    const third = await replayCli('--topic', source, '--json');
    expect(third.code, third.err).toBe(1);
    expect(JSON.parse(third.out)).toMatchObject({ selected: 4, replayed: 0, stillFailing: 4 });
    expect(await ids(table)).toEqual(scoreIds);
    expect(await committed(group, dlq)).toEqual([12, 12]);

    // The text summary, as on-call sees it.
    const text = await replayCli('--topic', source);
    expect(text.code).toBe(1);
    expect(text.out).toMatch(/still failing\s+4\s+produced again to/);
    expect(text.out).toContain('invalid');
    console.log(`[replay test] summary of a real run:\n${text.out}`);
  });

  it('a filtered run lands only what it selects and keeps the rest for a later run; an interrupted range continues', async () => {
    const { source, table, dlq, group } = await setup(1);
    const other = randomName('replay_t');
    await ch.command({ query: DDL(other) });
    // A sink writing both tables, from two topics (the second one only for the mapping).
    ENV.SLUICE_TOPICS = `${source},${source}_b`;
    ENV.SLUICE_TABLE = `${source}:${table},${source}_b:${other}`;
    const mine = [1, 2, 3, 4].map((id) => ({ value: JSON.stringify({ id, name: `n${id}` }), partition: 0, sourceOffset: id, table, code: 117 }));
    const theirs = [5, 6].map((id) => ({ value: JSON.stringify({ id, name: `n${id}` }), partition: 0, sourceOffset: id, table: other, code: 53 }));
    await produceLetters(dlq, source, [mine[0]!, theirs[0]!, mine[1]!, theirs[1]!, mine[2]!, mine[3]!]);

    // Only up to offset 2 (inclusive), only `table`: ids 1 and 2 land; 5 (offset 1) moves to the end.
    const partial = await replay('--dlq-topic', dlq, '--table', table, '--to-offset', '2', '--json');
    expect(partial.code, partial.err).toBe(0);
    expect(partial.summary()).toMatchObject({ read: 3, selected: 2, replayed: 2, skippedByFilter: 1, deferred: 1 });
    expect(await committed(group, dlq)).toEqual([3]);
    expect(await ids(table)).toEqual([1, 2]);

    // A start past what the group has replayed is refused: it would hide offsets 3..4.
    const refused = await replay('--dlq-topic', dlq, '--from-offset', '0:5');
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/^sluice replay: --from-offset: partition 0: starting at 5 .* offsets 3\.\.4/);

    // Filtered by error code: 6 (code 53) is skipped and kept, 3 and 4 (code 117) land.
    const byCode = await replay('--dlq-topic', dlq, '--error-code', '117', '--json');
    expect(byCode.summary()).toMatchObject({ selected: 2, replayed: 2, skippedByFilter: 2, deferred: 2 });
    expect(await ids(table)).toEqual([1, 2, 3, 4]);

    // No filter: the kept letters (5 and 6) land in their own table, each once.
    const rest = await replay('--dlq-topic', dlq, '--json');
    expect(rest.code, rest.err).toBe(0);
    expect(rest.summary()).toMatchObject({ selected: 2, replayed: 2, stillFailing: 0, skippedByFilter: 0 });
    expect(await ids(other)).toEqual([5, 6]);
    expect(await ids(table)).toEqual([1, 2, 3, 4]);

    const done = await replay('--dlq-topic', dlq, '--json');
    expect(done.code).toBe(0);
    expect(done.summary()).toMatchObject({ read: 0, selected: 0, replayed: 0 });
  });

  it('stops at a table that needs an operator, keeps what it committed, and a re-run after the fix lands the rest once', async () => {
    const { source, table, dlq, group } = await setup(1);
    const missing = randomName('replay_t');
    // Configured but not created yet: a missing table that needs an operator, not a forged one.
    ENV.SLUICE_TOPICS = `${source},${source}_b`;
    ENV.SLUICE_TABLE = `${source}:${table},${source}_b:${missing}`;
    const spec = (id: number, t: string) => ({ value: JSON.stringify({ id, name: `n${id}` }), partition: 0, sourceOffset: id, table: t, code: 60 });
    await produceLetters(dlq, source, [spec(1, table), spec(2, table), spec(3, missing), spec(4, table)]);

    // One letter per chunk: 1 and 2 land and are committed; the missing table stops the run at 3.
    const stopped = await replay('--dlq-topic', dlq, '--batch-rows', '1', '--json');
    expect(stopped.code).toBe(1);
    expect(stopped.err).toContain(`table "${missing}"`);
    expect(stopped.err).toMatch(/Code: 60/);
    expect(stopped.summary()).toMatchObject({ replayed: 2, stillFailing: 0 });
    expect(await committed(group, dlq)).toEqual([2]);
    expect(await ids(table)).toEqual([1, 2]);
    expect(await endOffsets(dlq)).toEqual(new Map([[0, 4]]));

    await ch.command({ query: DDL(missing) });
    const resumed = await replayWith(true, ['--dlq-topic', dlq, '--batch-rows', '1']);
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.err.endsWith('[####################] 2/2 replayed 2 still failing 0\n')).toBe(true);
    expect(resumed.out).toMatch(/replayed\s+2\n/);
    expect(await ids(table)).toEqual([1, 2, 4]);
    expect(await ids(missing)).toEqual([3]);
    expect(await committed(group, dlq)).toEqual([4]);
  });

  it('reads a topic that takes many fetches and many chunks, each letter resolved once', async () => {
    const { source, table, dlq, group } = await setup(1);
    await ch.command({ query: `ALTER TABLE ${table} ADD COLUMN score Int32` });
    const all = Array.from({ length: 300 }, (_, i) => i + 1);
    const bad = all.filter((id) => id % 10 === 0);
    const specs = letters(table, all.filter((id) => id % 10 !== 0), bad).map((l) => ({ ...l, partition: 0 }));
    // 30 record batches of ~10 letters; a 2 KiB fetch holds about two of them.
    await produceLetters(dlq, source, specs, 10);

    const parsed = parseReplayArgs(['--dlq-topic', dlq, '--batch-rows', '25'], ENV);
    if (parsed.command !== 'replay') throw new Error('unreachable');
    const { json: _json, command: _command, ...opts } = parsed;
    const progress: ReplayProgress[] = [];
    const summary = await replayRun({ ...opts, maxFetchBytes: 2048 }, { onProgress: (p) => progress.push(p) });

    expect(summary).toMatchObject({ read: 300, selected: 300, replayed: 270, stillFailing: 30 });
    expect(await scalar(ch, `SELECT count() FROM ${table}`)).toBe(270);
    expect(await scalar(ch, `SELECT uniqExact(id) FROM ${table}`)).toBe(270);
    expect(await scalar(ch, `SELECT countIf(id % 10 = 0) FROM ${table}`)).toBe(0);
    expect(await committed(group, dlq)).toEqual([300]);
    expect(await endOffsets(dlq)).toEqual(new Map([[0, 330]]));
    // Progress only moves forward and ends at the total.
    expect(progress.length).toBeGreaterThan(10);
    expect(progress.every((p, i) => i === 0 || p.done >= progress[i - 1]!.done)).toBe(true);
    expect(progress[progress.length - 1]).toEqual({ done: 300, total: 300, replayed: 270, stillFailing: 30 });
  });

  it('--to-source republishes the records with their own headers to their source partitions', async () => {
    const { source, table, dlq, group } = await setup(2);
    const specs = letters(table, [1, 2, 3, 4], []).map((l) => ({ ...l, extraHeaders: { 'trace-id': `t${l.sourceOffset}` } }));
    await produceLetters(dlq, source, specs);

    const r = await replay('--dlq-topic', dlq, '--to-source', '--json');
    expect(r.code, r.err).toBe(0);
    expect(r.summary()).toMatchObject({ toSource: true, selected: 4, replayed: 4, stillFailing: 0 });
    expect(await committed(group, dlq)).toEqual([2, 2]);

    const republished = await readTopic(source);
    expect(republished).toHaveLength(4);
    for (const m of republished) {
      const id = JSON.parse(m.value!.toString()).id as number;
      expect(m.partition).toBe(id % 2);
      expect(m.key!.toString()).toBe(`k${id}`);
      expect(Number(m.timestamp)).toBe(T0 + id);
      expect(Object.keys(m.headers ?? {})).toEqual(['trace-id']);
      expect(header(m, 'trace-id')).toBe(`t${id}`);
    }
    expect(await ids(table)).toEqual([]);
  });

  it('--dry-run reports what would be replayed and changes nothing', async () => {
    const { source, table, dlq, group } = await setup(2);
    await produceLetters(dlq, source, letters(table, [1, 2, 3], [4]));
    await ch.command({ query: `ALTER TABLE ${table} ADD COLUMN score Int32` });

    const r = await replay('--topic', source, '--dry-run', '--json');
    expect(r.code, r.err).toBe(0);
    expect(r.summary()).toMatchObject({ dryRun: true, read: 4, selected: 4, replayed: 4, stillFailing: 0 });
    expect(r.summary().selectedByError.map((e) => [e.code, e.count])).toEqual([[117, 3], [27, 1]]);
    const filtered = await replay('--topic', source, '--dry-run', '--error-code', '27', '--json');
    expect(filtered.summary()).toMatchObject({ selected: 1, skippedByFilter: 3, deferred: 3 });

    expect(await ids(table)).toEqual([]);
    expect([...(await endOffsets(dlq))].sort()).toEqual([[0, 2], [1, 2]]);
    expect(await committed(group, dlq)).toEqual([-1, -1]);
    const state = await withAdmin((a) => a.describeGroups([group]));
    expect(state.groups[0]!.state).toBe('Dead');
  });
});
