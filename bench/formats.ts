/**
 * formats — the bench dataset as JSON, Avro and Protobuf (Confluent frames,
 * schemas in the local Apicurio registry), each drained by one sluice into
 * a fresh table: rows/s, sluice CPU and ClickHouse CPU per 1M rows per
 * format.
 *
 * Contract: `bash bench/exec.sh formats [--rows N] [--partitions P]
 * [--formats json,avro,protobuf]` (defaults 500000, 4 and that order;
 * BENCH_ROWS / BENCH_PARTITIONS / BENCH_FORMATS) produces the same
 * N events (lib/dataset.ts) to three fresh topics — JSON lines as they are;
 * Avro and Protobuf encoded from the parsed events — registers the schemas,
 * then runs sluice on each topic in turn, from start-up until uniqExact(id)
 * reaches N, with the same settings (SLUICE_FORMAT apart). CPU is read from
 * /proc for the sluice process and the local ClickHouse server, so the
 * ClickHouse figure includes whatever else the shared server did: the load
 * average is printed with each run; compare formats within one run. Topics,
 * tables and groups are dropped at the end. Needs `npm run build`.
 */
import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import avro from 'avsc';
import protobuf from 'protobufjs';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { loadavg, tmpdir } from 'node:os';
import { createDataset, createTableSql } from './lib/dataset.js';
import { chQuery } from './lib/clickhouse.js';
import { cleanup, cpuOf, formatTable, intParam, round, runId, say as sayTo, servicePids, waitForRows } from './lib/harness.js';
import { readStat } from './lib/proc.js';
import { freePort, startSluice } from './lib/sluice.js';

const say = (m: string) => sayTo('formats', m);
const repoRoot = resolve(new URL('..', import.meta.url).pathname, '..');
const { values } = parseArgs({ options: { rows: { type: 'string' }, partitions: { type: 'string' }, formats: { type: 'string' } } });
const ROWS = intParam('--rows', values.rows ?? process.env.BENCH_ROWS, 500_000);
const PARTITIONS = intParam('--partitions', values.partitions ?? process.env.BENCH_PARTITIONS, 4);
const BROKERS = process.env.BENCH_BROKERS ?? '127.0.0.1:9092';
const CH = process.env.BENCH_CLICKHOUSE_URL ?? 'http://127.0.0.1:8123';
const REGISTRY = process.env.BENCH_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';

const AVRO = {
  type: 'record', name: 'Event', fields: [
    { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } }, { name: 'id', type: 'long' }, { name: 'user_id', type: 'int' },
    { name: 'event_type', type: 'string' }, { name: 'country', type: 'string' }, { name: 'status', type: 'int' }, { name: 'duration_ms', type: 'int' },
    { name: 'price', type: 'double' }, { name: 'score', type: 'float' }, { name: 'sku', type: 'string' }, { name: 'url', type: 'string' },
  ],
};
const PROTO = `syntax = "proto3";
import "google/protobuf/timestamp.proto";
message Event {
  google.protobuf.Timestamp ts = 1; uint64 id = 2; uint32 user_id = 3; string event_type = 4; string country = 5;
  uint32 status = 6; uint32 duration_ms = 7; double price = 8; float score = 9; string sku = 10; string url = 11;
}`;

function frame(id: number, payload: Uint8Array, protobufIndex: boolean): Buffer {
  const head = Buffer.from([0, (id >>> 24) & 0xff, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]);
  return Buffer.concat(protobufIndex ? [head, Buffer.from([0]), payload] : [head, payload]);
}

