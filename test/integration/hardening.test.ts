/**
 * Issue 16, items 3–5, on the real services: forged dead letters cannot
 * choose where `sluice replay` writes (and cannot stop it, nor put escape
 * sequences on the operator's terminal); /readyz during a real ClickHouse
 * rejection stall says what kind of failure, not the rows' content; and a
 * password full of URL delimiters appears nowhere in what `sluice run`,
 * `sluice replay` and `sluice offsets` print or log.
 *
 * Replay runs go through the built CLI (dist/cli/index.js: run `npm run
 * build` first), as an operator would run them; the sink runs as a child
 * process (helpers.ts startSink).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { IHeaders } from 'kafkajs';
import { HEADER } from '../../src/dlq/dead-letters.js';
import type { ReplaySummary } from '../../src/dlq/replay.js';
import {
  BROKERS,
  CLICKHOUSE_URL,
  committedByPartition,
  createProducer,
  createTopic,
  endOffsets,
  freePort,
  produce,
  randomName,
  scalar,
  sinkEnv,
  startSink,
  useClickHouse,
  waitFor,
} from '../helpers.js';

const CLI = new URL('../../dist/cli/index.js', import.meta.url).pathname;
const ch = useClickHouse();
const DDL = (table: string) => `CREATE TABLE ${table} (id UInt64, name String) ENGINE = MergeTree ORDER BY id`;
// Kafka 4 refuses timestamps an hour or more ahead; an hour back keeps clear of that.
const T0 = Date.now() - 3_600_000;
// Terminal escapes a forged header could carry: clear screen, colours, window title (OSC 0), a hyperlink (OSC 8), 8-bit CSI.
const ESCAPES = '\x1b[2J\x1b[31m\x1b]0;pwned\x07\x1b]8;;http://evil.example\x1b\\x\x1b]8;;\x1b\\\x9b1m';
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/;

interface Letter {
  id: number;
  table: string;
  source: string;
  sourcePartition?: number;
  message?: string;
}

async function produceLetters(dlq: string, letters: Letter[]): Promise<void> {
  const producer = await createProducer();
  try {
    await producer.send({
      topic: dlq,
      acks: -1,
      messages: letters.map((l) => ({
        partition: 0,
        key: `k${l.id}`,
        value: JSON.stringify({ id: l.id, name: `n${l.id}` }),
        timestamp: String(T0 + l.id),
        headers: {
          [HEADER.topic]: l.source,
          [HEADER.partition]: String(l.sourcePartition ?? 0),
          [HEADER.offset]: String(l.id),
          [HEADER.timestamp]: String(T0 + l.id),
          [HEADER.table]: l.table,
          [HEADER.errorClass]: 'rejected',
          [HEADER.errorCode]: '60',
          [HEADER.errorMessage]: l.message ?? 'Code: 60, e.displayText() = DB::Exception: Table does not exist',
          [HEADER.version]: '0.1.0',
          [HEADER.failedAt]: new Date(T0 + 1000).toISOString(),
        } satisfies IHeaders,
      })),
    });
  } finally {
    await producer.disconnect();
  }
}

/** `node dist/cli/index.js <args>` with exactly `env` (plus PATH). */
function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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

const ids = async (table: string) =>
  (await (await ch().query({ query: `SELECT id FROM ${table} ORDER BY id`, format: 'JSONEachRow' })).json<{ id: string }>()).map((r) => Number(r.id));

async function setup() {
  const source = randomName('harden_src');
  const dlq = `${source}.dlq`;
  const table = randomName('harden_t');
  await createTopic(source, 1);
  await createTopic(dlq, 1);
  await ch().command({ query: DDL(table) });
  const env = { SLUICE_KAFKA_BROKERS: BROKERS.join(','), SLUICE_CLICKHOUSE_URL: CLICKHOUSE_URL, SLUICE_TOPICS: source, SLUICE_TABLE: table };
  return { source, dlq, table, env, group: `sluice-replay-${dlq}` };
}

