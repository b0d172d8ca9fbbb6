/**
 * Envelopes and routing (issue 12) on the real services, Kafka 4.1 and
 * ClickHouse 18.16:
 *  - headers: a mixed topic of three event types (and a second topic of
 *    orders) routed by the `type` header to three tables, with the right
 *    counts, Kafka metadata columns and envelope columns on every row; a
 *    type no route matches is dead-lettered with the reason; a `!drop`
 *    route is counted, never written. Records with those types carry a
 *    payload that would not decode: they still reach their drop / dead
 *    letter as routed (reason `unrouted`, not `invalid`), so routing never
 *    decoded them. The latency histograms count exactly the rows inserted,
 *    and their values sit where the envelope's times put them.
 *  - a JSON envelope: `{"envelope": {...}, "payload": {...}}`, routed by an
 *    envelope field; the payload is the row, envelope fields fill columns,
 *    an unmatched record is dropped and counted.
 *  - `sluice check` validates the rules and refuses a table that is not there.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { offsetsCommand } from '../../src/cli/offsets.js';
import { BROKERS, CLICKHOUSE_URL, committedTotal, createTopic, freePort, kafka, withAdmin, metricSamples, randomName, readMessages, scalar, startSink, useClickHouse, waitFor } from '../helpers.js';

const client = useClickHouse();

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  const rs = await client().query({ query: sql, format: 'JSONEachRow' });
  return rs.json<Record<string, unknown>>();
}

function baseEnv(topics: string[], group: string, extra: Record<string, string>): Record<string, string> {
  return {
    SLUICE_KAFKA_BROKERS: BROKERS.join(','),
    SLUICE_TOPICS: topics.join(','),
    SLUICE_GROUP_ID: group,
    SLUICE_CLICKHOUSE_URL: CLICKHOUSE_URL,
    SLUICE_START_FROM: 'earliest',
    SLUICE_RETRY_INITIAL_MS: '100',
    SLUICE_RETRY_MAX_MS: '2000',
    SLUICE_BATCH_MAX_ROWS: '500',
    SLUICE_METRICS_HOST: '127.0.0.1',
    ...extra,
  };
}

/** Every sample of one histogram for one table: le → cumulative count, plus _count and _sum. */
function histogram(m: Map<string, number>, name: string, table: string): { buckets: Map<string, number>; count: number; sum: number } {
  const buckets = new Map<string, number>();
  for (const [k, v] of m) {
    const hit = k.match(new RegExp(`^${name}_bucket\\{le="([^"]+)",table="${table}"\\}$`));
    if (hit) buckets.set(hit[1]!, v);
  }
  return { buckets, count: m.get(`${name}_count{table="${table}"}`) ?? -1, sum: m.get(`${name}_sum{table="${table}"}`) ?? -1 };
}

const DDL = (table: string, extra = '') =>
  `CREATE TABLE ${table} (id UInt64, ts UInt64, amount Float64, ` +
  `_topic String, _partition UInt16, _offset UInt64, event_type String, accepted_ms UInt64 ${extra}) ENGINE = MergeTree ORDER BY (_topic, _partition, _offset)`;

