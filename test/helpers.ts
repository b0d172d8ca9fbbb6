/**
 * Test helpers for the integration tests: real Kafka and real ClickHouse
 * (started by scripts/services.sh), random names per test, the sink run as
 * a real child process of the built CLI, and polling waits that are bounded
 * by a deadline but never assert on how long something took.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { Kafka, logLevel, Partitioners, type Admin, type KafkaMessage, type Producer } from 'kafkajs';
import { afterAll, afterEach, beforeAll } from 'vitest';

export const BROKERS = ['127.0.0.1:9092'];
export const CLICKHOUSE_URL = 'http://127.0.0.1:8123';
const CLI = new URL('../dist/cli/index.js', import.meta.url).pathname;
const SERVICES = new URL('../scripts/services.sh', import.meta.url).pathname;

export function randomName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export const kafka = new Kafka({ brokers: BROKERS, clientId: 'sluice-tests', logLevel: logLevel.NOTHING, retry: { retries: 20, maxRetryTime: 5000 } });

export function clickhouse(): ClickHouseClient {
  return createClient({ url: CLICKHOUSE_URL, request_timeout: 60_000 });
}

/** A ClickHouse client for the test file's duration: call at the top of a file, use `ch()` in tests. */
export function useClickHouse(): () => ClickHouseClient {
  let client: ClickHouseClient | undefined;
  beforeAll(() => {
    client = clickhouse();
  });
  afterAll(async () => {
    await client?.close();
  });
  return () => client!;
}

/** A TCP port nothing listens on right now (for a sink's SLUICE_METRICS_PORT). */
export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** name{labels} → value, for every sample of a Prometheus exposition. */
export function metricSamples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** The sum of every sample of metric `name` (all label sets) on a sink's /metrics. */
export async function metricSum(port: number, name: string): Promise<number> {
  const samples = metricSamples(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  let sum = 0;
  for (const [key, v] of samples) if (key === name || key.startsWith(name + '{')) sum += v;
  return sum;
}

/** An admin client of the shared cluster, or of `on` (a private broker), for the length of `fn`. */
export async function withAdmin<T>(fn: (admin: Admin) => Promise<T>, on: Kafka = kafka): Promise<T> {
  const admin = on.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

export async function createTopic(topic: string, partitions: number): Promise<void> {
  await withAdmin((admin) => admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true }));
}

export async function createProducer(): Promise<Producer> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  return producer;
}

/** Produces `values` round-robin over `partitions` partitions, in chunks. */
export async function produce(topic: string, values: (string | Buffer | null)[], partitions: number, producer?: Producer): Promise<void> {
  const p = producer ?? (await createProducer());
  try {
    for (let i = 0; i < values.length; i += 5000) {
      const messages = values.slice(i, i + 5000).map((value, j) => ({ value, partition: (i + j) % partitions }));
      await p.send({ topic, messages, acks: -1 });
    }
  } finally {
    if (!producer) await p.disconnect();
  }
}

/** A standard event row: id is the completeness key. */
export function event(id: number): string {
  return JSON.stringify({ id, ts: '2026-11-25 10:00:00', user: `user${id % 997}`, amount: id * 0.25, kind: ['click', 'view', 'buy'][id % 3] });
}

export const EVENTS_DDL = (table: string) =>
  `CREATE TABLE ${table} (id UInt64, ts DateTime, user String, amount Float64, kind String) ENGINE = MergeTree ORDER BY id`;

export async function scalar(ch: ClickHouseClient, query: string): Promise<number> {
  const rs = await ch.query({ query, format: 'TabSeparated' });
  return Number((await rs.text()).trim());
}

export async function committedTotal(groupId: string, topic: string): Promise<number> {
  const offsets = await withAdmin((admin) => admin.fetchOffsets({ groupId, topics: [topic] }));
  return offsets[0]!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}

export async function committedByPartition(groupId: string, topic: string): Promise<Map<number, number>> {
  const offsets = await withAdmin((admin) => admin.fetchOffsets({ groupId, topics: [topic] }));
  return new Map(offsets[0]!.partitions.map((p) => [p.partition, Number(p.offset)]));
}

export async function endOffsets(topic: string): Promise<Map<number, number>> {
  const offsets = await withAdmin((admin) => admin.fetchTopicOffsets(topic));
  return new Map(offsets.map((p) => [p.partition, Number(p.high)]));
}

/** Polls `check` until it returns a truthy value or the deadline passes (then throws, naming `what`). */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 120_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Waits until ClickHouse runs no INSERT into `table` (so a count is final). */
export async function insertsSettled(ch: ClickHouseClient, table: string): Promise<void> {
  await waitFor(`inserts into ${table} to settle`, async () =>
    (await scalar(ch, `SELECT count() FROM system.processes WHERE query LIKE 'INSERT INTO%${table}%'`)) === 0,
  );
}

