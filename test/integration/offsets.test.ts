/**
 * `sluice offsets` against the real local Kafka: a fresh 3-partition topic
 * whose records carry known timestamps (partition p holds 3 + p records at
 * t0 + i·1000 ms), a group whose offsets the test sets, and the command's
 * JSON output checked against the offsets those facts imply.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel, type Admin, type Consumer } from 'kafkajs';
import { offsetsCommand } from '../../src/cli/offsets.js';

const BROKERS = process.env.SLUICE_KAFKA_BROKERS ?? '127.0.0.1:9092';
const kafka = new Kafka({ clientId: 'offsets-test', brokers: BROKERS.split(','), logLevel: logLevel.NOTHING });
const topic = `offsets-${randomUUID().slice(0, 8)}`;
const group = `offsets-group-${randomUUID().slice(0, 8)}`;
// Kafka 4 rejects timestamps more than an hour ahead; an hour back keeps
// every record clear of that and of retention.
const t0 = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
const ends = [3, 4, 5];
let admin: Admin;

async function run(...args: string[]) {
  let out = '';
  let err = '';
  const code = await offsetsCommand(args, { out: (s) => (out += s), err: (s) => (err += s), env: { SLUICE_KAFKA_BROKERS: BROKERS } });
  return { code, out, err, json: () => JSON.parse(out) };
}

async function committed(): Promise<Array<number | null>> {
  const [entry] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return entry!.partitions
    .sort((a, b) => a.partition - b.partition)
    .map((p) => (Number(p.offset) >= 0 ? Number(p.offset) : null));
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  await producer.send({
    topic,
    messages: ends.flatMap((n, p) =>
      Array.from({ length: n }, (_, i) => ({ partition: p, value: `p${p}-r${i}`, timestamp: String(t0 + i * 1000) })),
    ),
  });
  await producer.disconnect();
  // p0 has two records unread, p1 is caught up, p2 was never committed.
  await admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '1' }, { partition: 1, offset: '4' }] });
});

afterAll(async () => {
  await admin.deleteGroups([group]).catch(() => {});
  await admin.deleteTopics({ topics: [topic] }).catch(() => {});
  await admin.disconnect();
});

describe('offsets lag', () => {
  it('reports committed, end, lag and the age of the last committed record per partition', async () => {
    const before = Date.now();
    const r = await run('lag', '--group', group, '--json');
    const after = Date.now();
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const report = r.json();
    const rows = report.partitions.filter((p: { topic: string }) => p.topic === topic);
    expect(rows.map((p: Record<string, unknown>) => [p.partition, p.committed, p.end, p.lag, p.lastCommittedTimestamp])).toEqual([
      [0, 1, 3, 2, t0], // last committed record is offset 0
      [1, 4, 4, 0, t0 + 3000], // offset 3
      [2, null, 5, 5, null], // nothing committed: lag from the earliest offset
    ]);
    // p0 is behind: its time lag is the age of its last committed record.
    expect(rows[0].timeLagMs).toBeGreaterThanOrEqual(before - rows[0].lastCommittedTimestamp);
    expect(rows[0].timeLagMs).toBeLessThanOrEqual(after - rows[0].lastCommittedTimestamp);
    // p1 is caught up: no time behind, however old its last record.
    expect(rows[1].timeLagMs).toBe(0);
    expect(rows[2].timeLagMs).toBeNull();
    expect(report.totalLag).toBe(7);
  });

  it('prints an aligned table with a totals line', async () => {
    const r = await run('lag', '--group', group, '--topic', topic);
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[1]).toMatch(/^TOPIC\s+PARTITION\s+COMMITTED\s+END\s+LAG\s+TIME LAG$/);
    expect(lines[4]).toMatch(new RegExp(`^${topic}\\s+2\\s+-\\s+5\\s+5\\s+-$`));
    expect(lines[5]).toMatch(/^TOTAL\s+7\s+1h\d\dm max$/);
    // Right-aligned numbers: every LAG cell ends in the same column.
    const lagEnd = lines[1]!.indexOf('LAG') + 3;
    for (const line of lines.slice(2)) expect(line.slice(0, lagEnd)).toMatch(/\d$/);
  });

  it('names an unknown topic and exits 1', async () => {
    const r = await run('lag', '--group', group, '--topic', `${topic}-missing`);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`unknown topic "${topic}-missing"`);
  });

  it('says when the group has committed nothing', async () => {
    const r = await run('lag', '--group', `${group}-nobody`);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`group "${group}-nobody" has no committed offsets`);
  });

  it('names the unreachable broker and exits 1', async () => {
    const r = await run('lag', '--group', group, '--brokers', '127.0.0.1:1');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot reach Kafka at 127\.0\.0\.1:1: .*ECONNREFUSED/);
  });
});

describe('offsets find', () => {
  const find = async (time: string) => {
    const r = await run('find', '--topic', topic, '--time', time, '--json');
    expect(r.code).toBe(0);
    return r.json().partitions.map((p: { offset: number; atEnd: boolean }) => [p.offset, p.atEnd]);
  };

  it('finds the first record at or after a time between records', async () => {
    expect(await find(String(t0 + 1500))).toEqual([[2, false], [2, false], [2, false]]);
    // 3500 ms is past every record of p0 and p1: their end offsets, marked.
    expect(await find(new Date(t0 + 3500).toISOString())).toEqual([[3, true], [4, true], [4, false]]);
  });

  it('counts a record exactly at the time', async () => {
    expect(await find(String(t0 + 2000))).toEqual([[2, false], [2, false], [2, false]]);
  });

  it('gives offset 0 before all records and the end after all', async () => {
    expect(await find(String(t0 - 60_000))).toEqual([[0, false], [0, false], [0, false]]);
    expect(await find(String(t0 + 60_000))).toEqual([[3, true], [4, true], [5, true]]);
  });
});

describe('offsets reset', () => {
  it('prints the plan and changes nothing without --execute', async () => {
    const r = await run('reset', '--group', group, '--topic', topic, '--to-time', String(t0 + 1500));
    expect(r.code).toBe(0);
    expect(r.out).toContain('DRY RUN');
    expect(r.out).toContain('partition 0: 1 → 2');
    expect(r.out).toContain('partition 1: 4 → 2');
    expect(r.out).toContain('partition 2: - → 2');
    expect(await committed()).toEqual([1, 4, null]);
  });

  it('applies --to-time with --execute', async () => {
    const r = await run('reset', '--group', group, '--topic', topic, '--to-time', String(t0 + 1500), '--execute', '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ executed: true, partitions: [{ partition: 0, from: 1, to: 2 }, { partition: 1, from: 4, to: 2 }, { partition: 2, from: null, to: 2 }] });
    expect(await committed()).toEqual([2, 2, 2]);
  });

  it('moves only the partitions named by --to-offset, and --to-latest to the ends', async () => {
    expect((await run('reset', '--group', group, '--topic', topic, '--to-offset', '1:3', '--execute')).code).toBe(0);
    expect(await committed()).toEqual([2, 3, 2]);
    expect((await run('reset', '--group', group, '--topic', topic, '--to-latest', '--execute')).code).toBe(0);
    expect(await committed()).toEqual(ends);
  });

  it('rejects an offset outside the log as a usage error', async () => {
    const r = await run('reset', '--group', group, '--topic', topic, '--to-offset', '0:99', '--execute');
    expect(r.code).toBe(2);
    expect(r.err).toContain('--to-offset: offset 99 for partition 0 is outside the log [0, 3]');
  });

  it('refuses while a consumer of the group runs, and succeeds once it has left', async () => {
    const consumer: Consumer = kafka.consumer({ groupId: group });
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    try {
      await consumer.connect();
      await consumer.subscribe({ topic });
      await consumer.run({ autoCommit: false, eachMessage: async () => {} });
      await withTimeout(joined, 60_000, 'consumer joining the group');

      // The plan is still shown while consumers run, with a warning.
      const dry = await run('reset', '--group', group, '--topic', topic, '--to-earliest');
      expect(dry.code).toBe(0);
      expect(dry.out).toContain('partition 2: 5 → 0');
      expect(dry.err).toContain(`warning: group "${group}" has 1 active member`);

      const refused = await run('reset', '--group', group, '--topic', topic, '--to-earliest', '--execute');
      expect(refused.code).toBe(2);
      expect(refused.err).toContain(`group "${group}" has 1 active member`);
      expect(await committed()).toEqual(ends);
    } finally {
      await consumer.disconnect();
    }

    const done = await run('reset', '--group', group, '--topic', topic, '--to-earliest', '--execute');
    expect(done.err).toBe('');
    expect(done.code).toBe(0);
    expect(done.out).toContain('APPLIED');
    expect(await committed()).toEqual([0, 0, 0]);
  });
});
