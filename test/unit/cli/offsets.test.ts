/**
 * `sluice offsets` argument parsing and output formatting, no services: every
 * bad argument must be refused (exit 2, one line naming the flag) before any
 * connection is attempted.
 */
import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  formatFind,
  formatLag,
  formatReset,
  offsetsCommand,
  parseOffsetsArgs,
  parseTime,
} from '../../../src/cli/offsets.js';

const env = {};

async function run(args: string[]) {
  let out = '';
  let err = '';
  // An address nothing listens on: a test that got past parsing would fail loudly.
  const code = await offsetsCommand(args, { out: (s) => (out += s), err: (s) => (err += s), env: { SLUICE_KAFKA_BROKERS: '127.0.0.1:1' } });
  return { code, out, err };
}

describe('parseOffsetsArgs', () => {
  it('takes the time-lag field from --accepted-at, else SLUICE_ACCEPTED_AT, and refuses what it cannot read', () => {
    const lag = (args: string[], e: NodeJS.ProcessEnv = env) => parseOffsetsArgs(['lag', '--group', 'g', ...args], e);
    expect(lag(['--accepted-at', 'header.accepted_at'])).toMatchObject({ acceptedAt: { ref: { source: 'header', path: ['accepted_at'] } } });
    expect(lag([], { ...env, SLUICE_ACCEPTED_AT: 'header.t' })).toMatchObject({ acceptedAt: { ref: { text: 'header.t' } } });
    expect(lag([], { ...env, SLUICE_ACCEPTED_AT: 'envelope.at', SLUICE_ENVELOPE_JSON: 'envelope:payload' })).toMatchObject({ acceptedAt: { ref: { source: 'envelope' }, json: { envelope: ['envelope'] } } });
    expect(() => lag(['--accepted-at', 'envelope.at'])).toThrow(/--accepted-at: reads envelope.at, but SLUICE_ENVELOPE_JSON is not set/);
    expect(() => lag(['--accepted-at', 'payload.ts'])).toThrow(/--accepted-at/);
  });

  it('parses lag with repeated --topic and the default brokers', () => {
    expect(parseOffsetsArgs(['lag', '--group', 'g', '--topic', 'a', '--topic=b', '--json'], env)).toEqual({
      command: 'lag',
      brokers: ['127.0.0.1:9092'],
      acceptedAt: { ref: { source: 'kafka', path: [], text: 'kafka.timestamp' }, json: undefined },
      group: 'g',
      topics: ['a', 'b'],
      json: true,
    });
  });

  it('takes brokers from --brokers over SLUICE_KAFKA_BROKERS', () => {
    const e = { SLUICE_KAFKA_BROKERS: 'k1:9092,k2:9092' };
    expect(parseOffsetsArgs(['lag', '--group', 'g'], e)).toMatchObject({ brokers: ['k1:9092', 'k2:9092'] });
    expect(parseOffsetsArgs(['lag', '--group', 'g', '--brokers', 'x:1'], e)).toMatchObject({ brokers: ['x:1'] });
  });

  it('parses find and each reset target', () => {
    expect(parseOffsetsArgs(['find', '--topic', 't', '--time', '2024-05-01T22:00:00Z'], env)).toMatchObject({ time: Date.UTC(2024, 4, 1, 22) });
    const reset = (...flags: string[]) => parseOffsetsArgs(['reset', '--group', 'g', '--topic', 't', ...flags], env);
    expect(reset('--to-earliest')).toMatchObject({ target: { kind: 'earliest' }, execute: false });
    expect(reset('--to-latest', '--execute')).toMatchObject({ target: { kind: 'latest' }, execute: true });
    expect(reset('--to-time', '1714600800000')).toMatchObject({ target: { kind: 'time', time: 1714600800000 } });
    expect(reset('--to-offset', '0:5,2:7')).toMatchObject({ target: { kind: 'offsets', offsets: new Map([[0, 5], [2, 7]]) } });
  });

  it.each([
    [['lag'], '--group: required'],
    [['lag', '--group'], '--group: needs a value'],
    [['lag', '--group', '--json'], '--group: needs a value'],
    [['lag', '--group', 'g', '--group', 'h'], '--group: given more than once'],
    [['lag', '--group', 'g', '--time', '1714600800000'], '--time: unknown flag for "offsets lag"'],
    [['lag', '--group', 'g', 'extra'], 'extra: unexpected argument'],
    [['lag', '--group', 'g', '--json=yes'], '--json: takes no value'],
    [['lag', '--group', 'g', '--brokers', 'localhost'], '--brokers: "localhost" is not host:port'],
    [['lag', '--group', 'g', '--brokers', 'h:70000'], '--brokers: "h:70000" is not host:port'],
    [['find', '--topic', 't'], '--time: required'],
    [['find', '--topic', 't', '--time', 'yesterday'], '--time: "yesterday" is not a time'],
    [['reset', '--group', 'g', '--topic', 't'], 'give exactly one of --to-time'],
    [['reset', '--group', 'g', '--topic', 't', '--to-earliest', '--to-latest'], '--to-latest: give exactly one of'],
    [['reset', '--group', 'g', '--topic', 't', '--to-offset', '0:5,x'], '--to-offset: "x" is not partition:offset'],
    [['reset', '--group', 'g', '--topic', 't', '--to-offset', '0:5,0:6'], '--to-offset: partition 0 given twice'],
    [['reset', '--group', 'g', '--topic', 't', '--to-offset', '0:-1'], '--to-offset: "0:-1" is not partition:offset'],
    [['rewind'], 'rewind: unknown command'],
  ])('rejects %j', (args, message) => {
    expect(() => parseOffsetsArgs(args, env)).toThrow(message);
  });

  it('names SLUICE_KAFKA_BROKERS when the bad brokers came from the environment', () => {
    expect(() => parseOffsetsArgs(['lag', '--group', 'g'], { SLUICE_KAFKA_BROKERS: 'nope' })).toThrow('SLUICE_KAFKA_BROKERS: "nope" is not host:port');
  });
});