export interface SinkProcess {
  readonly proc: ChildProcess;
  readonly lines: Record<string, unknown>[];
  /** Resolves with the first log line whose event matches (and that passes `filter`). */
  waitForEvent(event: string, filter?: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

// A test that fails half-way must not leave its sink running into the next
// test (it would keep consuming and skew every later figure).
const running = new Set<ChildProcess>();
afterEach(() => {
  for (const p of running) p.kill('SIGKILL');
  running.clear();
});

/** Runs `sluice <command> [args]` from dist/ with exactly the given SLUICE_* env. */
export function startSink(env: Record<string, string>, command = 'run', args: readonly string[] = []): SinkProcess {
  const proc = spawn(process.execPath, [CLI, command, ...args], {
    env: { PATH: process.env.PATH ?? '', SLUICE_METRICS_PORT: '0', SLUICE_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  const lines: Record<string, unknown>[] = [];
  const waiters: { event: string; filter?: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  const onLine = (text: string) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { event: 'text', text };
    }
    lines.push(line);
    if (process.env.SLUICE_TEST_VERBOSE) process.stderr.write(text + '\n');
    for (const w of [...waiters]) {
      if (line.event === w.event && (!w.filter || w.filter(line))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  createInterface({ input: proc.stderr! }).on('line', onLine);
  createInterface({ input: proc.stdout! }).on('line', onLine);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    lines,
    exited,
    waitForEvent(event, filter, timeoutMs = 120_000) {
      const found = lines.find((l) => l.event === event && (!filter || filter(l)));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`sink did not log ${event} within ${timeoutMs} ms; last lines: ${JSON.stringify(lines.slice(-5))}`)), timeoutMs);
        waiters.push({ event, filter, resolve: (l) => (clearTimeout(timer), resolve(l)) });
        exited.then(() => setTimeout(() => reject(new Error(`sink exited before logging ${event}; last lines: ${JSON.stringify(lines.slice(-8))}`)), 100));
      });
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** The baseline env of a sink reading `topic` into `table`. */
export function sinkEnv(topic: string, table: string, group: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SLUICE_KAFKA_BROKERS: BROKERS.join(','),
    SLUICE_TOPICS: topic,
    SLUICE_TABLE: table,
    SLUICE_GROUP_ID: group,
    SLUICE_CLICKHOUSE_URL: CLICKHOUSE_URL,
    SLUICE_START_FROM: 'earliest',
    SLUICE_RETRY_INITIAL_MS: '100',
    SLUICE_RETRY_MAX_MS: '2000',
    ...extra,
  };
}

/**
 * A private Kafka + ClickHouse pair on other ports (under .local/private),
 * for tests that stop or restart a service: the shared pair stays up for
 * everything else.
 */
export const PRIVATE = {
  kafkaPort: 19092,
  /** SASL_SSL listener: PLAIN user sluice / sluice-secret, CA in caFile. */
  kafkaSaslSslPort: 19094,
  caFile: new URL('../.local/private/kafka/tls/ca.pem', import.meta.url).pathname,
  clickhouseHttpPort: 18123,
  clickhouseHttpsPort: 18443,
  clickhouseCaFile: new URL('../.local/private/clickhouse/tls/ca.pem', import.meta.url).pathname,
  env: {
    LOCAL_CH_HTTPS_PORT: '18443',
    LOCAL_KAFKA_SASL_SSL_PORT: '19094',
    LOCAL_SERVICES_DIR: new URL('../.local/private', import.meta.url).pathname,
    LOCAL_KAFKA_PORT: '19092',
    LOCAL_KAFKA_CONTROLLER_PORT: '19093',
    LOCAL_CH_HTTP_PORT: '18123',
    LOCAL_CH_TCP_PORT: '19000',
    // services.sh starts ClickHouse's ZooKeeper with it: not the shared pair's 2181
    LOCAL_ZK_PORT: '12181',
  },
};

/** `kill` is a crash (SIGKILL): see scripts/services.sh. */
export function privateServices(command: 'start' | 'stop' | 'restart' | 'kill', which: 'kafka' | 'clickhouse'): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', [SERVICES, command, which], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ...PRIVATE.env } });
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`private services.sh ${command} ${which} exited ${code}`))));
  });
}

/** Every message of `topic` from the beginning, once `expected` have arrived (a throwaway group; big fetches for big letters). */
export async function readMessages(topic: string, expected: number): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: randomName('reader'), maxBytesPerPartition: 4 << 20 });
  const out: KafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void out.push(message) });
    await waitFor(`${expected} messages on ${topic}`, () => out.length >= expected, 60_000);
  } finally {
    await consumer.disconnect();
  }
  return out;
}
