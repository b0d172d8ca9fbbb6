/**
 * Invariant 5 on the real services: bad configuration or an unreachable
 * service gives one readable line naming the setting or endpoint and a
 * non-zero exit; `sluice check` passes on a good setup; a signal during
 * start-up stops cleanly instead of crashing.
 */
import { describe, expect, it } from 'vitest';
import { EVENTS_DDL, createTopic, randomName, sinkEnv, startSink, useClickHouse } from '../helpers.js';

const client = useClickHouse();

/** Runs a sink command to its end; returns the exit code and the plain-text (non-JSON) lines. */
async function runToEnd(env: Record<string, string>, command = 'run') {
  const sink = startSink(env, command);
  const code = await sink.exited;
  const text = sink.lines.filter((l) => l.event === 'text').map((l) => String(l.text));
  return { code, text, lines: sink.lines };
}

describe('start-up', () => {
  it('`sluice check` passes when Kafka, ClickHouse, the topic and the table are there', async () => {
    const topic = randomName('start');
    const table = randomName('start');
    await createTopic(topic, 1);
    await client().command({ query: EVENTS_DDL(table) });
    const r = await runToEnd(sinkEnv(topic, table, randomName('g')), 'check');
    expect(r.code).toBe(0);
    expect(r.text.join('\n')).toContain('configuration OK');
  });

  it.each([
    ['an unknown SLUICE_ variable', { SLUICE_BATCH_MAX_ROW: '10' }, 'SLUICE_BATCH_MAX_ROW: unknown setting (did you mean SLUICE_BATCH_MAX_ROWS?)'],
    ['a malformed number', { SLUICE_INSERT_CONCURRENCY: 'four' }, 'SLUICE_INSERT_CONCURRENCY: must be a whole number'],
    ['an unreachable broker', { SLUICE_KAFKA_BROKERS: '127.0.0.1:1' }, 'SLUICE_KAFKA_BROKERS: cannot reach Kafka at 127.0.0.1:1'],
    ['an unreachable ClickHouse', { SLUICE_CLICKHOUSE_URL: 'http://127.0.0.1:1' }, 'SLUICE_CLICKHOUSE_URL: cannot use ClickHouse at http://127.0.0.1:1'],
    ['a missing table', { SLUICE_TABLE: 'no_such_table_here' }, 'SLUICE_TABLE: table default.no_such_table_here is not usable'],
    ['a missing topic', { SLUICE_TOPICS: 'no-such-topic-here' }, 'SLUICE_TOPICS: topic(s) no-such-topic-here do not exist'],
  ])('refuses to start with %s: one line naming it, exit code 2', async (_what, override, expected) => {
    const topic = randomName('start');
    const table = randomName('start');
    await createTopic(topic, 1);
    await client().command({ query: EVENTS_DDL(table) });
    const r = await runToEnd({ ...sinkEnv(topic, table, randomName('g')), ...override });
    expect(r.code).toBe(2);
    expect(r.text).toHaveLength(1);
    expect(r.text[0]).toContain(expected);
    expect(r.text[0]).toMatch(/^sluice: configuration error: SLUICE_/);
  });

  it('stops cleanly when SIGTERM arrives during start-up', async () => {
    const topic = randomName('start');
    const table = randomName('start');
    await createTopic(topic, 1);
    await client().command({ query: EVENTS_DDL(table) });
    const sink = startSink(sinkEnv(topic, table, randomName('g')));
    await sink.waitForEvent('clickhouse.connected');
    sink.proc.kill('SIGTERM');
    const code = await sink.exited;
    expect([0, 1, 2]).toContain(code);
    expect(sink.lines.some((l) => l.event === 'text' && /KafkaJS|at Object\./.test(String(l.text)))).toBe(false);
  });
});

describe('ClickHouse authentication', () => {
  it('connects as a password-protected user, and a wrong password stops start-up without printing it', async () => {
    const topic = randomName('auth');
    const table = randomName('auth');
    await createTopic(topic, 1);
    await client().command({ query: EVENTS_DDL(table) });
    const ok = await runToEnd({ ...sinkEnv(topic, table, randomName('g')), SLUICE_CLICKHOUSE_USER: 'sluice', SLUICE_CLICKHOUSE_PASSWORD: 'sluice-secret' }, 'check');
    expect(ok.code).toBe(0);
    const wrong = 'not-the-sluice-secret';
    const bad = await runToEnd({ ...sinkEnv(topic, table, randomName('g')), SLUICE_CLICKHOUSE_USER: 'sluice', SLUICE_CLICKHOUSE_PASSWORD: wrong });
    expect(bad.code).toBe(2);
    expect(bad.text).toHaveLength(1);
    expect(bad.text[0]).toMatch(/^sluice: configuration error: SLUICE_CLICKHOUSE_USER: /);
    expect(JSON.stringify(bad.lines)).not.toContain(wrong);
    expect(JSON.stringify(ok.lines)).not.toContain('sluice-secret');
  });
});
