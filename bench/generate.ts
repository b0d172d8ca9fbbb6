/**
 * generate — produce the benchmark dataset to a fresh Kafka topic.
 *
 * Contract: `produceDataset({ brokers, topic, rows, partitions })` creates
 * the topic with that many partitions (it must not exist), writes events
 * 0..rows-1 from lib/dataset.ts as one message each (no key, so librdkafka's
 * partitioner spreads them over all partitions), and resolves only when the
 * broker's high watermarks add up to exactly `rows`; anything else rejects.
 * Also runnable on its own:
 *   node bench/dist/generate.js --topic T [--rows 2000000] [--partitions 8] [--brokers 127.0.0.1:9092]
 *
 * Why kcat and not kafkajs: the producer is not what is being measured, and
 * librdkafka batches and sends from C threads while Node only formats lines,
 * which fills the broker several times faster than kafkajs' JS encoder on a
 * 2-core machine. acks=1 is enough: the broker is a single node anyway.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { createDataset } from './lib/dataset.js';

export interface ProduceOptions {
  brokers: string;
  topic: string;
  rows: number;
  partitions: number;
}

export interface ProduceResult {
  rows: number;
  payloadBytes: number;
  seconds: number;
  perPartition: number[];
}

/** Lines are handed to kcat in chunks of about this many bytes; big writes keep the pipe cheap. */
const CHUNK_BYTES = 1 << 20;

export async function produceDataset(opts: ProduceOptions): Promise<ProduceResult> {
  const kafka = new Kafka({ clientId: 'sluice-bench-generate', brokers: opts.brokers.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const created = await admin.createTopics({
      topics: [{ topic: opts.topic, numPartitions: opts.partitions, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    if (!created) throw new Error(`topic ${opts.topic} already exists; the benchmark needs a fresh one`);

    const started = performance.now();
    const payloadBytes = await pipeToKcat(opts);
    const seconds = (performance.now() - started) / 1000;

    const offsets = await admin.fetchTopicOffsets(opts.topic);
    const perPartition = offsets
      .sort((a, b) => a.partition - b.partition)
      .map((o) => Number(o.high) - Number(o.low));
    const total = perPartition.reduce((s, n) => s + n, 0);
    if (total !== opts.rows) throw new Error(`produced ${opts.rows} events but the topic holds ${total}`);
    return { rows: opts.rows, payloadBytes, seconds, perPartition };
  } finally {
    await admin.disconnect();
  }
}

async function pipeToKcat(opts: ProduceOptions): Promise<number> {
  const kcat = spawn('kcat', [
    '-P', '-b', opts.brokers, '-t', opts.topic,
    '-X', 'acks=1',
    // Larger batches and a short linger: fewer, fuller produce requests.
    '-X', 'linger.ms=50',
    '-X', 'batch.num.messages=100000',
    '-X', 'queue.buffering.max.messages=1000000',
    // librdkafka's default sticky partitioner gives keyless messages lumps of
    // one partition (we saw 29k..88k of 500k over 8); random per message
    // gives every partition the same share, so partition-parallel
    // contenders are not judged on one hot partition.
    '-X', 'sticky.partitioning.linger.ms=0',
  ], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  kcat.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = once(kcat, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  // If kcat dies early, writes fail with EPIPE; report kcat's exit instead.
  kcat.stdin.on('error', () => {});

  const dataset = createDataset(opts.rows);
  let bytes = 0;
  let chunk = '';
  for (let i = 0; i < opts.rows; i++) {
    const line = dataset.eventLine(i);
    bytes += line.length; // ASCII only, so characters = bytes
    chunk += line + '\n';
    if (chunk.length >= CHUNK_BYTES || i === opts.rows - 1) {
      if (!kcat.stdin.write(chunk)) {
        await Promise.race([once(kcat.stdin, 'drain'), exited]);
        if (kcat.exitCode !== null) break;
      }
      chunk = '';
    }
  }
  kcat.stdin.end();
  const [code, signal] = await exited;
  if (code !== 0) throw new Error(`kcat -P exited with ${code ?? signal}: ${stderr.trim()}`);
  return bytes;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      topic: { type: 'string' },
      rows: { type: 'string', default: '2000000' },
      partitions: { type: 'string', default: '8' },
      brokers: { type: 'string', default: '127.0.0.1:9092' },
    },
  });
  if (!values.topic) throw new Error('--topic is required');
  const result = await produceDataset({
    brokers: values.brokers,
    topic: values.topic,
    rows: Number(values.rows),
    partitions: Number(values.partitions),
  });
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`generate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