async function register(subject: string, schemaType: string, schema: string): Promise<number> {
  const res = await fetch(`${REGISTRY}/subjects/${subject}/versions`, { method: 'POST', headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' }, body: JSON.stringify({ schemaType, schema }) });
  const body = (await res.json()) as { id?: number };
  if (body.id === undefined) throw new Error(`registering ${subject}: ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}

async function main(): Promise<void> {
  const prefix = `sluice_bench_fmt_${runId()}`;
  const kafka = new Kafka({ clientId: 'sluice-bench-formats', brokers: BROKERS.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  // The order the sinks run in (a shared machine's load drifts: run it both ways).
  const formats = (values.formats ?? process.env.BENCH_FORMATS ?? 'json,avro,protobuf').split(',') as Array<'json' | 'avro' | 'protobuf'>;
  if (formats.some((f) => !['json', 'avro', 'protobuf'].includes(f))) throw new Error(`--formats: json, avro and/or protobuf, got ${formats.join(',')}`);
  const topic = (f: string) => `${prefix}_${f}`;
  await admin.createTopics({ topics: formats.map((f) => ({ topic: topic(f), numPartitions: PARTITIONS, replicationFactor: 1 })), waitForLeaders: true });
  await admin.disconnect();
  const avroId = await register(`${topic('avro')}-value`, 'AVRO', JSON.stringify(AVRO));
  const protoId = await register(`${topic('protobuf')}-value`, 'PROTOBUF', PROTO);
  const avroType = avro.Type.forSchema(AVRO as avro.Schema);
  const root = new protobuf.Root();
  root.addJSON((protobuf.common.get('google/protobuf/timestamp.proto') as { nested: protobuf.AnyNestedObject }).nested as never);
  protobuf.parse(PROTO, root, { keepCase: true });
  root.resolveAll();
  const Event = root.lookupType('Event');

  say(`producing ${ROWS} events ×3 formats over ${PARTITIONS} partitions`);
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const data = createDataset(ROWS);
  const bytes: Record<string, number> = { json: 0, avro: 0, protobuf: 0 };
  const CHUNK = 5000;
  for (let i = 0; i < ROWS; i += CHUNK) {
    const batch: Record<string, Buffer[]> = { json: [], avro: [], protobuf: [] };
    for (let j = i; j < Math.min(ROWS, i + CHUNK); j++) {
      const line = data.eventLine(j);
      const e = JSON.parse(line) as Record<string, unknown>;
      const ms = Date.parse(String(e.ts).replace(' ', 'T') + 'Z');
      batch.json.push(Buffer.from(line));
      batch.avro.push(frame(avroId, avroType.toBuffer({ ...e, ts: ms }), false));
      batch.protobuf.push(frame(protoId, Event.encode(Event.fromObject({ ...e, ts: { seconds: ms / 1000, nanos: 0 } })).finish(), true));
    }
    for (const f of formats) {
      bytes[f]! += batch[f]!.reduce((n, b) => n + b.length, 0);
      await producer.send({ topic: topic(f), acks: 1, messages: batch[f]!.map((value, k) => ({ value, partition: (i + k) % PARTITIONS })) });
    }
  }
  await producer.disconnect();

  const cli = resolve(repoRoot, 'dist', 'cli', 'index.js');
  const chPid = servicePids(repoRoot).clickhouse;
  const rows: string[][] = [];
  try {
    for (const f of formats) {
      const table = `${prefix}_${f}`;
      await chQuery(CH, createTableSql(table));
      const port = await freePort();
      const env: Record<string, string> = {
        SLUICE_KAFKA_BROKERS: BROKERS, SLUICE_TOPICS: topic(f), SLUICE_TABLE: table, SLUICE_GROUP_ID: table, SLUICE_CLICKHOUSE_URL: CH,
        SLUICE_METRICS_PORT: String(port), SLUICE_METRICS_HOST: '127.0.0.1', SLUICE_LOG_LEVEL: 'warn', SLUICE_FORMAT: f,
        ...(f !== 'json' && { SLUICE_SCHEMA_REGISTRY_URL: REGISTRY }),
      };
      const load = loadavg()[0]!;
      const ch0 = cpuOf(chPid);
      const started = performance.now();
      const sink = startSluice({ cli, cwd: repoRoot, env, logFile: join(tmpdir(), `${table}.log`) });
      const outcome = await waitForRows({ url: CH, table, rows: ROWS, deadline: started + 900_000, failed: () => (sink.done ? `sluice exited: ${sink.tail().slice(-500)}` : undefined) });
      const sluiceCpu = readStat(sink.pid)?.cpuS;
      const chCpu = ch0 !== undefined ? cpuOf(chPid)! - ch0 : undefined;
      await sink.stop();
      const wall = ((outcome.doneAt ?? performance.now()) - started) / 1000;
      const per1M = (x: number | undefined) => (x === undefined ? '?' : String(round((x * 1e6) / ROWS, 2)));
      rows.push([f, outcome.status, String(round(bytes[f]! / ROWS, 1)), String(Math.round(ROWS / wall)), per1M(sluiceCpu), per1M(chCpu), String(round(load, 2))]);
      say(`${f}: ${outcome.status}, ${Math.round(ROWS / wall)} rows/s`);
    }
  } finally {
    await cleanup(CH, BROKERS, prefix).catch((err: unknown) => say(`cleanup: ${String(err)}`));
  }
  process.stdout.write(`\n${ROWS} rows, ${PARTITIONS} partitions (wall time from sluice start-up to the last row; CPU-s per 1M rows)\n`);
  process.stdout.write(formatTable(['format', 'status', 'bytes/event', 'rows/s', 'sluice CPU-s/1M', 'ClickHouse CPU-s/1M', 'load avg (1 min) before'], rows) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`formats: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
