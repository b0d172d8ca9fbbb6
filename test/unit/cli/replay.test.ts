/**
 * `sluice replay` without services: argument parsing (every bad argument is
 * refused with exit 2 and one line naming the flag, before any connection),
 * the selection and offset-range planning as pure functions, the headers of
 * a letter sent back, the progress bar's throttle and the summary text.
 */
import { describe, expect, it } from 'vitest';
import { HEADER, type DeadLetterInfo } from '../../../src/dlq/dead-letters.js';
import {
  REPLAY_ATTEMPTS_HEADER,
  failureTime,
  planPartitions,
  replayAttempts,
  retryHeaders,
  selects,
  sourceHeaders,
  type PlanInput,
  type ReplaySummary,
} from '../../../src/dlq/replay.js';
import { MAX_GROUPS, Tally } from '../../../src/dlq/replay-tally.js';
import { ProgressLine, formatSummary, parseOffsetBound, parseReplayArgs, renderBar, replayCommand } from '../../../src/cli/replay.js';

async function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  let out = '';
  let err = '';
  // Addresses nothing listens on: a test that got past parsing fails loudly instead of touching real services.
  const code = await replayCommand(args, {
    out: (s) => (out += s),
    err: (s) => (err += s),
    env: { SLUICE_KAFKA_BROKERS: '127.0.0.1:1', SLUICE_CLICKHOUSE_URL: 'http://127.0.0.1:1', ...env },
    isTTY: false,
  });
  return { code, out, err };
}

