/**
 * Schema drift made visible (issue 10 item 6) on the real Kafka and
 * ClickHouse 18.16: records carry two fields the table lacks; `sluice
 * check` (the built CLI) samples the last records of each partition without
 * touching the sink's group, prints the ALTER statements with inferred
 * types, and alters nothing. The test then runs those statements itself,
 * and the sink lands every field's value in the new columns — the
 * suggested types work on this server.
 */
import { describe, expect, it } from 'vitest';
import { committedTotal, createTopic, insertsSettled, produce, randomName, scalar, sinkEnv, startSink, useClickHouse, waitFor, withAdmin } from '../helpers.js';

const client = useClickHouse();

const PARTITIONS = 2;
const RECORDS = 400;
const SAMPLE = 50;

/** Record i: `country` a string, null on every 4th record; `visits` an integer, negative on every 5th. */
function record(i: number): string {
  return JSON.stringify({ id: i, user: `u${i % 7}`, country: i % 4 === 0 ? null : ['de', 'fr', 'jp'][i % 3], visits: i % 5 === 0 ? -i : i * 1000 });
}

describe('sluice check: schema drift', () => {
  it('prints the ALTER statements that keep the fields the table lacks; applied, the sink lands their values', async () => {
    const topic = randomName('drift');
    const table = randomName('drift');
    const group = randomName('g');
    await createTopic(topic, PARTITIONS);
    await client().command({ query: `CREATE TABLE ${table} (id UInt64, user String) ENGINE = MergeTree ORDER BY id` });
    await produce(topic, Array.from({ length: RECORDS }, (_, i) => record(i)), PARTITIONS);
    const env = sinkEnv(topic, table, group, { SLUICE_LOG_LEVEL: 'warn' });

    const check = startSink(env, 'check', ['--sample', String(SAMPLE)]);
    expect(await check.exited).toBe(0);
    const text = check.lines.filter((l) => l.event === 'text').map((l) => String(l.text));
    const out = text.join('\n');
    const sampled = SAMPLE * PARTITIONS;
    expect(out).toContain(`table default.${table} (topic ${topic}; sampled ${sampled} records, the last ${SAMPLE} or fewer of each partition)`);
    expect(out).toContain('schema drift: 2 fields the table lacks:');
    // The last SAMPLE offsets of each partition: records RECORDS - 2*SAMPLE .. RECORDS - 1 (round-robin).
    const last = Array.from({ length: sampled }, (_, k) => RECORDS - sampled + k);
    const nulls = last.filter((i) => i % 4 === 0).length;
    expect(out).toMatch(new RegExp(`country +${sampled} of ${sampled} records +Nullable\\(String\\) +${nulls} null`));
    expect(out).toMatch(new RegExp(`visits +${sampled} of ${sampled} records +Int64`));
    const statements = text.map((l) => l.trim()).filter((l) => l.startsWith('ALTER TABLE'));
    expect(statements).toEqual([
      `ALTER TABLE default.${table} ADD COLUMN country Nullable(String);`,
      `ALTER TABLE default.${table} ADD COLUMN visits Int64;`,
    ]);
    // Default SLUICE_SKIP_UNKNOWN_FIELDS=false: today every sampled record would be refused.
    expect(out).toContain(`invalid records: ${sampled} of ${sampled} sampled would be dead-lettered; top reasons:`);
    expect(out).toContain('field "country" is not a column of the table (strict mode)');

    // A suggestion only: the table is as it was, the sink's group committed
    // nothing, and the sampling group is gone.
    expect(await scalar(client(), `SELECT count() FROM system.columns WHERE database = 'default' AND table = '${table}'`)).toBe(2);
    expect(await committedTotal(group, topic)).toBe(0);
    const groups = await withAdmin(async (admin) => (await admin.listGroups()).groups.map((g) => g.groupId));
    expect(groups.filter((g) => g.startsWith('sluice-check-sample-'))).toEqual([]);
    // check never joined the sink's group: running replicas are not made to rebalance.
    expect(groups).not.toContain(group);

    for (const sql of statements) await client().command({ query: sql.replace(/;$/, '') });
    const sink = startSink(env);
    await waitFor('every record in the table', async () => (await scalar(client(), `SELECT count() FROM ${table}`)) === RECORDS);
    await insertsSettled(client(), table);
    expect(await sink.stop()).toBe(0);

    const all = Array.from({ length: RECORDS }, (_, i) => JSON.parse(record(i)) as { country: string | null; visits: number });
    const rs = await client().query({ query: `SELECT id, country, visits FROM ${table} ORDER BY id`, format: 'JSONEachRow' });
    const rows = (await rs.json()) as Array<{ id: string; country: string | null; visits: string }>;
    expect(rows.map((r) => [Number(r.id), r.country, Number(r.visits)])).toEqual(all.map((r, i) => [i, r.country, r.visits]));
    expect(await scalar(client(), `SELECT countIf(isNull(country)) FROM ${table}`)).toBe(all.filter((r) => r.country === null).length);
  });

  it('--sample 0 skips the sample; a bad --sample is refused with one line naming it (exit 2)', async () => {
    const topic = randomName('drift');
    const table = randomName('drift');
    await createTopic(topic, 1);
    await client().command({ query: `CREATE TABLE ${table} (id UInt64) ENGINE = MergeTree ORDER BY id` });
    await produce(topic, [JSON.stringify({ id: 1, extra: 'x' })], 1);
    const env = sinkEnv(topic, table, randomName('g'), { SLUICE_LOG_LEVEL: 'warn' });

    const skipped = startSink(env, 'check', ['--sample', '0']);
    expect(await skipped.exited).toBe(0);
    const text = skipped.lines.filter((l) => l.event === 'text').map((l) => String(l.text));
    expect(text).toEqual(['sluice: configuration OK, Kafka and ClickHouse reachable, tables present']);

    const bad = startSink(env, 'check', ['--sample', 'many']);
    expect(await bad.exited).toBe(2);
    expect(bad.lines.map((l) => String(l.text))).toEqual(['sluice: --sample: "many" is not a whole number of records (0 or more)']);
  });
});
