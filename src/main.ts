/**
 * main — wiring only: config → writer, committer, dead-letter sink,
 * pipeline, source, status server; start, and stop in the right order.
 *
 * Contract:
 *  - `createSink(config)` builds nothing that touches the network;
 *    `start()` checks ClickHouse and the tables (failing with one clear
 *    error naming the setting), then joins the group and runs until `stop()`.
 *  - `stop()`: stop taking records (pause everything), flush open batches,
 *    write and commit them, leave the group. If that takes longer than
 *    SLUICE_SHUTDOWN_TIMEOUT_MS, in-flight work is aborted without a commit
 *    (the records are re-read after restart) and `stop` resolves `false`.
 *  - `sampleDrift(config, log, perPartition)` (for `sluice check`) reads
 *    the last records of each partition without the sink's group and
 *    judges them as the sink would, per table (formats/drift.ts).
 *  - No process.exit here: the CLI owns the process.
 */
import type { Kafka } from 'kafkajs';
import { Committer } from './pipeline/committer.js';
import type { Config } from './config.js';
import { createDeadLetterSink, dlqTopicFor, RatioGuard } from './dlq/dead-letters.js';
import { checkClickHouse } from './clickhouse/check.js';
import { createClickHouseWatch } from './clickhouse/watch.js';
import { insertSettings, UNKNOWN_SERVER } from './clickhouse/features.js';
import { ConfigError, SluiceError, errorMessage } from './errors.js';
import { checkKafka } from './kafka/check.js';
import { kafkajsPatchProblem } from './kafka/patched.js';
import { createEndOffsetPoller } from './kafka/end-offsets.js';
import { createCutIntentReader, type CutIntentReader } from './kafka/intents.js';
import { Health } from './ops/health.js';
import { EventTally, type Logger } from './ops/log.js';
import { BoundedLabels } from './ops/metrics.js';
import { TableEncoders } from './formats/tables.js';
import { createRecordFormat } from './formats/record-format.js';
import { redactUrl } from './ops/redact.js';
import { createMetrics, type Metrics } from './ops/metrics.js';
import { Pipeline } from './pipeline/pipeline.js';
import { retry, within, Wakeup } from './retry.js';
import { startStatusServer, type HealthReport, type StatusServer } from './ops/server.js';
import { createSource, type Source } from './kafka/source.js';
import { createWriter, type Writer, type WriterOptions } from './clickhouse/writer.js';
import { readTableColumns } from './clickhouse/schema.js';
import { TableDrift, type TableDriftReport } from './formats/drift.js';
import { EnvelopeReader } from './formats/envelope.js';
import { routerFor, type TopicRouter, type Unmatched } from './formats/routes.js';
import { landedLatency } from './pipeline/latency.js';
import { createKafka } from './kafka/source.js';
import { sampleRecent, type SampleResult } from './kafka/sample.js';

export interface Sink {
  /** `checkOnly` (sluice check): every start-up check, then return — without joining the group. */
  start(opts?: { checkOnly?: boolean }): Promise<void>;
  stop(): Promise<boolean>;
  live(): HealthReport;
  ready(): HealthReport;
  readonly metrics: Metrics;
  readonly statusPort: number | undefined;
}

const TICK_MS = 50;
/** How often dead letters are summarised in the log (they are counted by metrics all along). */
const SUMMARY_MS = 60_000;

