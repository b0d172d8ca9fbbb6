/**
 * dead-letters — the dead-letter topic: where records ClickHouse rejects for their
 * content go, with everything needed to fix and replay them.
 *
 * Contract:
 *  - `createDeadLetterSink` produces each letter with the record's original
 *    key and value bytes, unchanged, and resolves only when the broker
 *    acknowledged all of them from every in-sync replica (acks = -1).
 *  - Headers (all strings, `sluice.` prefix): source topic, partition,
 *    offset, timestamp, target table, error class, ClickHouse error code,
 *    error message (first 1,000 bytes), sink version and failure time; the
 *    record's own headers are kept too. `parseDeadLetterHeaders` reads them
 *    back for the replay tool.
 *  - `dlqTopicFor(config, topic)`: SLUICE_DLQ_TOPIC if set, else `<topic>.dlq`;
 *    `none` turns dead-lettering off (bad records then stall their partition).
 *  - `RatioGuard` trips when dead letters exceed SLUICE_DLQ_MAX_RATIO of the
 *    records written over the last SLUICE_DLQ_WINDOW_MS, once at least
 *    DLQ_MIN_SAMPLE records were seen — a flood of rejections means a missing
 *    migration or a bad deploy, not bad records.
 *
 * Stage: dlq/ owns what happens to records that cannot be stored: the
 * dead-letter topic (this file), isolating the rows ClickHouse rejects
 * (isolate.ts) and `sluice replay` (replay*.ts). It may import formats/,
 * clickhouse/, kafka/, ops/ and the base; never pipeline/, config or main.
 */
import kafkajs, { Partitioners, type Admin, type IHeaders, type Kafka, type Message, type Producer } from 'kafkajs';
import type { SourceRecord } from '../kafka/record.js';
import type { PrecheckReason } from '../formats/encoder.js';
import { VERSION } from '../version.js';
import { fitLetter, packLetters } from './fit.js';

/** A record the sink will not write, and why. */
export interface DeadLetter {
  readonly record: SourceRecord;
  /**
   * `precheck` reason; 'invalid' when the sink could not decode it into a
   * row of the table; 'rejected' when ClickHouse refused the row;
   * 'unrouted' when no route takes it (or a `!deadletter` route does).
   */
  readonly reason: PrecheckReason | 'invalid' | 'rejected' | 'unrouted';
  readonly code: number | undefined;
  readonly message: string;
  /** The column whose value was wrong, when one was ('invalid'). */
  readonly column?: string | undefined;
  /** The table the record was meant for, when routes chose it (else the partition's); '' for none ('unrouted'). */
  readonly table?: string | undefined;
}

export interface DeadLetterSink {
  /**
   * Resolves once every letter is acknowledged by all in-sync replicas, with
   * how many had to be cut to fit the topic (fit.ts). `progress.sent` counts
   * the letters already acknowledged: a retry with the same letters and the
   * same progress object resumes after them instead of producing them twice.
   */
  send(source: { topic: string; partition: number; table: string }, letters: readonly DeadLetter[], progress?: { sent: number }): Promise<{ truncated: number }>;
}

export const HEADER = {
  topic: 'sluice.source.topic',
  partition: 'sluice.source.partition',
  offset: 'sluice.source.offset',
  timestamp: 'sluice.source.timestamp',
  table: 'sluice.target.table',
  errorClass: 'sluice.error.class',
  errorCode: 'sluice.error.code',
  errorMessage: 'sluice.error.message',
  /** The column whose value could not be stored (class invalid). */
  errorColumn: 'sluice.error.column',
  version: 'sluice.version',
  failedAt: 'sluice.failed.at',
  /** Set by `sluice replay` on a letter it produced again: how many replays it has failed. */
  replayAttempts: 'sluice.replay.attempts',
} as const;

export const DLQ_MIN_SAMPLE = 1000;

export function dlqTopicFor(setting: string, topic: string): string | undefined {
  if (setting === 'none') return undefined;
  return setting === '' ? `${topic}.dlq` : setting;
}

export interface DeadLetterSinkOptions {
  readonly kafka: Kafka;
  readonly dlqSetting: string;
}

// kafkajs is CommonJS and Node's ESM loader cannot see this export by name.
const { ConfigResourceTypes } = kafkajs;

/** Kafka's default max.message.bytes, for a broker that will not say. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1048588;

export function createDeadLetterSink(opts: DeadLetterSinkOptions): DeadLetterSink & { connect(): Promise<void>; disconnect(): Promise<void> } {
  const producer: Producer = opts.kafka.producer({ allowAutoTopicCreation: true, createPartitioner: Partitioners.DefaultPartitioner, retry: { retries: 5 } });
  let admin: Admin | undefined;
  // Per topic; forgotten when the broker still says "too large" (the topic's setting changed).
  const limits = new Map<string, number>();
  const limitOf = async (topic: string): Promise<number> => {
    let limit = limits.get(topic);
    if (limit === undefined) {
      if (!admin) {
        admin = opts.kafka.admin();
        await admin.connect();
      }
      limit = await maxMessageBytes(admin, topic);
      limits.set(topic, limit);
    }
    return limit;
  };
  return {
    connect: () => producer.connect(),
    async disconnect() {
      await admin?.disconnect().catch(() => {});
      await producer.disconnect();
    },
    async send(source, letters, progress = { sent: 0 }) {
      const topic = dlqTopicFor(opts.dlqSetting, source.topic);
      if (!topic) throw new Error('dead-lettering is off');
      const limit = await limitOf(topic);
      const failedAt = new Date().toISOString();
      let truncated = 0;
      const messages = letters.slice(progress.sent).map((l) => {
        const m: Message = { key: l.record.key, value: l.record.value, timestamp: String(l.record.timestamp), headers: headersFor(source, l, failedAt) };
        const fitted = fitLetter(m, limit);
        if (fitted !== m) truncated++;
        return fitted;
      });
      for (const run of packLetters(messages, limit)) {
        try {
          await producer.send({ topic, acks: -1, messages: run });
        } catch (err) {
          if ((err as { type?: unknown }).type === 'MESSAGE_TOO_LARGE') limits.delete(topic);
          throw err;
        }
        progress.sent += run.length;
      }
      return { truncated };
    },
  };
}

/**
 * The largest record batch `topic` accepts: its max.message.bytes, or for a
 * topic that does not exist yet (auto-created on the first produce) the
 * broker's message.max.bytes, or Kafka's default.
 */
