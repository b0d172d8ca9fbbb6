/**
 * Issue #6 on the real services: after a run with known good and bad
 * records, /metrics shows exactly those counts, the lag gauges read zero,
 * the probes answer, and batch-level log lines carry topic, partition and
 * offsets without secrets.
 */
import { describe, expect, it } from 'vitest';
import { EVENTS_DDL, committedTotal, freePort, metricSamples, useClickHouse, createTopic, event, produce, randomName, scalar, sinkEnv, startSink, waitFor } from '../helpers.js';

const client = useClickHouse();



describe('observability', () => {
  it('exposes exact counts, zero lag, probes and batch-level logs after a run', async () => {
    const topic = randomName('obs');
    const table = randomName('obs');
    const group = randomName('g');
    const port = await freePort();
    await createTopic(topic, 2);
    await client().command({ query: EVENTS_DDL(table) });
    const N = 5000;
    const badIds = new Set([10, 2000, 4999]);
    const values = Array.from({ length: N }, (_, i) => (badIds.has(i) ? JSON.stringify({ id: i, nope: 1 }) : event(i)));
    await produce(topic, values, 2);

    const sink = startSink(
      sinkEnv(topic, table, group, {
        SLUICE_METRICS_PORT: String(port),
        SLUICE_CLICKHOUSE_PASSWORD: '',
        SLUICE_LOG_LEVEL: 'debug',
        SLUICE_BATCH_MAX_ROWS: '1000',
      }),
    );
    await waitFor('commits at the end', async () => (await committedTotal(group, topic)) === N);
    expect(await scalar(client(), `SELECT count() FROM ${table}`)).toBe(N - badIds.size);

    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    const m = metricSamples(await res.text());
    const t = `topic="${topic}"`;
    expect(m.get(`sluice_records_consumed_total{${t}}`)).toBe(N);
    expect(m.get(`sluice_records_inserted_total{${t},table="${table}"}`)).toBe(N - badIds.size);
    expect(m.get(`sluice_records_dead_lettered_total{${t},table="${table}",reason="invalid"}`)).toBe(badIds.size);
    // Schema drift: the field the table lacks, counted per table and field.
    expect(m.get(`sluice_unknown_fields_total{table="${table}",field="nope"}`)).toBe(badIds.size);
    for (const p of [0, 1]) {
      expect(m.get(`sluice_committed_offset{${t},partition="${p}"}`)).toBe(N / 2);
      expect(m.get(`sluice_consumer_lag_records{${t},partition="${p}"}`)).toBe(0);
      expect(m.get(`sluice_time_lag_seconds{${t},partition="${p}"}`)).toBeGreaterThanOrEqual(0);
    }
    expect(m.get(`sluice_batch_rows_count{table="${table}"}`)).toBeGreaterThanOrEqual(N / 1000);
    expect(m.get(`sluice_insert_duration_seconds_count{table="${table}"}`)).toBeGreaterThan(0);
    // One latency observation per row inserted.
    expect(m.get(`sluice_end_to_end_latency_seconds_count{table="${table}"}`)).toBe(N - badIds.size);
    expect(m.get('sluice_buffered_bytes')).toBe(0);
    expect(m.get('sluice_paused_partitions')).toBe(0);
    expect(m.get('sluice_ready')).toBe(1);
    expect(m.has('sluice_process_resident_memory_bytes')).toBe(true);

    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok', reasons: [] });
    expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(404);

    expect(await sink.stop()).toBe(0);
    const batchLines = sink.lines.filter((l) => l.event === 'batch.written' || l.event === 'dlq.sent');
    expect(batchLines.length).toBeGreaterThan(0);
    for (const l of batchLines) {
      expect(l.topic).toBe(topic);
      expect([0, 1]).toContain(l.partition);
      expect(typeof l.firstOffset).toBe('number');
      expect(typeof l.lastOffset).toBe('number');
    }
    // Every line is one JSON object with time, level and event.
    for (const l of sink.lines) {
      expect(l.event).not.toBe('text');
      expect(typeof l.time).toBe('string');
      expect(['debug', 'info', 'warn', 'error']).toContain(l.level);
    }
  });

  it('never prints the ClickHouse password, even when it is wrong', async () => {
    const topic = randomName('secret');
    await createTopic(topic, 1);
    const secret = 'hunter2-' + randomName('pw');
    const sink = startSink(sinkEnv(topic, 'whatever', randomName('g'), { SLUICE_CLICKHOUSE_USER: 'nobody', SLUICE_CLICKHOUSE_PASSWORD: secret }));
    const code = await sink.exited;
    expect(code).toBe(2);
    const all = JSON.stringify(sink.lines);
    expect(all).toContain('SLUICE_CLICKHOUSE');
    expect(all).not.toContain(secret);
  });
});