export function createSink(config: Config, log: Logger, options: { processMetrics?: boolean } = {}): Sink {
  const metrics = createMetrics({ processMetrics: options.processMetrics ?? true });
  const abort = new AbortController();
  const backoff = { initialMs: config.retryInitialMs, maxMs: config.retryMaxMs };
  const writer: Writer = createWriter(writerOptions(config));

  let features = UNKNOWN_SERVER;
  const encoders = tableEncoders(config, writer, log);
  const driftFields = new BoundedLabels(100);
  const insertOptions = { skipUnknownFields: config.skipUnknownFields };
  let source: Source | undefined;
  let dlq: ReturnType<typeof createDeadLetterSink> | undefined;
  let server: StatusServer | undefined;
  /** What start() set running in the background, stopped in reverse order by stop(). */
  const jobs: Array<() => void | Promise<void>> = [];
  const wake = new Wakeup();
  const deadLetterTally = new EventTally();

  const committer = new Committer(
    (offsets) => source!.commit(offsets),
    backoff,
    log,
    abort.signal,
    (topic, partition, next, ts) => pipeline.onCommitted(topic, partition, next, ts),
  );
  const pipeline = new Pipeline({
    ...pipelineSettings(config),
    backoff,
    insert: (table, body, rows) => writer.insert(table, body, insertSettings(features, insertOptions, rows)),
    ...routing(config),
    landed: landedLatency(config.envelope, metrics),
    encoders,
    unknownFields: (table, field, n) => metrics.unknownFields.inc({ table, field: driftFields.label(table, field) }, n),
    committer,
    get deadLetters() {
      return dlq;
    },
    pause: (tps) => source?.pause(tps),
    resume: (tps) => source?.resume(tps),
    metrics,
    log,
    deadLetterTally,
    wake,
    signal: abort.signal,
  });

  const health = new Health({
    readyStallMs: config.readyStallMs,
    stalled: () => pipeline.stalled,
    readyGauge: metrics.ready,
  });
  const intents = cutIntentLoader(pipeline, log, config.groupId);
  // /readyz shows only the code and class of a failed ping; the full text is logged once per change.
  const watch = createClickHouseWatch(() => writer.ping(), (error) => {
    if (health.clickhouse(error) && error !== undefined) log.warn('clickhouse.unreachable', { error, url: redactUrl(config.clickhouseUrl) });
  }, wake, log);
  const live = () => health.live();
  const ready = () => health.ready();

  return {
    metrics,
    get statusPort() {
      return server?.port;
    },
    live,
    ready,
    async start(opts = {}) {
      // A kafkajs without sluice's patch decodes many-header records in
      // quadratic time: one such record would stall its partition for good.
      const unpatched = await kafkajsPatchProblem();
      if (unpatched !== undefined) throw new ConfigError('kafkajs', unpatched);
      features = await checkClickHouse(writer, { url: config.clickhouseUrl, database: config.clickhouseDatabase, tables: config.targetTables });
      await encoders.load();
      if (opts.checkOnly) {
        // Joining the group would make running replicas rebalance (and take
        // records) for a check: the topics are looked at from the side.
        await checkKafka(config, config.topics);
        return;
      }
      jobs.push(every(config.schemaCheckMs, () => encoders.checkAll().catch((err: unknown) => log.debug('schema.check_failed', { error: errorMessage(err) }))));
      log.info('clickhouse.connected', { url: redactUrl(config.clickhouseUrl), version: features.version, features, insertFormat: encoders.insertLayout });
      source = createSource(config, log, {
        onRecords: (topic, partition, records, hw) => pipeline.onRecords(topic, partition, records, hw),
        onRebalance: (phase, assignment) => {
          health.groupJoined(phase === 'assigned');
          if (phase === 'started') {
            // Not abandoned yet: beforeRejoin writes and commits what is in flight.
            log.info('group.rebalancing', { generation: pipeline.currentGeneration });
            return;
          }
          const generation = pipeline.newGeneration();
          log.info('group.assigned', { generation, assignment });
          if (assignment) intents.load(source!.kafka, assignment, generation);
        },
        beforeRejoin: async () => {
          // The group waits for this member (up to its rebalance timeout) and
          // takes commits of the current generation meanwhile; heartbeats do
          // not run, so stay well inside the session timeout.
          const ms = Math.floor(config.kafkaSessionTimeoutMs / 2);
          const started = Date.now();
          const settled = await pipeline.settle(ms);
          const committed = settled && (await within(Math.max(0, ms - (Date.now() - started)), () => committer.flush()));
          log.info('group.settled', { settled: committed, ms: Date.now() - started, bufferedBytes: pipeline.bufferedBytes });
        },
        onCrash: (error, restarting) => {
          health.groupJoined(false);
          pipeline.newGeneration();
          health.consumerCrashed(restarting ? undefined : error);
          log.error('kafka.consumer_crash', { error, restarting });
        },
      });
      await checkKafka(config, config.topics);
      if (config.dlqTopic !== 'none') {
        dlq = createDeadLetterSink({ kafka: source.kafka, dlqSetting: config.dlqTopic });
        await dlq.connect();
      }
      if (config.metricsPort > 0) server = await startStatusServer(config.metricsPort, metrics.registry, { live, ready }, config.metricsHost);
      jobs.push(every(TICK_MS, () => (health.tick(), pipeline.tick(), ready())));
      watch.start();
      jobs.push(() => watch.stop());
      const endOffsets = createEndOffsetPoller(source.kafka, config.topics, (ends) => pipeline.onEndOffsets(ends), log);
      endOffsets.start();
      jobs.push(() => endOffsets.stop());
      jobs.push(every(SUMMARY_MS, () => summarizeDeadLetters(deadLetterTally, log)), () => summarizeDeadLetters(deadLetterTally, log));
      await source.start();
      log.info('sink.started', {
        topics: config.topics,
        groupId: config.groupId,
        tables: config.envelope.rules ? config.targetTables : Object.fromEntries(config.tables),
        ...(config.envelope.rules && { routes: config.envelope.rules.map((r) => r.text), unmatched: config.envelope.unmatched }),
        deadLetters: config.dlqTopic === 'none' ? 'off' : config.topics.map((t) => dlqTopicFor(config.dlqTopic, t)),
        statusPort: server?.port,
        statusHost: server ? config.metricsHost : undefined,
      });
    },
    async stop() {
      log.info('sink.stopping', { bufferedBytes: pipeline.bufferedBytes, deadlineMs: config.shutdownTimeoutMs });
      source?.pauseAll();
      const flushed = await within(config.shutdownTimeoutMs, async () => {
        await pipeline.drain();
        await committer.flush();
      });
      if (!flushed) {
        log.error('sink.shutdown_timeout', { bufferedBytes: pipeline.bufferedBytes, note: 'uncommitted records will be re-read after restart' });
        abort.abort();
      }
      for (const stopJob of jobs.reverse()) await stopJob();
      await intents.close();
      if (source) await leaveGroup(source, backoff, log);
      await dlq?.disconnect().catch(() => {});
      await server?.close();
      await writer.close();
      log.info('sink.stopped', { clean: flushed });
      return flushed;
    },
  };
}

