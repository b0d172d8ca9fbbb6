// The README's "Envelopes and routing" worked example, runnable: a topic of
// marketplace events with envelope headers (type, source, accepted_at),
// three tables, the routes, the real sink as a child process, then the rows
// per table and the latency histogram from /metrics.
// Run with the services up: `npm run build && node scripts/routing-example.mjs`.
import { spawn } from 'node:child_process';
import { createClient } from '@clickhouse/client';
import { Kafka, logLevel, Partitioners } from 'kafkajs';

const topic = 'market-events';
const group = `sluice-routing-example-${Date.now()}`;
const kafka = new Kafka({ brokers: ['127.0.0.1:9092'], clientId: 'sluice-example', logLevel: logLevel.NOTHING });
const ch = createClient({ url: 'http://127.0.0.1:8123' });
const run = (query) => ch.command({ query });
const text = async (query) => (await ch.query({ query, format: 'PrettyCompactMonoBlock' })).text();

const admin = kafka.admin();
await admin.connect();
for (const t of [topic, `${topic}.dlq`]) if ((await admin.listTopics()).includes(t)) await admin.deleteTopics({ topics: [t] });
await new Promise((r) => setTimeout(r, 2000));
await admin.createTopics({ topics: [{ topic, numPartitions: 4 }], waitForLeaders: true });
await admin.disconnect();
const meta = `_topic String, _partition UInt16, _offset UInt64, event_type String, source String, accepted_at DateTime`;
await run('DROP TABLE IF EXISTS orders');
await run('DROP TABLE IF EXISTS clicks');
await run('DROP TABLE IF EXISTS searches');
await run(`CREATE TABLE orders (order_id UInt64, amount Decimal(12, 2), currency String, ts DateTime, ${meta}) ENGINE = MergeTree ORDER BY (_partition, _offset)`);
await run(`CREATE TABLE clicks (user_id UInt64, page String, ts DateTime, ${meta}) ENGINE = MergeTree ORDER BY (_partition, _offset)`);
await run(`CREATE TABLE searches (user_id UInt64, query String, ts DateTime, ${meta}) ENGINE = MergeTree ORDER BY (_partition, _offset)`);

// 10,000 events: orders (created/paid), clicks, searches, internal pings (dropped), and a type nobody routes.
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
await producer.connect();
const types = ['order.created', 'click', 'search', 'click', 'order.paid', 'click', 'search', 'ping', 'click', 'refund.v2'];
const now = Date.now();
const messages = [];
for (let i = 0; i < 10_000; i++) {
  const type = types[i % types.length];
  const accepted = now - 2000 + (i % 1000);
  const ts = new Date(accepted - 1500).toISOString().slice(0, 19).replace('T', ' ');
  const payload = type.startsWith('order.') ? { order_id: i, amount: ((i * 37) % 10_000) / 100, currency: 'EUR', ts }
    : type === 'search' ? { user_id: i % 700, query: `q${i % 50}`, ts }
    : { user_id: i % 700, page: `/item/${i % 90}`, ts };
  messages.push({ partition: i % 4, value: JSON.stringify(payload), headers: { type, source: i % 3 ? 'web' : 'app', accepted_at: String(accepted) } });
}
await producer.send({ topic, messages, acks: -1 });
await producer.disconnect();

const routes = [
  'header.type=order.* -> orders',
  'header.type=click   -> clicks',
  'header.type=search  -> searches',
  'header.type=ping    -> !drop',
].join('\n');
const env = {
  PATH: process.env.PATH,
  SLUICE_TOPICS: topic,
  SLUICE_GROUP_ID: group,
  SLUICE_ROUTES: routes,
  SLUICE_ACCEPTED_AT: 'header.accepted_at',
  SLUICE_EVENT_TIME: 'payload.ts',
  SLUICE_ENVELOPE_COLUMNS: 'header.type:event_type,header.source:source,header.accepted_at:accepted_at',
  SLUICE_METRICS_PORT: '9464',
  SLUICE_LOG_LEVEL: 'warn',
};
console.log(`SLUICE_ROUTES:\n${routes}\n`);
const sink = spawn(process.execPath, ['dist/cli/index.js', 'run'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
const scrape = () => fetch('http://127.0.0.1:9464/metrics').then((r) => r.text()).catch(() => '');
const sample = (m, name) => m.split('\n').filter((l) => l.startsWith(name)).reduce((s, l) => s + Number(l.split(' ').pop()), 0);
let m = '';
// Every record accounted for: inserted, dropped or dead-lettered.
while (sample(m, 'sluice_records_inserted_total') + sample(m, 'sluice_records_dropped_total') + sample(m, 'sluice_records_dead_lettered_total') < messages.length) {
  if (sink.exitCode !== null) throw new Error(`sluice exited early with code ${sink.exitCode}`);
  await new Promise((r) => setTimeout(r, 200));
  m = await scrape();
}
sink.kill('SIGTERM');
await new Promise((r) => sink.once('exit', r));

console.log(await text(`SELECT * FROM (SELECT 'orders' AS tbl, event_type, count() AS rows, uniqExact(_partition) AS partitions, max(accepted_at) AS last_accepted FROM orders GROUP BY event_type
  UNION ALL SELECT 'clicks' AS tbl, event_type, count() AS rows, uniqExact(_partition) AS partitions, max(accepted_at) AS last_accepted FROM clicks GROUP BY event_type
  UNION ALL SELECT 'searches' AS tbl, event_type, count() AS rows, uniqExact(_partition) AS partitions, max(accepted_at) AS last_accepted FROM searches GROUP BY event_type) ORDER BY tbl, event_type`));
console.log(m.split('\n').filter((l) => /^sluice_records_(dropped|dead_lettered)_total/.test(l)).join('\n'));
console.log(m.split('\n').filter((l) => /^sluice_end_to_end_latency_seconds_(bucket\{le="(0\.5|1|2\.5|5|10)",table="clicks"|sum\{table="clicks"|count)/.test(l) || /^sluice_event_to_accepted_seconds_count/.test(l)).join('\n'));
await ch.close();