export async function maxMessageBytes(admin: Admin, topic: string): Promise<number> {
  const read = (r: { resources: Array<{ configEntries: Array<{ configName: string; configValue: string }> }> }, name: string) => {
    const v = Number(r.resources[0]?.configEntries.find((e) => e.configName === name)?.configValue);
    return Number.isSafeInteger(v) && v > 0 ? v : undefined;
  };
  try {
    const r = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }] });
    const v = read(r, 'max.message.bytes');
    if (v !== undefined) return v;
  } catch {
    /* no such topic yet: the broker's default applies to it */
  }
  try {
    const { brokers } = await admin.describeCluster();
    const r = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.BROKER, name: String(brokers[0]?.nodeId ?? 0), configNames: ['message.max.bytes'] }] });
    return read(r, 'message.max.bytes') ?? DEFAULT_MAX_MESSAGE_BYTES;
  } catch {
    return DEFAULT_MAX_MESSAGE_BYTES;
  }
}

function headersFor(source: { topic: string; partition: number; table: string }, l: DeadLetter, failedAt: string): IHeaders {
  const own: IHeaders = {};
  for (const [k, v] of Object.entries(l.record.headers ?? {})) if (!k.startsWith('sluice.')) own[k] = v as IHeaders[string];
  return {
    ...own,
    [HEADER.topic]: source.topic,
    [HEADER.partition]: String(source.partition),
    [HEADER.offset]: String(l.record.offset),
    [HEADER.timestamp]: String(l.record.timestamp),
    [HEADER.table]: l.table ?? source.table,
    [HEADER.errorClass]: l.reason,
    [HEADER.errorCode]: l.code === undefined ? '' : String(l.code),
    [HEADER.errorMessage]: truncateUtf8(l.message, 1000),
    ...(l.column !== undefined ? { [HEADER.errorColumn]: l.column } : {}),
    [HEADER.version]: VERSION,
    [HEADER.failedAt]: failedAt,
  };
}

export interface DeadLetterInfo {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly timestamp: number;
  readonly table: string;
  readonly errorClass: string;
  readonly errorCode: number | undefined;
  readonly errorMessage: string;
  readonly version: string;
  readonly failedAt: string;
}

/** The sluice headers of a dead letter, or undefined if it lacks them. */
export function parseDeadLetterHeaders(headers: IHeaders | undefined): DeadLetterInfo | undefined {
  const h = (k: string) => {
    const v = headers?.[k];
    const one = Array.isArray(v) ? v[0] : v;
    return one === undefined ? undefined : one.toString();
  };
  const topic = h(HEADER.topic);
  const table = h(HEADER.table);
  if (topic === undefined || table === undefined) return undefined;
  const code = h(HEADER.errorCode);
  return {
    topic,
    partition: Number(h(HEADER.partition)),
    offset: Number(h(HEADER.offset)),
    timestamp: Number(h(HEADER.timestamp)),
    table,
    errorClass: h(HEADER.errorClass) ?? '',
    errorCode: code ? Number(code) : undefined,
    errorMessage: h(HEADER.errorMessage) ?? '',
    version: h(HEADER.version) ?? '',
    failedAt: h(HEADER.failedAt) ?? '',
  };
}

export function truncateUtf8(s: string, maxBytes: number): string {
  const b = Buffer.from(s);
  if (b.length <= maxBytes) return s;
  return b.subarray(0, maxBytes).toString().replace(/\uFFFD$/, '') + '…';
}

/** Sliding-window ratio of dead letters to records, in one-second buckets. */
export class RatioGuard {
  private readonly buckets = new Map<number, { total: number; bad: number }>();

  constructor(
    private readonly maxRatio: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly minSample = DLQ_MIN_SAMPLE,
  ) {}

  /** Counts a written batch. */
  record(total: number, bad: number): void {
    const sec = Math.floor(this.now() / 1000);
    const b = this.buckets.get(sec) ?? { total: 0, bad: 0 };
    b.total += total;
    b.bad += bad;
    this.buckets.set(sec, b);
  }

  /** Whether `bad` more dead letters out of `total` more records keep the ratio within bounds. */
  allows(bad: number, total: number): boolean {
    const oldest = Math.floor((this.now() - this.windowMs) / 1000);
    let sumTotal = total;
    let sumBad = bad;
    for (const [sec, b] of this.buckets) {
      if (sec <= oldest) this.buckets.delete(sec);
      else {
        sumTotal += b.total;
        sumBad += b.bad;
      }
    }
    if (sumTotal < this.minSample) return true;
    return sumBad / sumTotal <= this.maxRatio;
  }
}