describe('parseReplayArgs', () => {
  it('defaults: --topic names <topic>.dlq, its own group, the sink defaults for the connections', () => {
    expect(parseReplayArgs(['--topic', 'orders'], { SLUICE_TABLE: 'orders_t' })).toEqual({
      command: 'replay',
      brokers: ['127.0.0.1:9092'],
      security: { protocol: 'plaintext', caFile: '', sasl: undefined },
      clickhouse: { url: 'http://127.0.0.1:8123', user: 'default', password: '', database: 'default', caFile: '' },
      dlqTopic: 'orders.dlq',
      group: 'sluice-replay-orders.dlq',
      selection: {},
      allowed: { tables: new Set(['orders_t']), topics: new Set() },
      dropUntrusted: false,
      fromOffset: undefined,
      toOffset: undefined,
      reset: false,
      toSource: false,
      dryRun: false,
      batchRows: 10_000,
      maxRecordBytes: 1_048_576,
      skipUnknownFields: false,
      insertFormat: 'typed',
      format: { format: 'json', registry: undefined, protobufFiles: [], protobufMessage: undefined },
      metadataColumns: new Map([['topic', '_topic'], ['partition', '_partition'], ['offset', '_offset'], ['timestamp', '_timestamp'], ['key', '_key'], ['headers', '_headers']]),
      json: false,
    });
  });

  it('reads the sink variables, and --brokers / --clickhouse-url override them', () => {
    const env = {
      SLUICE_KAFKA_BROKERS: 'k1:9092,k2:9092',
      SLUICE_CLICKHOUSE_URL: 'https://ch.internal:8443/',
      SLUICE_CLICKHOUSE_USER: 'sink',
      SLUICE_CLICKHOUSE_PASSWORD: 'secret',
      SLUICE_CLICKHOUSE_DATABASE: 'events',
      SLUICE_TOPICS: 'a,b',
      SLUICE_TABLE: 'a:a_t,b:b_t', // where replay may write: the sink's own tables
      SLUICE_BATCH_MAX_ROWS: 'ignored', // the sink's other settings are not replay's business
    };
    expect(parseReplayArgs(['--dlq-topic', 'x.dlq'], env)).toMatchObject({
      brokers: ['k1:9092', 'k2:9092'],
      clickhouse: { url: 'https://ch.internal:8443', user: 'sink', password: 'secret', database: 'events', caFile: '' },
      dlqTopic: 'x.dlq',
      allowed: { tables: new Set(['a_t', 'b_t']), topics: new Set(['a', 'b']) },
    });
    expect(parseReplayArgs(['--dlq-topic', 'x.dlq', '--brokers', 'b:1', '--clickhouse-url=http://other:8123'], env)).toMatchObject({
      brokers: ['b:1'],
      clickhouse: { url: 'http://other:8123', user: 'sink' },
    });
  });

  it('parses the selection, offset ranges and switches', () => {
    const a = parseReplayArgs(
      [
        '--dlq-topic', 'd', '--group', 'g', '--from-time', '2024-05-01T22:00:00Z', '--to-time', '1714604400000',
        '--source-topic', 'a,b', '--source-topic', 'c', '--table', 't1', '--error-code', '117, 27',
        '--from-offset', '0:5,1:7', '--to-offset', '0:9', '--to-source', '--dry-run', '--json', '--batch-rows', '500',
      ],
      {},
    );
    expect(a).toMatchObject({
      group: 'g',
      selection: {
        fromTime: Date.UTC(2024, 4, 1, 22),
        toTime: 1714604400000,
        sourceTopics: new Set(['a', 'b', 'c']),
        tables: new Set(['t1']),
        errorCodes: new Set([117, 27]),
      },
      fromOffset: { kind: 'partitions', offsets: new Map([[0, 5], [1, 7]]) },
      toOffset: { kind: 'partitions', offsets: new Map([[0, 9]]) },
      toSource: true,
      dryRun: true,
      json: true,
      batchRows: 500,
    });
    expect(parseReplayArgs(['--topic', 't', '--reset', '--to-offset', '40'], { SLUICE_TABLE: 't_t' })).toMatchObject({ reset: true, toOffset: { kind: 'all', offset: 40 } });
    expect(parseOffsetBound('--from-offset', '12')).toEqual({ kind: 'all', offset: 12 });
  });

  it.each([
    [[], '--dlq-topic: required'],
    [['--topic', 'a', '--dlq-topic', 'b'], '--topic: give either --dlq-topic or --topic, not both'],
    [['--topic', 'no spaces'], '--topic: "no spaces" is not a valid Kafka topic name'],
    [['--dlq-topic'], '--dlq-topic: needs a value'],
    [['--dlq-topic', 'd', '--group', '--json'], '--group: needs a value'],
    [['--dlq-topic', 'd', '--group', 'a', '--group', 'b'], '--group: given more than once'],
    [['--dlq-topic', 'd', '--time', '1'], '--time: unknown flag for "replay"'],
    [['--dlq-topic', 'd', 'extra'], 'extra: unexpected argument'],
    [['--dlq-topic', 'd', '--json=yes'], '--json: takes no value'],
    [['--dlq-topic', 'd', '--batch-rows', '0'], '--batch-rows: must be between 1 and 1000000, got 0'],
    [['--dlq-topic', 'd', '--batch-rows', 'lots'], '--batch-rows: must be a whole number, got "lots"'],
    [['--dlq-topic', 'd', '--from-time', '2024-05-01T22:00:00'], '--from-time: "2024-05-01T22:00:00" is not a time'],
    [['--dlq-topic', 'd', '--to-time', '1714600800'], '--to-time: "1714600800" looks like epoch seconds'],
    [['--dlq-topic', 'd', '--from-time', '1714604400000', '--to-time', '1714600800000'], '--to-time: is before --from-time'],
    [['--dlq-topic', 'd', '--from-offset', '0:x'], '--from-offset: "0:x" is not an offset or partition:offset'],
    [['--dlq-topic', 'd', '--to-offset', '0:1,0:2'], '--to-offset: partition 0 given twice'],
    [['--dlq-topic', 'd', '--from-offset', '5', '--to-offset', '3'], '--to-offset: 3 is before --from-offset 5'],
    [['--dlq-topic', 'd', '--from-offset', '1:5', '--to-offset', '1:3'], '--to-offset: 3 is before --from-offset 5 (partition 1)'],
    [['--dlq-topic', 'd', '--from-offset', '5', '--to-offset', '0:9'], '--to-offset: give both offsets as plain numbers, or both as partition:offset lists'],
    [['--dlq-topic', 'd', '--reset', '--from-offset', '1'], '--reset: conflicts with --from-offset'],
    [['--dlq-topic', 'd', '--error-code', '117,x'], '--error-code: must be a whole number, got "x"'],
    [['--dlq-topic', 'd', '--table', 'not-a-table'], '--table: "not-a-table" is not a plain table name'],
    [['--dlq-topic', 'd', '--source-topic', 'a,,b'], '--source-topic: "" is not a valid Kafka topic name'],
    [['--dlq-topic', 'd', '--clickhouse-url', 'ftp://x'], '--clickhouse-url: must be http:// or https://'],
    [['--dlq-topic', 'd', '--clickhouse-url', 'http://u:pw@x'], '--clickhouse-url: must not carry credentials'],
    [['--dlq-topic', 'd', '--brokers', 'nohost'], '--brokers: "nohost" is not host:port'],
  ])('refuses %j with one line naming the flag: %s', async (args, message) => {
    expect(() => parseReplayArgs(args, {})).toThrow(message);
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    const [first, second] = r.err.split('\n');
    expect(first!.startsWith(`sluice replay: ${message}`)).toBe(true);
    expect(second).toMatch(/usage/);
  });

  it('names the variable when the environment is wrong, and never prints the password', async () => {
    const r = await run(['--topic', 't'], { SLUICE_CLICKHOUSE_URL: 'not a url', SLUICE_CLICKHOUSE_PASSWORD: 'hunter2' });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^sluice replay: SLUICE_CLICKHOUSE_URL: "not a url" is not a URL\n/);
    // A password with / @ : % # ? in an unparsable URL: nothing after the scheme is echoed.
    const odd = await run(['--topic', 't'], { SLUICE_CLICKHOUSE_URL: 'http://u:p@s s/w:rd%40#x@ch:8123' });
    expect(odd.err).toMatch(/^sluice replay: SLUICE_CLICKHOUSE_URL: "http:\/\/…" is not a URL\n/);
    expect(r.err).not.toContain('hunter2');
    expect((await run(['--topic', 't'], { SLUICE_CLICKHOUSE_DATABASE: 'a-b' })).err).toContain('SLUICE_CLICKHOUSE_DATABASE: "a-b" is not a plain identifier');
  });

  it('prints the usage for --help (exit 0), and an unreachable broker is a runtime failure (exit 1), not a usage error', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('usage: sluice replay');
    const down = await run(['--topic', 't'], { SLUICE_TABLE: 't_t' });
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/^sluice replay: cannot reach Kafka at 127\.0\.0\.1:1/);
    expect(down.err.trim().split('\n')).toHaveLength(1);
  });
});