describe('forged dead letters', () => {
  it('a letter naming an unconfigured table is reported and never written; copies wait for a run that trusts it; headers print as plain text', async () => {
    expect(existsSync(CLI), 'dist/cli/index.js missing: run `npm run build` first').toBe(true);
    const { source, dlq, table, env, group } = await setup();
    // A real table the sink does not write: the forged letter's target.
    const victim = randomName('harden_victim');
    await ch().command({ query: DDL(victim) });
    await produceLetters(dlq, [
      { id: 1, table, source, message: `Code: 60${ESCAPES} forged message` },
      { id: 2, table: victim, source },
      { id: 3, table: `evil${ESCAPES}`, source },
      { id: 4, table, source },
    ]);

    // A dry run prints the recorded errors (header text) and the untrusted reasons: no control character reaches the terminal.
    const dry = await cli(['replay', '--topic', source, '--dry-run'], env);
    expect(dry.code, dry.err).toBe(0);
    expect(dry.out).not.toMatch(CONTROL);
    expect(dry.err).not.toMatch(CONTROL);
    expect(dry.out).toMatch(/\n {2}untrusted +2 {2}never written: destination not configured; 2 would be moved to the end/);
    expect(dry.out).toContain(`table "${victim}" is not configured (SLUICE_TABLE, --table)`);
    expect(dry.out).toContain('table "evilx" is not configured');
    expect(dry.out).toContain('Code: 60x forged message');
    console.log(`[hardening] dry run with forged letters:\n${dry.out}`);

    // The real run: the two good letters land, nothing reaches the victim, the forged ones move to the end.
    const first = await cli(['replay', '--topic', source, '--json'], env);
    expect(first.code, first.err).toBe(0);
    expect(first.out).not.toMatch(/\\u001b|\\u0007|\\u009b/); // not even JSON-escaped
    const s1 = JSON.parse(first.out) as ReplaySummary;
    expect(s1).toMatchObject({ read: 4, selected: 2, replayed: 2, stillFailing: 0, untrusted: 2, untrustedMoved: 2, deferred: 0 });
    expect(s1.untrustedByReason).toEqual([
      { reason: `table "${victim}" is not configured (SLUICE_TABLE, --table)`, count: 1, first: { partition: 0, offset: 1 } },
      { reason: 'table "evilx" is not configured (SLUICE_TABLE, --table)', count: 1, first: { partition: 0, offset: 2 } },
    ]);
    expect(s1.tables.map((t) => t.table)).toEqual([table]);
    expect(await ids(table)).toEqual([1, 4]);
    expect(await scalar(ch(), `SELECT count() FROM ${victim}`)).toBe(0);
    expect(await endOffsets(dlq)).toEqual(new Map([[0, 6]]));
    expect(await committedByPartition(group, dlq)).toEqual(new Map([[0, 4]]));

    // Next run (text): the copies are reported again, and moved again; still nothing written.
    const second = await cli(['replay', '--topic', source], env);
    expect(second.code, second.err).toBe(0);
    expect(second.out).not.toMatch(CONTROL);
    expect(second.out).toMatch(/\n {2}read +2\n/);
    expect(second.out).toMatch(/\n {2}untrusted +2 {2}never written: destination not configured; 2 moved to the end/);
    expect(await endOffsets(dlq)).toEqual(new Map([[0, 8]]));

    // --drop-untrusted: passed without a copy; the log ends where it was.
    const dropped = await cli(['replay', '--topic', source, '--drop-untrusted', '--json'], env);
    expect(dropped.code, dropped.err).toBe(0);
    expect(JSON.parse(dropped.out)).toMatchObject({ read: 2, untrusted: 2, untrustedMoved: 0, replayed: 0 });
    expect(await endOffsets(dlq)).toEqual(new Map([[0, 8]]));
    expect(await committedByPartition(group, dlq)).toEqual(new Map([[0, 8]]));
    expect(await scalar(ch(), `SELECT count() FROM ${victim}`)).toBe(0);
    expect(await ids(table)).toEqual([1, 4]);
  });

  it('a forged table does not stop the run; a configured table that is missing still does, and lands after the fix', async () => {
    const { source, dlq, table, env, group } = await setup();
    const missing = randomName('harden_missing');
    const mapped = { ...env, SLUICE_TOPICS: `${source},${source}_b`, SLUICE_TABLE: `${source}:${table},${source}_b:${missing}` };
    await produceLetters(dlq, [
      { id: 1, table: 'no_such_table_anywhere', source },
      { id: 2, table, source },
      { id: 3, table: missing, source },
    ]);

    const stopped = await cli(['replay', '--topic', source, '--json'], mapped);
    expect(stopped.code).toBe(1);
    expect(stopped.err).toContain(`table "${missing}"`);
    expect(stopped.err).toMatch(/Code: 60/);
    expect(stopped.err).not.toContain('no_such_table_anywhere');
    // The chunk's tables are checked before any insert: nothing landed, nothing committed.
    expect(await ids(table)).toEqual([]);
    expect(await committedByPartition(group, dlq)).toEqual(new Map([[0, -1]]));

    await ch().command({ query: DDL(missing) });
    const resumed = await cli(['replay', '--topic', source, '--json'], mapped);
    expect(resumed.code, resumed.err).toBe(0);
    expect(JSON.parse(resumed.out)).toMatchObject({ read: 3, selected: 2, replayed: 2, untrusted: 1, untrustedMoved: 1 });
    expect(await ids(table)).toEqual([2]);
    expect(await ids(missing)).toEqual([3]);
  });

  it('--to-source republishes only to configured topics', async () => {
    const { source, dlq, table, env } = await setup();
    const other = randomName('harden_other');
    await createTopic(other, 1);
    await produceLetters(dlq, [
      { id: 1, table, source },
      { id: 2, table, source: other },
      { id: 3, table, source: `${other}${ESCAPES}` },
    ]);

    const r = await cli(['replay', '--topic', source, '--to-source'], env);
    expect(r.code, r.err).toBe(0);
    expect(r.out).not.toMatch(CONTROL);
    expect(r.out).toMatch(/\n {2}replayed +1\n/);
    expect(r.out).toMatch(/\n {2}untrusted +2 /);
    expect(r.out).toContain(`topic "${other}" is not configured (SLUICE_TOPICS, --source-topic)`);
    expect(await endOffsets(source)).toEqual(new Map([[0, 1]]));
    expect(await endOffsets(other)).toEqual(new Map([[0, 0]]));
    console.log(`[hardening] --to-source with forged topics:\n${r.out}`);
  });
});

