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
 *  - No process.exit here: the CLI owns the process.
 */
import { Committer } from './pipeline/committer.js';
import type { Config } from './config.js';
import { createDeadLetterSink, dlqTopicFor, RatioGuard } from './dlq/dead-letters.js';
import { insertSettings, serverFeatures, UNKNOWN_SERVER } from './clickhouse/features.js';
import { ConfigError, SluiceError, errorMessage } from './errors.js';
import { silentLogger, type Logger } from './ops/log.js';
import { createMetrics, type Metrics } from './ops/metrics.js';
import { Pipeline } from './pipeline/pipeline.js';
import { retry } from './retry.js';
import { startStatusServer, type HealthReport, type StatusServer } from './ops/server.js';
import { isKafkaAuthError } from './kafka/security.js';
import { createKafka, createSource, type Source } from './kafka/source.js';
import { createWriter, type Writer } from './clickhouse/writer.js';

export interface Sink {
  start(): Promise<void>;
  stop(): Promise<boolean>;
  live(): HealthReport;
  ready(): HealthReport;
  readonly metrics: Metrics;
  readonly statusPort: number | undefined;
}

const TICK_MS = 50;
const PING_MS = 5000;

export function createSink(config: Config, log: Logger, options: { processMetrics?: boolean } = {}): Sink {
  const metrics = createMetrics({ processMetrics: options.processMetrics ?? true });
  const abort = new AbortController();
  const backoff = { initialMs: config.retryInitialMs, maxMs: config.retryMaxMs };
  const writer: Writer = createWriter({
    url: config.clickhouseUrl,
    user: config.clickhouseUser,
    password: config.clickhousePassword,
    database: config.clickhouseDatabase,
    caFile: config.clickhouseCaFile,
    requestTimeoutMs: config.insertTimeoutMs,
    maxOpenConnections: config.insertConcurrency + 2,
  });

  let features = UNKNOWN_SERVER;
  const insertOptions = { skipUnknownFields: config.skipUnknownFields };
  let source: Source | undefined;
  let dlq: ReturnType<typeof createDeadLetterSink> | undefined;
  let server: StatusServer | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let pinger: NodeJS.Timeout | undefined;
  let lastTick = Date.now();
  let joined = false;
  let clickhouseOk = { ok: true, at: Date.now(), error: '' };
  let crashed: string | undefined;

  const committer = new Committer(
    (offsets) => source!.commit(offsets),
    backoff,
    log,
    abort.signal,
    (topic, partition, next, ts) => pipeline.onCommitted(topic, partition, next, ts),
  );
  const pipeline = new Pipeline({
    limits: { maxRows: config.batchMaxRows, maxBytes: config.batchMaxBytes, maxWaitMs: config.batchMaxWaitMs },
    maxBufferBytes: config.maxBufferBytes,
    maxRecordBytes: config.maxRecordBytes,
    insertConcurrency: config.insertConcurrency,
    backoff,
    tables: config.tables,
    insert: (table, chunks, rows) => writer.insert(table, chunks, insertSettings(features, insertOptions, rows)),
    committer,
    get deadLetters() {
      return dlq;
    },
    deadLetterGuard: new RatioGuard(config.dlqMaxRatio, config.dlqWindowMs),
    deadLetterGuardRatio: config.dlqMaxRatio,
    pause: (tps) => source?.pause(tps),
    resume: (tps) => source?.resume(tps),
    metrics,
    log,
    signal: abort.signal,
  });

  const live = (): HealthReport => {
    const age = Date.now() - lastTick;
    return age < 10_000 ? { ok: true, reasons: [] } : { ok: false, reasons: [`event loop has not turned for ${age} ms`] };
  };
  const ready = (): HealthReport => {
    const reasons: string[] = [];
    if (crashed) reasons.push(`consumer crashed: ${crashed}`);
    if (!joined) reasons.push('not a member of the consumer group (joining or rebalancing)');
    if (!clickhouseOk.ok) reasons.push(`ClickHouse unreachable (${config.clickhouseUrl}): ${clickhouseOk.error}`);
    const now = Date.now();
    for (const [key, s] of pipeline.stalled) {
      if (now - s.since >= config.readyStallMs) reasons.push(`${key}: ${s.reason} (for ${Math.round((now - s.since) / 1000)} s)`);
    }
    metrics.ready.set(reasons.length === 0 ? 1 : 0);
    return { ok: reasons.length === 0, reasons };
  };

  async function checkClickHouse(): Promise<void> {
    try {
      const version = await writer.serverVersion();
      features = serverFeatures(version);
      log.info('clickhouse.connected', { url: config.clickhouseUrl, version, features });
    } catch (err) {
      const e = err as SluiceError;
      const setting = e.kind === 'fatal' ? 'SLUICE_CLICKHOUSE_USER' : 'SLUICE_CLICKHOUSE_URL';
      throw new ConfigError(setting, `cannot use ClickHouse at ${config.clickhouseUrl}: ${errorMessage(err)}`);
    }
    for (const table of new Set(config.tables.values())) {
      try {
        await writer.checkTable(table);
      } catch (err) {
        throw new ConfigError('SLUICE_TABLE', `table ${config.clickhouseDatabase}.${table} is not usable: ${errorMessage(err)}`);
      }
    }
  }

  async function checkKafka(): Promise<void> {
    // Its own client: few retries and no per-attempt error lines, so an
    // unreachable broker gives one clear message within seconds.
    const admin = createKafka(config, silentLogger, 2).admin();
    try {
      await admin.connect();
      const existing = new Set(await admin.listTopics());
      const missing = config.topics.filter((t) => !existing.has(t));
      if (missing.length > 0) throw new ConfigError('SLUICE_TOPICS', `topic(s) ${missing.join(', ')} do not exist on ${config.kafkaBrokers.join(',')}`);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      if (isKafkaAuthError(err)) {
        throw new ConfigError('SLUICE_KAFKA_SASL_USERNAME', `Kafka at ${config.kafkaBrokers.join(',')} rejected the SASL credentials (check SLUICE_KAFKA_SASL_USERNAME, _PASSWORD, _MECHANISM)`);
      }
      throw new ConfigError('SLUICE_KAFKA_BROKERS', `cannot reach Kafka at ${config.kafkaBrokers.join(',')}: ${errorMessage(err)}`);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  return {
    metrics,
    get statusPort() {
      return server?.port;
    },
    live,
    ready,
    async start() {
      await checkClickHouse();
      source = createSource(config, log, {
        onRecords: (topic, partition, records, hw) => pipeline.onRecords(topic, partition, records, hw),
        onRebalance: (phase, assignment) => {
          const generation = pipeline.newGeneration();
          joined = phase === 'assigned';
          log.info(phase === 'assigned' ? 'group.assigned' : 'group.rebalancing', { generation, assignment });
        },
        onCrash: (error, restarting) => {
          joined = false;
          pipeline.newGeneration();
          crashed = restarting ? undefined : errorMessage(error);
          log.error('kafka.consumer_crash', { error, restarting });
        },
      });
      await checkKafka();
      if (config.dlqTopic !== 'none') {
        dlq = createDeadLetterSink({ kafka: source.kafka, dlqSetting: config.dlqTopic });
        await dlq.connect();
      }
      if (config.metricsPort > 0) server = await startStatusServer(config.metricsPort, metrics.registry, { live, ready });
      ticker = setInterval(() => {
        lastTick = Date.now();
        pipeline.tick();
        ready();
      }, TICK_MS);
      pinger = setInterval(() => {
        writer.ping().then(
          () => (clickhouseOk = { ok: true, at: Date.now(), error: '' }),
          (err: unknown) => (clickhouseOk = { ok: false, at: Date.now(), error: errorMessage(err) }),
        );
      }, PING_MS);
      await source.start();
      log.info('sink.started', {
        topics: config.topics,
        groupId: config.groupId,
        tables: Object.fromEntries(config.tables),
        deadLetters: config.dlqTopic === 'none' ? 'off' : config.topics.map((t) => dlqTopicFor(config.dlqTopic, t)),
        statusPort: server?.port,
      });
    },
    async stop() {
      log.info('sink.stopping', { bufferedBytes: pipeline.bufferedBytes, deadlineMs: config.shutdownTimeoutMs });
      source?.pauseAll();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), config.shutdownTimeoutMs)));
      const flushed = (async () => {
        await pipeline.drain();
        await committer.flush();
        return 'flushed' as const;
      })();
      const outcome = await Promise.race([flushed, deadline]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        log.error('sink.shutdown_timeout', { bufferedBytes: pipeline.bufferedBytes, note: 'uncommitted records will be re-read after restart' });
        abort.abort();
      }
      clearInterval(ticker);
      clearInterval(pinger);
      // Leaving the group hands our partitions over at once instead of after
      // the session timeout.
      await retry(async () => source?.stop(), {
        ...backoff,
        maxMs: 1000,
        what: 'leave group',
        signal: AbortSignal.timeout(5000),
        classify: (err) => new SluiceError('transient', errorMessage(err)),
      }).catch((err: unknown) => log.warn('kafka.disconnect_failed', { error: errorMessage(err) }));
      await dlq?.disconnect().catch(() => {});
      await server?.close();
      await writer.close();
      log.info('sink.stopped', { clean: outcome === 'flushed' });
      return outcome === 'flushed';
    },
  };
}