const info = (over: Partial<DeadLetterInfo> = {}): DeadLetterInfo => ({
  topic: 'orders',
  partition: 0,
  offset: 10,
  timestamp: 1000,
  table: 'orders_t',
  errorClass: 'rejected',
  errorCode: 117,
  errorMessage: 'Unknown field',
  version: '0.1.0',
  failedAt: '2024-05-01T22:30:00.000Z',
  ...over,
});

describe('selection', () => {
  const at = Date.UTC(2024, 4, 1, 22, 30);
  it('filters on source topic, table and error code', () => {
    expect(selects({}, info(), 0)).toBe(true);
    expect(selects({ sourceTopics: new Set(['orders']), tables: new Set(['orders_t']), errorCodes: new Set([117]) }, info(), 0)).toBe(true);
    expect(selects({ sourceTopics: new Set(['other']) }, info(), 0)).toBe(false);
    expect(selects({ tables: new Set(['other']) }, info(), 0)).toBe(false);
    expect(selects({ errorCodes: new Set([27]) }, info(), 0)).toBe(false);
    // A precheck letter has no code: a code filter never selects it.
    expect(selects({ errorCodes: new Set([117]) }, info({ errorCode: undefined, errorClass: 'null_value' }), 0)).toBe(false);
  });

  it('filters on the failure time, bounds inclusive; the Kafka timestamp only when the header is unreadable', () => {
    expect(failureTime(info(), 5)).toBe(at);
    expect(failureTime(info({ failedAt: '' }), 5)).toBe(5);
    expect(selects({ fromTime: at, toTime: at }, info(), 0)).toBe(true);
    expect(selects({ fromTime: at + 1 }, info(), 0)).toBe(false);
    expect(selects({ toTime: at - 1 }, info(), 0)).toBe(false);
    expect(selects({ fromTime: 100 }, info({ failedAt: 'garbage' }), 99)).toBe(false);
  });
});