export interface DriftCheck {
  readonly tables: readonly TableDriftReport[];
  readonly sample: SampleResult;
  /** With SLUICE_ROUTES: sampled records per route target, and those no rule matched, with an example reason. */
  readonly routes?: { readonly targets: ReadonlyMap<string, number>; readonly unmatched: number; readonly example: string | undefined };
}

/**
 * The last `perPartition` records of every partition of the configured
 * topics, judged per table by the sink's own encoders (see
 * formats/drift.ts). Reads through a throwaway group (kafka/sample.ts):
 * the sink's group and its offsets are not touched.
 */
export async function sampleDrift(config: Config, log: Logger, perPartition: number, opts: { timeoutMs?: number } = {}): Promise<DriftCheck> {
  const writer = createWriter(writerOptions(config));
  const query = (sql: string) => writer.queryRows(sql);
  const kafka = createKafka(config, log, 2);
  const admin = kafka.admin();
  try {
    const encoders = tableEncoders(config, writer);
    await encoders.load();
    const drifts = new Map<string, TableDrift>();
    for (const table of config.targetTables) {
      const info = await readTableColumns(query, config.clickhouseDatabase, table);
      drifts.set(table, new TableDrift(info, encoders.encoderFor(table), { maxRecordBytes: config.maxRecordBytes }));
    }
    const route = routing(config);
    const routers = new Map(config.topics.map((t) => [t, route.routerFor?.(t)]));
    const routed = { targets: new Map<string, number>(), unmatched: 0, example: undefined as string | undefined };
    await admin.connect();
    const sample = await sampleRecent(
      kafka,
      admin,
      config.topics,
      perPartition,
      (topic, partition, records) => {
        const router = routers.get(topic);
        if (!router) return drifts.get(config.tables.get(topic)!)?.add(topic, partition, records);
        // Routed: each record to the table its route names (unrouted ones are not any table's drift).
        for (const r of records) {
          const target = router.route(r);
          if (target === undefined) {
            routed.unmatched++;
            routed.example ??= router.describe(undefined);
          } else {
            routed.targets.set(target, (routed.targets.get(target) ?? 0) + 1);
            drifts.get(target)?.add(topic, partition, [r]);
          }
        }
      },
      { timeoutMs: opts.timeoutMs },
    );
    return { tables: [...drifts.values()].map((d) => d.report()), sample, ...(route.routerFor && { routes: routed }) };
  } finally {
    await admin.disconnect().catch(() => {});
    await writer.close();
  }
}

