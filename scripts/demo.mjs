// Demo driver (see demo.sh): sample topic + table, sample events, the real
// sink as a child process, and a summary once every event has landed.
import { spawn } from 'node:child_process';
import { createClient } from '@clickhouse/client';
import { Kafka, logLevel, Partitioners } from 'kafkajs';

const N = Number(process.env.DEMO_EVENTS ?? 500_000);
const PARTITIONS = 8;
const topic = 'sluice-demo-events';
const table = 'demo_events';
const group = `sluice-demo-${Date.now()}`;

const kafka = new Kafka({ brokers: ['127.0.0.1:9092'], clientId: 'sluice-demo', logLevel: logLevel.NOTHING });
const ch = createClient({ url: 'http://127.0.0.1:8123' });
const count = async () => Number((await (await ch.query({ query: `SELECT count() FROM ${table}`, format: 'TabSeparated' })).text()).trim());

const admin = kafka.admin();
await admin.connect();
if ((await admin.listTopics()).includes(topic)) await admin.deleteTopics({ topics: [topic] });
await new Promise((r) => setTimeout(r, 500));
await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
await admin.disconnect();
await ch.command({ query: `DROP TABLE IF EXISTS ${table}` });
// Plain String for the event name: ClickHouse 18.16 (Debian) has LowCardinality only behind an experimental flag.
await ch.command({
  query: `CREATE TABLE ${table} (ts DateTime, event_id UInt64, player_id UInt32, event String, level UInt16, score Int64, latency_ms Float32, region String, device String)
          ENGINE = MergeTree PARTITION BY toYYYYMMDD(ts) ORDER BY (event, ts, event_id)`,
});

console.log(`demo: producing ${N.toLocaleString()} game events to ${topic} (${PARTITIONS} partitions)…`);
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
await producer.connect();
const events = ['match_start', 'match_end', 'kill', 'death', 'level_up', 'purchase'];
const regions = ['eu-west', 'us-east', 'ap-south', 'sa-east'];
const devices = ['pc', 'ps5', 'xbox', 'switch', 'android', 'ios'];
const t0 = Date.UTC(2026, 10, 25, 8, 0, 0);
for (let i = 0; i < N; i += 10_000) {
  const messages = [];
  for (let j = i; j < Math.min(N, i + 10_000); j++) {
    const ts = new Date(t0 + j * 7).toISOString().slice(0, 19).replace('T', ' ');
    messages.push({
      partition: j % PARTITIONS,
      value: JSON.stringify({ ts, event_id: j, player_id: j % 50_000, event: events[j % events.length], level: j % 90, score: (j * 7919) % 100_000 - 5000, latency_ms: (j % 250) / 3, region: regions[j % 4], device: devices[j % 6] }),
    });
  }
  await producer.send({ topic, messages, acks: 1 });
}
await producer.disconnect();

console.log('demo: starting `sluice run`…');
const started = Date.now();
const sink = spawn(process.execPath, ['dist/cli/index.js', 'run'], {
  env: { PATH: process.env.PATH, SLUICE_TOPICS: topic, SLUICE_TABLE: table, SLUICE_GROUP_ID: group, SLUICE_METRICS_PORT: '9464', SLUICE_LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'inherit', 'inherit'],
});
let landed = 0;
while (landed < N) {
  if (sink.exitCode !== null) throw new Error(`sluice exited early with code ${sink.exitCode}`);
  await new Promise((r) => setTimeout(r, 200));
  landed = await count();
}
const seconds = (Date.now() - started) / 1000;
const metrics = await fetch('http://127.0.0.1:9464/metrics').then((r) => r.text()).catch(() => '');
sink.kill('SIGTERM');
const code = await new Promise((r) => sink.once('exit', r));

console.log(`\ndemo: ${landed.toLocaleString()} events landed in ${seconds.toFixed(2)} s (including start-up and group join) = ${Math.round(landed / seconds).toLocaleString()} rows/s; sluice exited with ${code}`);
console.log(metrics.split('\n').filter((l) => /^sluice_(records_inserted_total|batches_inserted_total|committed_offset)/.test(l)).slice(0, 6).join('\n'));
const rs = await ch.query({
  query: `SELECT event, count() AS events, uniqExact(player_id) AS players, round(avg(score), 1) AS avg_score, min(ts) AS first, max(ts) AS last FROM ${table} GROUP BY event ORDER BY events DESC`,
  format: 'PrettyCompactMonoBlock',
});
console.log(`\n${await rs.text()}`);
await ch.close();