describe('planPartitions', () => {
  const base: PlanInput = {
    topic: 'd',
    group: 'g',
    marks: new Map([[0, { low: 0, high: 100 }], [1, { low: 20, high: 50 }], [2, { low: 0, high: 0 }]]),
    committed: new Map([[0, 40], [1, null], [2, null]]),
    startOver: false,
    dryRun: false,
  };
  const ranges = (input: Partial<PlanInput>) => planPartitions({ ...base, ...input }).map((p) => [p.partition, p.start, p.end, p.resolvedBelow]);

  it('continues after the committed offset (earliest if none), up to the end captured now', () => {
    expect(ranges({})).toEqual([[0, 40, 100, 40], [1, 20, 50, 20], [2, 0, 0, 0]]);
  });

  it('starts over from the earliest offset, keeping what was resolved as the floor', () => {
    expect(ranges({ startOver: true })).toEqual([[0, 0, 100, 40], [1, 20, 50, 20], [2, 0, 0, 0]]);
  });

  it('clamps a plain offset to each log, and a stale commit to the log', () => {
    expect(ranges({ fromOffset: { kind: 'all', offset: 30 }, toOffset: { kind: 'all', offset: 44 }, dryRun: true })).toEqual([
      [0, 30, 45, 40],
      [1, 30, 45, 20],
      [2, 0, 0, 0],
    ]);
    expect(ranges({ committed: new Map([[0, 500], [1, 3]]) }).slice(0, 2)).toEqual([[0, 100, 100, 100], [1, 20, 50, 20]]);
  });

  it('reads only the partitions a P:O list names', () => {
    expect(ranges({ fromOffset: { kind: 'partitions', offsets: new Map([[0, 10]]) } })).toEqual([[0, 10, 100, 40]]);
    expect(ranges({ toOffset: { kind: 'partitions', offsets: new Map([[1, 29]]) } })).toEqual([[1, 20, 30, 20]]);
  });

  it('refuses to start past offsets the group has not replayed, except in a dry run', () => {
    const past = { fromOffset: { kind: 'partitions' as const, offsets: new Map([[0, 60]]) } };
    expect(() => ranges(past)).toThrow(/^--from-offset: partition 0: starting at 60 would move group "g" past offsets 40\.\.59/);
    expect(() => ranges(past)).toThrow('sluice offsets reset --group g --topic d --to-offset 0:60 --execute');
    expect(ranges({ ...past, dryRun: true })).toEqual([[0, 60, 100, 40]]);
  });

  it('refuses partitions the topic lacks and offsets outside the log', () => {
    expect(() => ranges({ toOffset: { kind: 'partitions', offsets: new Map([[7, 1]]) } })).toThrow('--to-offset: topic "d" has no partition 7 (it has 0..2)');
    expect(() => ranges({ fromOffset: { kind: 'partitions', offsets: new Map([[1, 5]]) }, dryRun: true })).toThrow(
      '--from-offset: offset 5 for partition 1 is outside the log [20, 50]',
    );
  });
});

describe('headers', () => {
  const original = {
    [HEADER.topic]: 'orders',
    [HEADER.errorCode]: '117',
    [HEADER.failedAt]: '2024-05-01T22:30:00.000Z',
    'trace-id': Buffer.from('abc'),
  };

  it('a letter sent back carries the new error and time and one more attempt, and keeps the rest', () => {
    const once = retryHeaders(original, { errorClass: 'rejected', code: 27, message: 'Cannot parse' }, '2024-05-02T00:00:00.000Z');
    expect(once).toMatchObject({
      [HEADER.topic]: 'orders',
      [HEADER.errorClass]: 'rejected',
      [HEADER.errorCode]: '27',
      [HEADER.errorMessage]: 'Cannot parse',
      [HEADER.failedAt]: '2024-05-02T00:00:00.000Z',
      [REPLAY_ATTEMPTS_HEADER]: '1',
      'trace-id': Buffer.from('abc'),
    });
    const twice = retryHeaders(once, { errorClass: 'null_value', code: undefined, message: 'x'.repeat(2000) }, 'now');
    expect(twice[REPLAY_ATTEMPTS_HEADER]).toBe('2');
    expect(twice[HEADER.errorCode]).toBe('');
    expect(Buffer.byteLength(String(twice[HEADER.errorMessage]))).toBeLessThanOrEqual(1003);
    expect(replayAttempts({ [REPLAY_ATTEMPTS_HEADER]: Buffer.from('garbage') })).toBe(0);
  });

  it('a republished record keeps only its own headers', () => {
    expect(sourceHeaders(original)).toEqual({ 'trace-id': Buffer.from('abc') });
  });
});