/** Leaving the group hands our partitions over at once instead of after the session timeout. */
async function leaveGroup(source: Source, backoff: { initialMs: number; maxMs: number }, log: Logger): Promise<void> {
  await retry(async () => source.stop(), {
    ...backoff,
    maxMs: 1000,
    what: 'leave group',
    signal: AbortSignal.timeout(5000),
    classify: (err) => new SluiceError('transient', errorMessage(err)),
  }).catch((err: unknown) => log.warn('kafka.disconnect_failed', { error: errorMessage(err) }));
}

function writerOptions(config: Config): WriterOptions {
  return {
    url: config.clickhouseUrl,
    user: config.clickhouseUser,
    password: config.clickhousePassword,
    database: config.clickhouseDatabase,
    caFile: config.clickhouseCaFile,
    requestTimeoutMs: config.insertTimeoutMs,
    maxOpenConnections: config.insertConcurrency + 2,
  };
}

/** The pipeline's settings that come straight from the configuration. */
function pipelineSettings(config: Config) {
  return {
    limits: { maxRows: config.batchMaxRows, maxBytes: config.batchMaxBytes, maxWaitMs: config.batchMaxWaitMs },
    maxBufferBytes: config.maxBufferBytes,
    maxRecordBytes: config.maxRecordBytes,
    insertConcurrency: config.insertConcurrency,
    tables: config.tables,
    deadLetterGuard: new RatioGuard(config.dlqMaxRatio, config.dlqWindowMs),
    deadLetterGuardRatio: config.dlqMaxRatio,
    mirrorSourceAlias: config.mirrorSourceAlias,
  };
}

function summarizeDeadLetters(tally: EventTally, log: Logger): void {
  const counts = tally.drain();
  if (counts.length === 0) return;
  const total = counts.reduce((n, c) => n + Number(c.count), 0);
  log.warn('dlq.summary', { deadLettered: total, byTopicTableReason: counts });
}

/** Runs `fn` every `ms`; returns what stops it. */
function every(ms: number, fn: () => unknown): () => void {
  const timer = setInterval(fn, ms);
  return () => clearInterval(timer);
}

function tableEncoders(config: Config, writer: Writer, log?: Logger): TableEncoders {
  return new TableEncoders({
    database: config.clickhouseDatabase,
    tables: config.targetTables,
    mode: config.insertFormat,
    strict: !config.skipUnknownFields,
    metadata: config.metadataColumns,
    envelope: config.envelope,
    query: (sql) => writer.queryRows(sql),
    format: createRecordFormat(config.format),
    ...(log && { onChange: (table: string, added: string[], removed: string[]) => log.info('schema.changed', { table, added, removed }) }),
  });
}

/** SLUICE_ROUTES, bound per topic (formats/routes.ts); none with SLUICE_TABLE. */
function routing(config: Config): { routerFor?: (topic: string) => TopicRouter; unmatched: Unmatched } {
  const { rules, unmatched, json } = config.envelope;
  if (!rules) return { unmatched };
  const reader = new EnvelopeReader(json);
  return { routerFor: (topic) => routerFor(rules, topic, reader), unmatched };
}

/**
 * Before the first batch of a new assignment: where the previous owners cut
 * the batches they were writing (pipeline/batcher.ts). Deliveries wait in the
 * pipeline for the answer (milliseconds).
 */
function cutIntentLoader(pipeline: Pipeline, log: Logger, groupId: string) {
  let reader: CutIntentReader | undefined;
  return {
    load(kafka: Kafka, assignment: Record<string, number[]>, generation: number): void {
      if (Object.values(assignment).every((ps) => ps.length === 0)) return;
      reader ??= createCutIntentReader(kafka, groupId);
      const ready = reader.read(assignment).then(
        (found) => {
          for (const i of found) pipeline.setCutIntent(i.topic, i.partition, i.end, generation);
          if (found.length > 0) log.info('group.cut_intents', { generation, intents: found.map((i) => `${i.topic}:${i.partition}<${i.end}`) });
        },
        (err: unknown) => log.warn('group.cut_intents_unread', { generation, error: errorMessage(err), note: 'batches are cut as usual; a re-read age-cut batch may be written twice' }),
      );
      pipeline.holdUntil(generation, ready);
    },
    async close(): Promise<void> {
      await reader?.close();
    },
  };
}