describe('/readyz during a real ClickHouse rejection stall', () => {
  it('names the partition, the code and class, never the rows or the server text; the log has the full text', async () => {
    const topic = randomName('harden_pii');
    const table = randomName('harden_pii_t');
    await createTopic(topic, 2);
    // Columns whose parse errors quote the input (18.16): Array → "Cannot parse input: expected [ before: "078-05-1120","card":…"
    // (code 27, a data error); UUID → "Cannot parse uuid 4111 1111 1111 1111" (code 376, unknown to sluice: retried as transient).
    await ch().command({ query: `CREATE TABLE ${table} (id UInt64, ssn Array(UInt8), card UUID) ENGINE = MergeTree ORDER BY id` });
    await produce(topic, [
      JSON.stringify({ id: 1, ssn: '078-05-1120', card: '4111 1111 1111 1111' }),
      JSON.stringify({ id: 2, ssn: [1], card: '4111 1111 1111 1111' }),
    ], 2);
    const port = await freePort();
    const sink = startSink(
      sinkEnv(topic, table, randomName('harden_g'), {
        SLUICE_DLQ_TOPIC: 'none',
        SLUICE_READY_STALL_MS: '0',
        SLUICE_METRICS_PORT: String(port),
        SLUICE_METRICS_HOST: '127.0.0.1',
        // The server's own error text (which quotes the rows) is what must not
        // leak: let the server parse, so it is the server that refuses.
        SLUICE_INSERT_FORMAT: 'jsoneachrow',
      }),
    );
    try {
      const started = await sink.waitForEvent('sink.started');
      expect(started.statusHost).toBe('127.0.0.1');
      const body = await waitFor('/readyz to report both partitions', async () => {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`);
        const json = (await res.json()) as { status: string; reasons: string[] };
        return res.status === 503 && json.reasons.filter((r) => r.includes(' stalled: ')).length === 2 ? json : undefined;
      });
      console.log(`[hardening] /readyz during the stall: ${JSON.stringify(body)}`);
      const reasons = [...body.reasons].sort();
      expect(reasons[0]).toMatch(new RegExp(`^partition ${topic}:0 stalled: insert rejected code=27 class=data; no dead-letter topic \\(SLUICE_DLQ_TOPIC=none\\), the batch is held and retried, nothing is skipped \\(for \\d+ s\\)$`));
      expect(reasons[1]).toMatch(new RegExp(`^partition ${topic}:1 stalled: insert rejected code=376 class=data; no dead-letter topic \\(SLUICE_DLQ_TOPIC=none\\), the batch is held and retried, nothing is skipped \\(for \\d+ s\\)$`));
      const text = JSON.stringify(body);
      for (const leak of ['078', '1120', '4111', '1111', 'DB::Exception', 'Cannot parse', 'http://', '8123', table]) expect(text).not.toContain(leak);
      // The log keeps the server's full text, each event one JSON line.
      const stalled = await sink.waitForEvent('partition.stalled', (l) => JSON.stringify(l.error).includes('078-05-1120'));
      expect(stalled.partition).toBe(0);
      const uuid = await sink.waitForEvent('partition.stalled', (l) => JSON.stringify(l.error).includes('Cannot parse uuid 4111 1111 1111 1111'));
      expect(uuid.partition).toBe(1);
    } finally {
      await sink.stop('SIGKILL');
    }
  });
});

describe('a password with URL delimiters is never echoed', () => {
  const PW = 'p@ss/w:rd%40#x';
  const FORMS = [PW, 'p@ss/w:rd@#x', encodeURIComponent(PW), 'rd%40', 'ss/w'];
  const leaks = (text: string) => FORMS.filter((f) => text.includes(f));

  it('sluice run and check: bad settings, a refused password, and one cleartext warning', async () => {
    const base = { SLUICE_KAFKA_BROKERS: BROKERS.join(','), SLUICE_TOPICS: 't', SLUICE_TABLE: 'events', SLUICE_CLICKHOUSE_PASSWORD: PW };
    for (const bad of <Record<string, string>[]>[
      { SLUICE_CLICKHOUSE_URL: `http://default:${PW}@127.0.0.1:8123` },
      { SLUICE_CLICKHOUSE_URL: `http://default:${PW}@127.0.0.1 :8123` },
      { SLUICE_KAFKA_BROKERS: `user:${PW}@127.0.0.1:9092` },
      { SLUICE_BATCH_MAX_ROWS: 'many' },
    ]) {
      const r = await cli(['run'], { ...base, ...bad });
      expect(r.code, r.err).toBe(2);
      expect(r.err).toMatch(/^sluice: configuration error: SLUICE_/);
      expect(leaks(r.out + r.err)).toEqual([]);
    }
    // A valid configuration whose password ClickHouse refuses, over http:// and sasl_plaintext.
    const checked = await cli(['check'], {
      ...base,
      SLUICE_CLICKHOUSE_URL: CLICKHOUSE_URL,
      SLUICE_KAFKA_SECURITY_PROTOCOL: 'sasl_plaintext',
      SLUICE_KAFKA_SASL_USERNAME: 'sluice',
      SLUICE_KAFKA_SASL_PASSWORD: PW,
    });
    expect(checked.code).toBe(2);
    expect(leaks(checked.out + checked.err)).toEqual([]);
    const warnings = checked.err.split('\n').filter((l) => l.includes('"level":"warn"'));
    expect(warnings).toHaveLength(1);
    const warning = JSON.parse(warnings[0]!) as { event: string; transports: string[] };
    expect(warning.event).toBe('config.cleartext_password');
    expect(warning.transports).toEqual([
      'SLUICE_CLICKHOUSE_PASSWORD is sent over http:// (http://127.0.0.1:8123); use https://',
      'SLUICE_KAFKA_SASL_PASSWORD (plain) is sent over sasl_plaintext; use sasl_ssl',
    ]);
    console.log(`[hardening] sluice check, password over cleartext, refused by ClickHouse:\n${checked.err}`);
  });

  it('sluice replay and sluice offsets', async () => {
    const { source, dlq, table, env } = await setup();
    await produceLetters(dlq, [{ id: 1, table, source }]);
    const runs = [
      await cli(['replay', '--topic', source, '--clickhouse-url', `http://default:${PW}@127.0.0.1:8123`], { ...env, SLUICE_CLICKHOUSE_PASSWORD: PW }),
      await cli(['replay', '--topic', source, '--clickhouse-url', `http://default:${PW}@127.0.0.1 :8123`], env),
      await cli(['replay', '--topic', source, '--brokers', `u:${PW}@127.0.0.1:9092`], env),
      // Parsed fine; ClickHouse refuses the password: a runtime failure naming the server, not the secret.
      await cli(['replay', '--topic', source], { ...env, SLUICE_CLICKHOUSE_PASSWORD: PW }),
      await cli(['offsets', 'lag', '--group', 'g', '--brokers', `u:${PW}@127.0.0.1:9092`], env),
      await cli(['offsets', 'lag', '--group', 'g', '--topic', source], { ...env, SLUICE_KAFKA_BROKERS: `u:${PW}@127.0.0.1:9092` }),
    ];
    expect(runs.map((r) => r.code)).toEqual([2, 2, 2, 1, 2, 2]);
    expect(runs[3]!.err).toMatch(/cannot reach ClickHouse at http:\/\/127\.0\.0\.1:8123: .*Code: 19[2-4]/);
    for (const r of runs) expect(leaks(r.out + r.err)).toEqual([]);
    // Nothing was written by the refused run.
    expect(await ids(table)).toEqual([]);
  });
});