describe('progress', () => {
  it('renders the bar with grouped numbers', () => {
    expect(renderBar({ done: 5000, total: 10_000, replayed: 4990, stillFailing: 10 }, 10)).toBe('[#####.....] 5,000/10,000 replayed 4,990 still failing 10');
    expect(renderBar({ done: 0, total: 0, replayed: 0, stillFailing: 0 }, 4)).toBe('[####] 0/0 replayed 0 still failing 0');
  });

  it('redraws at most every 100 ms on a terminal, and draws nothing elsewhere', () => {
    let t = 0;
    const writes: string[] = [];
    const bar = new ProgressLine((s) => writes.push(s), true, () => t);
    const p = (done: number) => ({ done, total: 10, replayed: done, stillFailing: 0 });
    bar.update(p(1));
    t = 50;
    bar.update(p(2)); // too soon
    t = 100;
    bar.update(p(3));
    bar.note('retrying');
    bar.end();
    expect(writes.map((w) => w.replace('\r\x1b[K', '<CR>'))).toEqual([
      '<CR>[##..................] 1/10 replayed 1 still failing 0',
      '<CR>[######..............] 3/10 replayed 3 still failing 0',
      '<CR>retrying\n',
      '<CR>[######..............] 3/10 replayed 3 still failing 0',
      '<CR>[######..............] 3/10 replayed 3 still failing 0',
      '\n',
    ]);

    const quiet: string[] = [];
    const off = new ProgressLine((s) => quiet.push(s), false, () => 0);
    off.update(p(1));
    off.note('retrying');
    off.end();
    expect(quiet).toEqual(['retrying\n']);
  });
});

describe('formatSummary', () => {
  const summary: ReplaySummary = {
    dlqTopic: 'orders.dlq',
    group: 'sluice-replay-orders.dlq',
    dryRun: false,
    toSource: false,
    read: 12,
    selected: 10,
    replayed: 6,
    stillFailing: 4,
    skippedByFilter: 2,
    deferred: 1,
    notDeadLetters: 0,
    untrusted: 0,
    untrustedMoved: 0,
    untrustedByReason: [],
    tables: [{ table: 'orders_t', selected: 10, replayed: 6, stillFailing: 4 }],
    stillFailingByError: [{ code: 27, errorClass: 'rejected', count: 4, example: 'Code: 27, Cannot parse\ninput' }],
    selectedByError: [{ code: 117, errorClass: 'rejected', count: 10, example: 'Unknown field' }],
    partitions: [{ partition: 0, start: 0, end: 12, committedBefore: null, committedAfter: 12 }],
  };

  it('shows counts, the deferred letters, failures by error with one example each, and offsets', () => {
    const text = formatSummary(summary);
    expect(text).toContain('dead letters of orders.dlq → ClickHouse (group sluice-replay-orders.dlq)');
    expect(text).toMatch(/\n {2}still failing +4 {2}produced again to orders\.dlq\n/);
    expect(text).toMatch(/skipped by filter\s+2 {2}1 moved to the end of orders\.dlq for a later run/);
    // The example is flattened to one line.
    expect(text).toMatch(/\n +27 +rejected +4 +Code: 27, Cannot parse input\n/);
    expect(text).toMatch(/\n +0 +0 +12 +- +12$/);
  });

  it('a dry run says so, shows the recorded errors and claims no failures', () => {
    const text = formatSummary({ ...summary, dryRun: true, replayed: 10, stillFailing: 0, stillFailingByError: [] });
    expect(text.split('\n')[0]).toMatch(/^DRY RUN, nothing changed/);
    expect(text).toMatch(/would replay\s+10/);
    expect(text).not.toContain('still failing');
    expect(text).toContain('selected, by recorded error:');
    expect(text).toContain('1 would be moved to the end');
  });
});