describe('parseTime', () => {
  it('accepts ISO-8601 with a zone and epoch milliseconds', () => {
    expect(parseTime('--time', '2024-05-01T23:00:00+01:00')).toBe(Date.UTC(2024, 4, 1, 22));
    expect(parseTime('--time', '2024-05-01T23:00+0100')).toBe(Date.UTC(2024, 4, 1, 22));
    expect(parseTime('--time', '2024-05-01T22:00:00.250Z')).toBe(Date.UTC(2024, 4, 1, 22, 0, 0, 250));
    expect(parseTime('--time', '1714600800000')).toBe(1714600800000);
  });

  it.each([
    'yesterday',
    '2024-05-01', // no time: midnight where?
    '2024-05-01T22:00:00', // no zone: the machine's local time
    '2024-02-30T00:00:00Z', // JS would roll over to March
    '2024-05-01T24:00:00Z',
    '2024-05-01 22:00:00Z',
    '-1714600800000',
    '1714600800', // epoch seconds
    '',
  ])('rejects %j', (value) => {
    expect(() => parseTime('--time', value)).toThrow(/^--time: /);
  });
});

describe('offsetsCommand usage errors', () => {
  it('exits 2 with one line naming the flag, without touching Kafka', async () => {
    const r = await run(['find', '--topic', 't', '--time', 'yesterday']);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err.split('\n')[0]).toBe(
      'sluice offsets: --time: "yesterday" is not a time: use ISO-8601 with a zone (2024-05-01T22:00:00Z) or epoch milliseconds',
    );
  });

  it('prints usage for --help (exit 0) and for no command (exit 2)', async () => {
    const help = await run(['reset', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('usage: sluice offsets');
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.err).toContain('usage: sluice offsets');
  });
});

describe('formatting', () => {
  it('formats durations at a readable precision', () => {
    expect([450, 12_340, 245_000, 3_723_000, 2 * 86_400_000 + 4 * 3_600_000, -1500].map(formatDuration)).toEqual([
      '450ms',
      '12.3s',
      '4m05s',
      '1h02m',
      '2d04h',
      '-1.5s',
    ]);
  });

  it('aligns the lag table and totals lag and the largest age', () => {
    const text = formatLag('g', [
      { topic: 'events', partition: 0, committed: 1200, end: 1250, lag: 50, lastCommittedTimestamp: 0, timeLagMs: 12_340 },
      { topic: 'events', partition: 1, committed: null, end: 7, lag: 7, lastCommittedTimestamp: null, timeLagMs: null },
      { topic: 'events-long-name', partition: 10, committed: 3, end: 3, lag: 0, lastCommittedTimestamp: 0, timeLagMs: 245_000 },
    ]);
    expect(text).toBe(
      [
        'group g',
        'TOPIC             PARTITION  COMMITTED   END  LAG   TIME LAG',
        'events                    0       1200  1250   50      12.3s',
        'events                    1          -     7    7          -',
        'events-long-name         10          3     3    0      4m05s',
        'TOTAL                                          57  4m05s max',
      ].join('\n'),
    );
  });

  it('marks find results that fell off the end', () => {
    expect(formatFind('t', Date.UTC(2024, 4, 1, 22), [
      { partition: 0, offset: 12, atEnd: false },
      { partition: 1, offset: 40, atEnd: true },
    ])).toBe(
      [
        'topic t: first offset at or after 2024-05-01T22:00:00.000Z (1714600800000)',
        'PARTITION  OFFSET',
        '        0      12',
        '        1      40  end (no record at or after that time)',
      ].join('\n'),
    );
  });

  it('shows the reset plan as old → new and says whether it was applied', () => {
    const rows = [
      { partition: 2, from: null, to: 0 },
      { partition: 10, from: 17, to: 0 },
    ];
    expect(formatReset('g', 't', { kind: 'earliest' }, rows, false)).toBe(
      ['group g, topic t, reset to earliest (DRY RUN, nothing changed; add --execute to apply)', '  partition  2: - → 0', '  partition 10: 17 → 0'].join('\n'),
    );
    expect(formatReset('g', 't', { kind: 'offsets', offsets: new Map([[10, 0]]) }, rows.slice(1), true)).toBe(
      ['group g, topic t, reset to offsets 10:0 (APPLIED)', '  partition 10: 17 → 0'].join('\n'),
    );
  });
});
