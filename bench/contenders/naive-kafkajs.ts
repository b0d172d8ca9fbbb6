/**
 * naive-kafkajs — the consumer a user would write by hand in an afternoon.
 *
 * Contract: consumes BENCH_TOPIC from the beginning as group BENCH_GROUP,
 * and for every batch kafkajs fetches, JSON.parses each value and inserts
 * the rows into BENCH_TABLE with one `client.insert(JSONEachRow)`; kafkajs
 * auto-commits after each batch. Runs until SIGTERM/SIGINT, then
 * disconnects and exits 0. Env: BENCH_BROKERS, BENCH_TOPIC, BENCH_GROUP,
 * BENCH_CLICKHOUSE_URL, BENCH_TABLE.
 *
 * Deliberately untuned (kafkajs and client defaults, one partition at a
 * time, no pipelining): it is the baseline sluice has to beat, so making it
 * clever here would flatter nobody.
 */
import { createClient } from '@clickhouse/client';
import { Kafka } from 'kafkajs';

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
}

const table = env('BENCH_TABLE');
const kafka = new Kafka({ clientId: 'naive-kafkajs', brokers: env('BENCH_BROKERS').split(',') });
const consumer = kafka.consumer({ groupId: env('BENCH_GROUP') });
const client = createClient({ url: env('BENCH_CLICKHOUSE_URL') });

await consumer.connect();
await consumer.subscribe({ topic: env('BENCH_TOPIC'), fromBeginning: true });
await consumer.run({
  eachBatch: async ({ batch }) => {
    const rows = batch.messages.map((m) => JSON.parse(m.value!.toString()) as Record<string, unknown>);
    if (rows.length > 0) await client.insert({ table, values: rows, format: 'JSONEachRow' });
  },
});

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      await consumer.disconnect();
      await client.close();
      process.exit(0);
    })();
  });
}