describe('where replay may write (issue 16: replay trusts only its configuration)', () => {
  it('is the sink\'s SLUICE_TABLE / SLUICE_TOPICS plus --table / --source-topic', () => {
    const env = { SLUICE_TOPICS: 'a,b', SLUICE_TABLE: 'a:a_t,b:b_t' };
    expect(parseReplayArgs(['--topic', 'a'], env)).toMatchObject({ allowed: { tables: new Set(['a_t', 'b_t']), topics: new Set(['a', 'b']) }, dropUntrusted: false });
    expect(parseReplayArgs(['--topic', 'a', '--table', 'old_t', '--source-topic', 'c', '--drop-untrusted'], env)).toMatchObject({
      allowed: { tables: new Set(['a_t', 'b_t', 'old_t']), topics: new Set(['a', 'b', 'c']) },
      dropUntrusted: true,
    });
    expect(parseReplayArgs(['--topic', 'a', '--table', 'x_t'], {})).toMatchObject({ allowed: { tables: new Set(['x_t']) } });
    expect(parseReplayArgs(['--topic', 'a', '--to-source'], { SLUICE_TOPICS: 'a' })).toMatchObject({ allowed: { topics: new Set(['a']) } });
  });

  it.each<[string[], Record<string, string>, string]>([
    [['--topic', 'a'], {}, 'SLUICE_TABLE: unset: replay inserts only into configured tables'],
    [['--topic', 'a', '--to-source'], { SLUICE_TABLE: 'a_t' }, 'SLUICE_TOPICS: unset: --to-source republishes only to configured topics'],
    [['--topic', 'a'], { SLUICE_TABLE: 'a-t' }, 'SLUICE_TABLE: "a-t" is not a plain table name'],
    [['--topic', 'a'], { SLUICE_TOPICS: 'a', SLUICE_TABLE: 'a:t,b:u' }, 'SLUICE_TABLE: maps topic "b", which is not in SLUICE_TOPICS'],
  ])('refuses %j with %j before connecting (exit 2): %s', async (args, env, message) => {
    const r = await run(args, env);
    expect(r.code).toBe(2);
    expect(r.err.startsWith(`sluice replay: ${message}`)).toBe(true);
  });
});

describe('untrusted letters and header text in the summary', () => {
  it('the tally keeps header text as plain text and bounds the number of groups', () => {
    const t = new Tally();
    Tally.countError(t.recorded, 27, 'rejected\x1b[2J', 'Code: 27\x1b]0;pwned\x07 Cannot parse\n\x9b31m"x"');
    expect([...t.recorded.values()]).toEqual([{ code: 27, errorClass: 'rejected', count: 1, example: 'Code: 27 Cannot parse "x"' }]);
    expect(t.table('evil\x1b[31m').table).toBe('evil');
    for (let i = 0; i < 500; i++) t.skipUntrusted(`table "forged_${i}" is not configured`, 0, i);
    expect(t.untrusted).toBe(500);
    expect(t.untrustedReasons.size).toBe(MAX_GROUPS + 1);
    const rest = [...t.untrustedReasons.values()].find((r) => r.count > 1)!;
    expect(rest).toEqual({ reason: 'more destinations that are not configured', count: 500 - MAX_GROUPS, first: { partition: 0, offset: MAX_GROUPS } });
  });

  it('the text summary counts them, says where they went and lists the reasons with the first offset', () => {
    const base = formatSummaryInput();
    const text = formatSummary({
      ...base,
      untrusted: 3,
      untrustedMoved: 3,
      untrustedByReason: [
        { reason: 'table "audit_log" is not configured (SLUICE_TABLE, --table)', count: 2, first: { partition: 1, offset: 40 } },
        { reason: 'table "x" is not configured (SLUICE_TABLE, --table)', count: 1, first: { partition: 0, offset: 7 } },
      ],
    });
    expect(text).toMatch(/\n {2}untrusted +3 {2}never written: destination not configured; 3 moved to the end of orders\.dlq for a run that trusts it\n/);
    expect(text).toContain('untrusted letters (skipped, never written):');
    expect(text).toMatch(/\n +2 +1:40 +table "audit_log" is not configured \(SLUICE_TABLE, --table\)\n/);
    const dropped = formatSummary({ ...base, untrusted: 1, untrustedMoved: 0, untrustedByReason: [] });
    expect(dropped).toMatch(/untrusted +1 {2}never written: destination not configured; passed, still in the log at their offsets/);
    // No escape or control character survives into the text, whatever the summary holds.
    expect(formatSummary({ ...base, stillFailingByError: [{ code: 1, errorClass: 'x', count: 1, example: 'a\x1b[2Jb' }] })).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
  });
});

function formatSummaryInput(): ReplaySummary {
  return {
    dlqTopic: 'orders.dlq',
    group: 'g',
    dryRun: false,
    toSource: false,
    read: 5,
    selected: 2,
    replayed: 2,
    stillFailing: 0,
    skippedByFilter: 0,
    deferred: 0,
    notDeadLetters: 0,
    untrusted: 0,
    untrustedMoved: 0,
    untrustedByReason: [],
    tables: [{ table: 'orders_t', selected: 2, replayed: 2, stillFailing: 0 }],
    stillFailingByError: [],
    selectedByError: [],
    partitions: [],
  };
}
