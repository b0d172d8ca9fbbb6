/**
 * source — the kafkajs consumer: joins the group, hands fetched batches to
 * the pipeline, pauses/resumes partitions, commits offsets it is given.
 *
 * Contract:
 *  - kafkajs never commits on its own (autoCommit off); the only commits are
 *    the ones `commit()` is asked for, after the data is written.
 *  - `eachBatch` hands records over and returns without waiting for the
 *    write, so kafkajs fetches the next batch while the last one is being
 *    inserted; memory is bounded by pausing, not by blocking the fetch loop
 *    (which would also stop heartbeats and stall rebalances).
 *  - Every rebalance is announced twice: `onRebalance` when kafkajs sees it
 *    start and again when the new assignment arrives. kafkajs stops all
 *    fetchers (waiting for running eachBatch calls) before it rejoins, and
 *    re-reads committed offsets after, so nothing from before the rebalance
 *    is delivered afterwards. Between the two, before this member rejoins,
 *    `beforeRejoin` is awaited (a hook sluice's kafkajs patch adds): the
 *    group waits for us and still takes commits of the current generation,
 *    so work in flight can be written and committed instead of abandoned.
 *  - kafkajs logs go through the sink's JSON logger.
 *
 * Stage: kafka/ owns everything that speaks the Kafka protocol: this
 * consumer, the record shape it hands on (record.ts), group offsets for the
 * offset tools (offsets.ts) and TLS/SASL options (security.ts). It imports
 * only ops/ and the base.
 */
import { installCodecs } from './codecs.js';
import { Kafka, logLevel as KafkaLogLevel, type Consumer, type LogEntry } from 'kafkajs';
import { compactChunk, type RawMessage, type SourceRecord } from './record.js';
import { kafkaClientOptions, type KafkaSecurity } from './security.js';
import { LogRateLimit, type Logger } from '../ops/log.js';

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

export interface OffsetCommit {
  readonly topic: string;
  readonly partition: number;
  /** The next offset to read, as Kafka wants it. */
  readonly offset: string;
  /** Stored with the offset (a cut intent, pipeline/batcher.ts). */
  readonly metadata?: string;
}

/** What the consumer needs of the sink's configuration (config.ts Config has all of it). */
export interface KafkaClientSettings {
  readonly kafkaBrokers: readonly string[];
  readonly kafkaClientId: string;
  readonly kafkaSecurity: KafkaSecurity;
}

export interface SourceSettings extends KafkaClientSettings {
  readonly topics: readonly string[];
  readonly groupId: string;
  readonly startFrom: 'earliest' | 'latest';
  readonly kafkaSessionTimeoutMs: number;
  /** SLUICE_MAX_BUFFER_BYTES: fetch sizes are derived from it. */
  readonly maxBufferBytes: number;
}

export interface SourceHandlers {
  onRecords(topic: string, partition: number, records: SourceRecord[], highWatermark: number): void;
  onRebalance(phase: 'started' | 'assigned', assignment?: Record<string, number[]>): void;
  /** Awaited after 'started', before rejoining; must bound its own time (the session timeout runs). */
  beforeRejoin(): Promise<void>;
  onCrash(error: unknown, restarting: boolean): void;
}

export interface Source {
  start(): Promise<void>;
  pause(tps: TopicPartition[]): void;
  resume(tps: TopicPartition[]): void;
  pauseAll(): void;
  commit(offsets: OffsetCommit[]): Promise<void>;
  /** Leaves the group and disconnects. */
  stop(): Promise<void>;
  readonly kafka: Kafka;
}

// kafkajs logs these at ERROR although they are a normal part of a group's
// life (a replica joins or leaves); at 3 a.m. an error line should mean
// something is wrong.
const ROUTINE = /group is rebalancing|rejoin is needed|coordinator is not available|not the correct coordinator/i;
// Connection trouble kafkajs retries by itself (a broker restarting): worth
// a warning, not an error, and not one per attempt — 4 s of broker restart
// gave dozens of error lines for a fault that lost nothing.
const TRANSIENT = /connection error|ECONNREFUSED|ECONNRESET|connection timeout|closed connection|socket hang up|broker not available|leader not available|not leader|request timed out/i;

export function kafkaLogCreator(log: Logger, limit = new LogRateLimit(30_000)) {
  return () =>
    ({ level, label, log: entry }: LogEntry) => {
      const { message, timestamp: _t, logger: _l, ...rest } = entry as Record<string, unknown>;
      const fields = { component: 'kafkajs', message, ...rest };
      const text = `${String(message)} ${String(rest.error ?? '')}`;
      if (level === KafkaLogLevel.ERROR && ROUTINE.test(text)) log.info('kafka.log', fields);
      else if (level <= KafkaLogLevel.WARN && TRANSIENT.test(text)) {
        const extra = limit.admit(String(message));
        if (extra) log.warn('kafka.log', { ...fields, ...extra });
      } else if (level === KafkaLogLevel.ERROR) log.error('kafka.log', fields);
      else if (level === KafkaLogLevel.WARN) log.warn('kafka.log', fields);
      else if (level === KafkaLogLevel.INFO) log.debug('kafka.log', fields);
      else log.debug('kafka.log', { ...fields, label });
    };
}