describe('envelopes and routing', () => {
  it('routes a mixed topic by header to three tables, dead-letters and drops without decoding, and measures latency per row', async () => {
    const events = randomName('rt_events');
    const orders2 = randomName('rt_orders');
    const [orders, clicks, views] = [randomName('orders'), randomName('clicks'), randomName('views')];
    const group = randomName('g');
    await createTopic(events, 3);
    await createTopic(orders2, 2);
    for (const t of [orders, clicks, views]) await client().command({ query: DDL(t) });

    // Per type: how many, and when accepted (orders two hours before produce time: their latency must show it).
    const now = Date.now();
    const plan = [
      { type: 'order.created', n: 300, acceptedAt: now - 7_200_000 },
      { type: 'order.paid', n: 200, acceptedAt: now - 7_200_000 },
      { type: 'click', n: 700, acceptedAt: now },
      { type: 'view', n: 400, acceptedAt: now },
      { type: 'debug', n: 50, acceptedAt: now },
      { type: 'mystery', n: 30, acceptedAt: now },
    ];
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    let id = 0;
    const messages = plan.flatMap(({ type, n, acceptedAt }) =>
      Array.from({ length: n }, () => {
        const i = id++;
        // Routed nowhere or dropped: a payload no decoder would take.
        const value = type === 'debug' || type === 'mystery' ? `not json {${i}` : JSON.stringify({ id: i, ts: acceptedAt - 5000, amount: i / 4 });
        return { value, partition: i % 3, headers: { type, accepted_at: String(acceptedAt) } };
      }),
    );
    // Shuffled by a fixed rule, so types interleave inside every partition.
    messages.sort((a, b) => ((JSON.stringify(a).length * 7919) % 13) - ((JSON.stringify(b).length * 7919) % 13));
    await producer.send({ topic: events, acks: -1, messages });
    const second = Array.from({ length: 100 }, (_, j) => ({ value: JSON.stringify({ id: 10_000 + j, ts: now - 7_205_000, amount: 1 }), partition: j % 2, headers: { type: 'order.refund', accepted_at: String(now - 7_200_000) } }));
    await producer.send({ topic: orders2, acks: -1, messages: second });
    await producer.disconnect();

    const routes = `header.type=order.* -> ${orders}\nheader.type=click -> ${clicks}  # clicks\nheader.type=view -> ${views}\nheader.type=debug -> !drop`;
    const port = await freePort();
    const sink = startSink(
      baseEnv([events, orders2], group, {
        SLUICE_METRICS_PORT: String(port),
        SLUICE_ROUTES: routes,
        SLUICE_ACCEPTED_AT: 'header.accepted_at',
        SLUICE_EVENT_TIME: 'payload.ts',
        SLUICE_ENVELOPE_COLUMNS: 'header.type:event_type,header.accepted_at:accepted_ms',
        SLUICE_METADATA_COLUMNS: 'topic:_topic,partition:_partition,offset:_offset',
      }),
    );
    await sink.waitForEvent('sink.started');
    await waitFor('commits at the end', async () => (await committedTotal(group, events)) === messages.length && (await committedTotal(group, orders2)) === second.length);
    const checkedAt = Date.now();
    const m = metricSamples(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    expect(await sink.stop()).toBe(0);

    const counts = { [orders]: await scalar(client(), `SELECT count() FROM ${orders}`), [clicks]: await scalar(client(), `SELECT count() FROM ${clicks}`), [views]: await scalar(client(), `SELECT count() FROM ${views}`) };
    console.log(`[routing] rows per table: orders ${counts[orders]} clicks ${counts[clicks]} views ${counts[views]}; dropped ${m.get(`sluice_records_dropped_total{topic="${events}",reason="rule"}`)}`);
    expect(counts[orders]).toBe(500 + 100);
    expect(counts[clicks]).toBe(700);
    expect(counts[views]).toBe(400);

    // Metadata and envelope columns, row for row: what a plain consumer reads.
    const read = await readMessages(events, messages.length);
    const expected = new Map<string, string>();
    for (const msg of read) {
      const type = String(msg.headers!.type);
      if (type !== 'debug' && type !== 'mystery') expected.set(String((JSON.parse(msg.value!.toString()) as { id: number }).id), `${type}|${msg.offset}`);
    }
    const landed = await rows(`SELECT id, _topic, _partition, _offset, event_type, accepted_ms FROM merge(currentDatabase(), '^(${orders}|${clicks}|${views})$') WHERE _topic = '${events}'`);
    expect(landed.length).toBe(expected.size);
    for (const r of landed) {
      const [type, offset] = expected.get(String(r.id))!.split('|');
      expect(r.event_type).toBe(type);
      expect(String(r._offset)).toBe(offset);
      expect(Number(r._partition)).toBe(Number(r.id) % 3);
    }
    expect(await scalar(client(), `SELECT count() FROM ${orders} WHERE _topic = '${orders2}' AND event_type = 'order.refund' AND accepted_ms = ${now - 7_200_000}`)).toBe(100);
    expect(await scalar(client(), `SELECT count() FROM ${clicks} WHERE accepted_ms = ${now}`)).toBe(700);

    // No route: dead-lettered as unrouted (never decoded: its payload is not JSON), bytes unchanged.
    const letters = await readMessages(`${events}.dlq`, 30);
    expect(letters.length).toBe(30);
    for (const l of letters) {
      expect(String(l.headers!['sluice.error.class'])).toBe('unrouted');
      expect(String(l.headers!['sluice.error.message'])).toContain('header.type="mystery"');
      expect(String(l.headers!.type)).toBe('mystery');
      expect(l.value!.toString()).toMatch(/^not json \{\d+$/);
    }
    expect(m.get(`sluice_records_dead_lettered_total{topic="${events}",table="",reason="unrouted"}`)).toBe(30);
    expect(m.get(`sluice_records_dropped_total{topic="${events}",reason="rule"}`)).toBe(50);
    expect([...m.keys()].some((k) => k.startsWith('sluice_records_dead_lettered_total') && k.includes('reason="invalid"'))).toBe(false);

    // Latency: one observation per row inserted, where the envelope's times put it.
    const upper = (checkedAt - now) / 1000;
    for (const [table, n] of [[clicks, 700], [views, 400], [orders, 600]] as const) {
      const h = histogram(m, 'sluice_end_to_end_latency_seconds', table);
      expect(h.count).toBe(n);
      expect(m.get(`sluice_records_inserted_total{topic="${events}",table="${table}"}`)! + (m.get(`sluice_records_inserted_total{topic="${orders2}",table="${table}"}`) ?? 0)).toBe(n);
      const e2a = histogram(m, 'sluice_event_to_accepted_seconds', table);
      // ts is 5 s before acceptance for every row.
      expect(e2a.count).toBe(n);
      expect(e2a.buckets.get('2.5')).toBe(0);
      expect(e2a.buckets.get('5')).toBe(n);
      if (table === orders) {
        // Accepted two hours before it was produced: every value above an hour.
        expect(h.buckets.get('3600')).toBe(0);
        expect(h.sum / h.count).toBeGreaterThanOrEqual(7200);
        expect(h.sum / h.count).toBeLessThanOrEqual(7200 + upper);
      } else {
        expect(h.sum).toBeGreaterThanOrEqual(0);
        expect(h.sum / h.count).toBeLessThanOrEqual(upper);
        const le = [...h.buckets.keys()].filter((k) => k !== '+Inf' && Number(k) >= upper).sort((a, b) => Number(a) - Number(b))[0]!;
        expect(h.buckets.get(le)).toBe(n);
      }
    }
  });

  it('reads a JSON envelope: routes by an envelope field, stores the payload and envelope fields, drops the unmatched', async () => {
    const topic = randomName('rt_env');
    const clicks = randomName('clicks');
    const group = randomName('g');
    await createTopic(topic, 2);
    await client().command({ query: `CREATE TABLE ${clicks} (id UInt64, page String, source String, accepted_at DateTime, _offset UInt64) ENGINE = MergeTree ORDER BY id` });
    const accepted = '2026-11-28T10:00:00Z';
    const values: string[] = [];
    for (let i = 0; i < 200; i++) {
      const kind = i % 4 === 3 ? 'heartbeat' : 'click';
      values.push(JSON.stringify({ envelope: { kind, source: `web-${i % 2}`, accepted_at: accepted }, payload: { id: i, page: `/p/${i}` } }));
    }
    // A click without a payload, and one whose payload has a bad value: invalid, dead-lettered by itself.
    values.push(JSON.stringify({ envelope: { kind: 'click', accepted_at: accepted } }));
    values.push(JSON.stringify({ envelope: { kind: 'click', accepted_at: accepted }, payload: { id: 'x' } }));
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: values.map((value, i) => ({ value, partition: i % 2 })) });
    await producer.disconnect();

    const dir = mkdtempSync(join(tmpdir(), 'routes-'));
    writeFileSync(join(dir, 'routes.txt'), `# clicks only\nenvelope.kind=click -> ${clicks}\n`);
    const env = baseEnv([topic], group, {
      SLUICE_ROUTES: `@${join(dir, 'routes.txt')}`,
      SLUICE_ROUTE_UNMATCHED: 'drop',
      SLUICE_ENVELOPE_JSON: 'envelope:payload',
      SLUICE_ACCEPTED_AT: 'envelope.accepted_at',
      SLUICE_ENVELOPE_COLUMNS: 'envelope.source:source,envelope.accepted_at:accepted_at',
    });
    const check = startSink(env, 'check');
    expect(await check.exited).toBe(0);
    // The rules judged on the records in the topic: where they would go.
    const said = check.lines.filter((l) => l.event === 'text').map((l) => String(l.text));
    expect(said).toContain('routes (SLUICE_ROUTES) on 202 sampled records:');
    expect(said).toContain(`  ${clicks}: 152`);
    expect(said).toContain('  no route: 50 (e.g. no route matches (envelope.kind="heartbeat"))');

    const port = await freePort();
    const sink = startSink({ ...env, SLUICE_METRICS_PORT: String(port) });
    await sink.waitForEvent('sink.started');
    await waitFor('commits at the end', async () => (await committedTotal(group, topic)) === values.length);
    const m = metricSamples(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    expect(await sink.stop()).toBe(0);

    expect(await scalar(client(), `SELECT count() FROM ${clicks}`)).toBe(150);
    expect(await scalar(client(), `SELECT count() FROM ${clicks} WHERE page = concat('/p/', toString(id)) AND source = concat('web-', toString(id % 2)) AND accepted_at = toDateTime('2026-11-28 10:00:00', 'UTC')`)).toBe(150);
    expect(m.get(`sluice_records_dropped_total{topic="${topic}",reason="unmatched"}`)).toBe(50);
    expect(histogram(m, 'sluice_end_to_end_latency_seconds', clicks).count).toBe(150);
    const letters = await readMessages(`${topic}.dlq`, 2);
    expect(letters.map((l) => String(l.headers!['sluice.error.class']))).toEqual(['invalid', 'invalid']);
    expect(letters.map((l) => String(l.headers!['sluice.target.table']))).toEqual([clicks, clicks]);
    expect(letters.map((l) => String(l.headers!['sluice.error.message'])).sort()).toEqual([expect.stringContaining('column id'), expect.stringContaining('envelope: the envelope has no payload field payload')].sort());
  });

  it('`sluice check` names a rule that does not parse, and a routed table that does not exist', async () => {
    const topic = randomName('rt_chk');
    await createTopic(topic, 1);
    const bad = startSink(baseEnv([topic], randomName('g'), { SLUICE_ROUTES: 'header.type=click => clicks' }), 'check');
    expect(await bad.exited).toBe(2);
    expect(JSON.stringify(bad.lines)).toContain('SLUICE_ROUTES');
    const missing = randomName('nope');
    const absent = startSink(baseEnv([topic], randomName('g'), { SLUICE_ROUTES: `header.type=click -> ${missing}` }), 'check');
    expect(await absent.exited).toBe(2);
    expect(JSON.stringify(absent.lines)).toContain(missing);
  });

  it('`sluice offsets lag` counts the time lag from the envelope acceptance time when told to', async () => {
    const topic = randomName('rt_lag');
    const group = randomName('g');
    await createTopic(topic, 1);
    const hourAgo = Date.now() - 3_600_000;
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ value: `{"id":${i}}`, partition: 0, headers: { accepted_at: String(hourAgo) } })) });
    await producer.disconnect();
    await withAdmin((a) => a.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '5' }] }));
    const lag = async (args: string[], env: Record<string, string> = {}) => {
      let out = '';
      const code = await offsetsCommand(['lag', '--group', group, '--topic', topic, '--json', ...args], { out: (t) => (out += t), err: () => {}, env: { SLUICE_KAFKA_BROKERS: BROKERS.join(','), ...env } });
      expect(code).toBe(0);
      return JSON.parse(out) as { partitions: Array<{ lag: number; timeLagMs: number; lastCommittedTimestamp: number }>; timeLagFrom: string };
    };
    const byKafka = await lag([]);
    const byEnvelope = await lag(['--accepted-at', 'header.accepted_at']);
    const byEnv = await lag([], { SLUICE_ACCEPTED_AT: 'header.accepted_at' });
    expect(byKafka.partitions[0]!.lag).toBe(5);
    expect(byKafka.timeLagFrom).toBe('kafka.timestamp');
    // Produced just now: the Kafka timestamp says minutes at most; the envelope says an hour.
    expect(byKafka.partitions[0]!.timeLagMs).toBeLessThan(3_600_000);
    expect(byEnvelope.timeLagFrom).toBe('header.accepted_at');
    expect(byEnvelope.partitions[0]!.lastCommittedTimestamp).toBe(hourAgo);
    expect(byEnvelope.partitions[0]!.timeLagMs).toBeGreaterThanOrEqual(3_600_000);
    expect(byEnv.partitions[0]!.lastCommittedTimestamp).toBe(hourAgo);
  });
});