/**
 * `retries`: how often kafkajs retries a failed request before giving up. The
 * running consumer rides out a broker restart (12, ~1.5 min, then kafkajs
 * restarts the consumer); a start-up check wants a quick, clear answer.
 */
export function createKafka(config: KafkaClientSettings, log: Logger, retries = 12): Kafka {
  installCodecs();
  return new Kafka({
    clientId: config.kafkaClientId,
    brokers: [...config.kafkaBrokers],
    ...kafkaClientOptions(config.kafkaSecurity),
    logLevel: KafkaLogLevel.WARN,
    logCreator: kafkaLogCreator(log),
    connectionTimeout: 3000,
    retry: { initialRetryTime: 300, maxRetryTime: 10_000, retries },
  });
}

export function createSource(config: SourceSettings, log: Logger, handlers: SourceHandlers): Source {
  const kafka = createKafka(config, log);
  // A fetch response and the objects kafkajs decodes from it live until its
  // records are compacted (record.ts); large fetches let those objects
  // outlive young-generation GCs and inflate the heap. Measured on the
  // bench dataset (1M events, 64 MiB cap): 32 MiB fetches peaked at ~400 MiB
  // RSS, 8 MiB at ~330 MiB, for a throughput within run-to-run noise.
  const maxBytes = Math.max(1 << 20, Math.min(8 << 20, Math.floor(config.maxBufferBytes / 8)));
  const consumer: Consumer = kafka.consumer({
    groupId: config.groupId,
    sessionTimeout: config.kafkaSessionTimeoutMs,
    rebalanceTimeout: 60_000,
    // kafkajs learns of a rebalance only from a heartbeat answer; until then
    // it keeps writing batches it must then abandon (duplicates). 1 s keeps
    // that window short at the cost of one small request a second.
    heartbeatInterval: Math.min(1000, Math.floor(config.kafkaSessionTimeoutMs / 6)),
    maxBytes,
    maxBytesPerPartition: Math.max(64 << 10, Math.min(8 << 20, Math.floor(maxBytes / 4))),
    maxWaitTimeInMs: 250,
    retry: {
      retries: 12,
      initialRetryTime: 300,
      maxRetryTime: 10_000,
      restartOnFailure: async (err) => {
        handlers.onCrash(err, true);
        return true;
      },
    },
  });

  consumer.on(consumer.events.REBALANCING, () => handlers.onRebalance('started'));
  consumer.on(consumer.events.GROUP_JOIN, (e) => handlers.onRebalance('assigned', e.payload.memberAssignment));
  consumer.on(consumer.events.CRASH, (e) => {
    if (!e.payload.restart) handlers.onCrash(e.payload.error, false);
  });

  const byTopic = (tps: TopicPartition[]) => {
    const m = new Map<string, number[]>();
    for (const tp of tps) m.set(tp.topic, [...(m.get(tp.topic) ?? []), tp.partition]);
    return [...m].map(([topic, partitions]) => ({ topic, partitions }));
  };

  return {
    kafka,
    async start() {
      await consumer.connect();
      await consumer.subscribe({ topics: [...config.topics], fromBeginning: config.startFrom === 'earliest' });
      await consumer.run({
        // patches/kafkajs+2.2.4.patch: awaited before the member rejoins.
        ...({ onRebalancing: () => handlers.beforeRejoin() } as object),
        autoCommit: false,
        eachBatchAutoResolve: true,
        partitionsConsumedConcurrently: 64,
        eachBatch: async ({ batch }) => {
          const records = compactChunk(batch.messages as RawMessage[]);
          handlers.onRecords(batch.topic, batch.partition, records, Number(batch.highWatermark));
        },
      });
    },
    pause(tps) {
      if (tps.length > 0) consumer.pause(byTopic(tps));
    },
    resume(tps) {
      if (tps.length > 0) consumer.resume(byTopic(tps));
    },
    pauseAll() {
      // Before run() (a signal during start-up) there is nothing to pause.
      try {
        consumer.pause(config.topics.map((topic) => ({ topic })));
      } catch {
        /* not running yet */
      }
    },
    async commit(offsets) {
      await consumer.commitOffsets(offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, metadata: o.metadata ?? null })));
    },
    async stop() {
      await consumer.disconnect();
    },
  };
}
