/**
 * config — environment → one frozen, validated Config.
 *
 * Contract: `loadConfig(env)` either returns a complete Config (every knob has
 * a default) or throws a ConfigError naming the one variable that is wrong.
 * Unknown `SLUICE_*` variables are rejected, because a typo such as
 * SLUICE_BATCH_MAX_ROW silently falling back to a default is worse than not
 * starting. `redactedConfig` is the only view of the config that may be logged:
 * passwords never leave this module in plain text.
 *
 * Every knob here has a row in the README's configuration table; `SETTINGS`
 * below is the single list both are checked against (test/unit/config.test.ts).
 */
import { readFileSync } from 'node:fs';
import type { ClickHouseConnection } from './clickhouse/writer.js';
import { isIP } from 'node:net';
import { ConfigError } from './errors.js';
import { redactUrl, redactUserinfo } from './ops/redact.js';

export type { ClickHouseConnection };
import type { LogLevel } from './ops/log.js';
import { DEFAULT_METADATA_COLUMNS_TEXT, parseMetadataColumns, type MetadataColumns } from './formats/metadata.js';
import { ENVELOPE_SETTINGS, envelopeFromEnv, type EnvelopeConfig } from './formats/envelope-config.js';
import { routeTables } from './formats/routes.js';
import { FORMAT_SETTINGS, formatOptionsFromEnv, redactedFormat } from './formats/format-settings.js';
import type { FormatOptions } from './formats/record-format.js';
import { KAFKA_SECURITY_SETTINGS, kafkaSecurityFromEnv, redactedSecurity, type KafkaSecurity } from './kafka/security.js';

export type StartFrom = 'earliest' | 'latest';

export interface Config {
  readonly kafkaBrokers: readonly string[];
  readonly kafkaSecurity: KafkaSecurity;
  readonly kafkaClientId: string;
  readonly topics: readonly string[];
  readonly groupId: string;
  readonly startFrom: StartFrom;
  readonly clickhouseUrl: string;
  readonly clickhouseUser: string;
  readonly clickhousePassword: string;
  readonly clickhouseDatabase: string;
  /** PEM CA file to trust for https, '' for the system's CAs. */
  readonly clickhouseCaFile: string;
  /**
   * topic → target table, for SLUICE_TABLE: every topic of `topics` has an
   * entry. With SLUICE_ROUTES it is empty: `envelope.rules` decide.
   */
  readonly tables: ReadonlyMap<string, string>;
  /** Every table the sink may write to (SLUICE_TABLE's, or the routes'). */
  readonly targetTables: readonly string[];
  /** Envelope, routing and latency settings (formats/envelope-config.ts). */
  readonly envelope: EnvelopeConfig;
  readonly batchMaxRows: number;
  readonly batchMaxBytes: number;
  readonly batchMaxWaitMs: number;
  readonly insertConcurrency: number;
  readonly insertTimeoutMs: number;
  readonly maxBufferBytes: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  readonly shutdownTimeoutMs: number;
  readonly logLevel: LogLevel;
  readonly metricsPort: number;
  /** Address the status server listens on (IP literal or hostname). */
  readonly metricsHost: string;
  /** '' = `<topic>.dlq` per source topic, 'none' = off, else one topic for all. */
  readonly dlqTopic: string;
  readonly dlqMaxRatio: number;
  readonly dlqWindowMs: number;
  readonly maxRecordBytes: number;
  readonly readyStallMs: number;
  readonly kafkaSessionTimeoutMs: number;
  /** typed: decode and insert RowBinary; passthrough: forward JSONEachRow. */
  readonly insertFormat: 'typed' | 'passthrough';
  readonly schemaCheckMs: number;
  readonly skipUnknownFields: boolean;
  /** Kafka metadata field → the column it fills (SLUICE_METADATA_COLUMNS); empty: none. */
  readonly metadataColumns: MetadataColumns;
  /** SLUICE_MIRROR_SOURCE_ALIAS: '' or the MirrorMaker 2 alias whose `<alias>.` prefix rows do not record. */
  readonly mirrorSourceAlias: string;
  /** SLUICE_FORMAT and the Schema Registry (formats/format-settings.ts). */
  readonly format: FormatOptions;
}

/** Every accepted variable with its default ('' = required or empty) and meaning. */
export const SETTINGS: Readonly<Record<string, { default: string; doc: string }>> = {
  SLUICE_KAFKA_BROKERS: { default: '127.0.0.1:9092', doc: 'Comma-separated Kafka bootstrap brokers (host:port).' },
  ...KAFKA_SECURITY_SETTINGS,
  SLUICE_KAFKA_CLIENT_ID: { default: 'sluice', doc: 'Kafka client id (shows in broker logs and quotas).' },
  SLUICE_TOPICS: { default: '', doc: 'Required. Comma-separated topics to consume.' },
  SLUICE_KAFKA_SESSION_TIMEOUT_MS: { default: '30000', doc: 'Consumer session timeout: how long a vanished replica keeps its partitions before the group reassigns them.' },
  SLUICE_GROUP_ID: { default: 'sluice', doc: 'Consumer group; replicas with the same group share the partitions.' },
  SLUICE_START_FROM: { default: 'earliest', doc: '`earliest` or `latest`: where a group with no committed offset starts.' },
  SLUICE_CLICKHOUSE_URL: { default: 'http://127.0.0.1:8123', doc: 'ClickHouse HTTP(S) endpoint.' },
  SLUICE_CLICKHOUSE_USER: { default: 'default', doc: 'ClickHouse user.' },
  SLUICE_CLICKHOUSE_PASSWORD: { default: '', doc: 'ClickHouse password (never logged).' },
  SLUICE_CLICKHOUSE_CA_FILE: { default: '', doc: 'PEM file of the CA(s) to trust for an https:// ClickHouse URL; unset: the system\'s CAs.' },
  SLUICE_CLICKHOUSE_DATABASE: { default: 'default', doc: 'Database of the target tables.' },
  SLUICE_TABLE: { default: '', doc: 'Required unless SLUICE_ROUTES is set. One table for all topics (`events`), or a mapping `topicA:tableA,topicB:tableB`.' },
  ...ENVELOPE_SETTINGS,
  SLUICE_BATCH_MAX_ROWS: { default: '100000', doc: 'Flush a partition\'s batch at this many records.' },
  SLUICE_BATCH_MAX_BYTES: { default: '8388608', doc: 'Flush a partition\'s batch at this many bytes of message values (8 MiB).' },
  SLUICE_BATCH_MAX_WAIT_MS: { default: '1000', doc: 'Flush a partition\'s batch when its oldest record has waited this long.' },
  SLUICE_INSERT_CONCURRENCY: { default: '4', doc: 'Inserts in flight at once across all partitions (one per partition at a time).' },
  SLUICE_INSERT_TIMEOUT_MS: { default: '60000', doc: 'Timeout of one insert request; a timeout is retried.' },
  SLUICE_MAX_BUFFER_BYTES: { default: '67108864', doc: 'Cap on message bytes held (buffered + in flight, 64 MiB); at the cap, fetching pauses.' },
  SLUICE_RETRY_INITIAL_MS: { default: '200', doc: 'First retry delay of a failed insert or commit; doubles per attempt, with jitter.' },
  SLUICE_RETRY_MAX_MS: { default: '30000', doc: 'Longest retry delay. Retries go on until they succeed or the sink stops.' },
  SLUICE_SHUTDOWN_TIMEOUT_MS: { default: '30000', doc: 'On SIGTERM/SIGINT: time allowed to flush and commit before exiting.' },
  SLUICE_LOG_LEVEL: { default: 'info', doc: '`debug`, `info`, `warn` or `error`.' },
  SLUICE_METRICS_PORT: { default: '9464', doc: 'Port of /metrics, /healthz and /readyz; `0` turns the server off.' },
  SLUICE_METRICS_HOST: { default: '0.0.0.0', doc: 'Address the status server listens on (IP literal or hostname). The default is reachable from the pod network, as probes and scrapers need; `127.0.0.1` keeps it on the host.' },
  SLUICE_DLQ_TOPIC: { default: '', doc: 'Dead-letter topic for rejected records. Unset: `<source topic>.dlq`; `none`: off (a bad record stalls its partition).' },
  SLUICE_DLQ_MAX_RATIO: { default: '0.25', doc: 'Above this share of dead letters among records written over the window (after 1,000 records), stop and turn not-ready.' },
  SLUICE_DLQ_WINDOW_MS: { default: '60000', doc: 'Window of the dead-letter ratio.' },
  SLUICE_MAX_RECORD_BYTES: { default: '1048576', doc: 'A record whose key + value + headers exceed this is dead-lettered without an insert (1 MiB); header bytes also count against SLUICE_MAX_BUFFER_BYTES.' },
  SLUICE_SKIP_UNKNOWN_FIELDS: { default: 'false', doc: '`true`: drop JSON fields the table has no column for (counted in `sluice_unknown_fields_total`). `false`: such a record is dead-lettered (class `invalid`) — after the table schema is read again, in case a column was just added.' },
  SLUICE_INSERT_FORMAT: { default: 'rowbinary', doc: '`rowbinary`: sluice decodes each JSON record against the table schema and inserts binary rows (RowBinaryWithDefaults where the server has it); a bad value is dead-lettered by itself. `jsoneachrow`: forward the record bytes and let ClickHouse parse them (passthrough).' },
  SLUICE_MIRROR_SOURCE_ALIAS: { default: '', doc: 'After a failover to a MirrorMaker 2 copy under its default replication policy: the source cluster\'s alias (`P`). A topic read as `P.events` is recorded as `events` in the `_topic` column and in the insert\'s identity (deduplication), so re-read records are the same rows and the same blocks as when read from P. Empty: topics are recorded as read.' },
  SLUICE_METADATA_COLUMNS: { default: DEFAULT_METADATA_COLUMNS_TEXT, doc: 'Kafka metadata columns: `field:column` pairs (fields `topic`, `partition`, `offset`, `timestamp`, `key`, `headers`), or `none`. A target table\'s column with such a name is filled from the Kafka record, not from the payload (a payload field of that name is ignored); fields left out are ordinary payload columns. Typed rows only: with `jsoneachrow`, a table that has one is refused at start-up.' },
  SLUICE_SCHEMA_CHECK_MS: { default: '15000', doc: 'How often the target tables\' columns are read again, so an ALTER TABLE is picked up without a restart (also read at once when an insert names a column the table lost).' },
  ...FORMAT_SETTINGS,
  SLUICE_READY_STALL_MS: { default: '60000', doc: '/readyz turns false when a partition has been unable to write for this long.' },
};

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Kafka's own rule for topic names.
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;

export function loadConfig(env: NodeJS.ProcessEnv): Config {
  for (const key of Object.keys(env)) {
    if (key.startsWith('SLUICE_') && !(key in SETTINGS)) {
      const hint = closest(key);
      throw new ConfigError(key, `unknown setting${hint ? ` (did you mean ${hint}?)` : ''}`);
    }
  }
  const get = (key: string): string => {
    const raw = env[key];
    return (raw === undefined || raw.trim() === '' ? SETTINGS[key]!.default : raw).trim();
  };

  const topics = list('SLUICE_TOPICS', get('SLUICE_TOPICS'));
  if (topics.length === 0) throw new ConfigError('SLUICE_TOPICS', 'is required (comma-separated topic names)');
  for (const t of topics) if (!TOPIC.test(t)) throw new ConfigError('SLUICE_TOPICS', `"${t}" is not a valid Kafka topic name`);

  const brokers = list('SLUICE_KAFKA_BROKERS', get('SLUICE_KAFKA_BROKERS'));
  for (const b of brokers) {
    // Quoted without anything up to an @: someone may have written user:password@host:port.
    if (!/^[^\s:@]+:\d{1,5}$/.test(b)) throw new ConfigError('SLUICE_KAFKA_BROKERS', `"${redactUserinfo(b)}" is not host:port${b.includes('@') ? ' (credentials go in SLUICE_KAFKA_SASL_*)' : ''}`);
  }

  const startFrom = get('SLUICE_START_FROM');
  if (startFrom !== 'earliest' && startFrom !== 'latest') {
    throw new ConfigError('SLUICE_START_FROM', `must be earliest or latest, got "${startFrom}"`);
  }
  const insertFormat = get('SLUICE_INSERT_FORMAT');
  if (insertFormat !== 'rowbinary' && insertFormat !== 'jsoneachrow') {
    throw new ConfigError('SLUICE_INSERT_FORMAT', `must be rowbinary or jsoneachrow, got "${insertFormat}"`);
  }
  const logLevel = get('SLUICE_LOG_LEVEL');
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw new ConfigError('SLUICE_LOG_LEVEL', `must be debug, info, warn or error, got "${logLevel}"`);
  }

  const clickhouse = clickhouseConnectionFromEnv(env);

  const envelope = envelopeFromEnv(env, topics);
  const format = formatOptionsFromEnv(env, insertFormat === 'rowbinary');
  // A JSON envelope is found in JSON bytes; a binary format has its own framing.
  if (envelope.json && format.format !== 'json') throw new ConfigError('SLUICE_ENVELOPE_JSON', `is for JSON values; SLUICE_FORMAT is ${format.format}`);
  if (envelope.eventTime?.source === 'payload' && format.format !== 'json') throw new ConfigError('SLUICE_EVENT_TIME', `payload fields are read from JSON values; SLUICE_FORMAT is ${format.format} (use a header or the envelope)`);
  if (envelope.rules && get('SLUICE_TABLE') !== '') throw new ConfigError('SLUICE_TABLE', 'is set together with SLUICE_ROUTES; give one (a default table is a last rule "* -> table")');
  const tables = envelope.rules ? new Map<string, string>() : tableMap(get('SLUICE_TABLE'), topics);

  const batchMaxBytes = int('SLUICE_BATCH_MAX_BYTES', get('SLUICE_BATCH_MAX_BYTES'), 1024, 1 << 30);
  const maxBufferBytes = int('SLUICE_MAX_BUFFER_BYTES', get('SLUICE_MAX_BUFFER_BYTES'), 1 << 20, 2 ** 40);
  if (maxBufferBytes < batchMaxBytes) {
    throw new ConfigError('SLUICE_MAX_BUFFER_BYTES', `(${maxBufferBytes}) must be at least SLUICE_BATCH_MAX_BYTES (${batchMaxBytes})`);
  }
  const retryInitialMs = int('SLUICE_RETRY_INITIAL_MS', get('SLUICE_RETRY_INITIAL_MS'), 1, 600_000);
  const retryMaxMs = int('SLUICE_RETRY_MAX_MS', get('SLUICE_RETRY_MAX_MS'), 1, 3_600_000);
  if (retryMaxMs < retryInitialMs) {
    throw new ConfigError('SLUICE_RETRY_MAX_MS', `(${retryMaxMs}) must be at least SLUICE_RETRY_INITIAL_MS (${retryInitialMs})`);
  }

  return Object.freeze({
    kafkaBrokers: Object.freeze(brokers),
    kafkaSecurity: Object.freeze(kafkaSecurityFromEnv(env)),
    kafkaClientId: get('SLUICE_KAFKA_CLIENT_ID'),
    topics: Object.freeze(topics),
    groupId: get('SLUICE_GROUP_ID'),
    startFrom,
    clickhouseUrl: clickhouse.url,
    clickhouseUser: clickhouse.user,
    clickhousePassword: clickhouse.password,
    clickhouseDatabase: clickhouse.database,
    clickhouseCaFile: clickhouse.caFile,
    tables,
    targetTables: Object.freeze(envelope.rules ? routeTables(envelope.rules) : [...new Set(tables.values())]),
    envelope,
    batchMaxRows: int('SLUICE_BATCH_MAX_ROWS', get('SLUICE_BATCH_MAX_ROWS'), 1, 10_000_000),
    batchMaxBytes,
    batchMaxWaitMs: int('SLUICE_BATCH_MAX_WAIT_MS', get('SLUICE_BATCH_MAX_WAIT_MS'), 1, 3_600_000),
    insertConcurrency: int('SLUICE_INSERT_CONCURRENCY', get('SLUICE_INSERT_CONCURRENCY'), 1, 256),
    insertTimeoutMs: int('SLUICE_INSERT_TIMEOUT_MS', get('SLUICE_INSERT_TIMEOUT_MS'), 100, 3_600_000),
    maxBufferBytes,
    retryInitialMs,
    retryMaxMs,
    shutdownTimeoutMs: int('SLUICE_SHUTDOWN_TIMEOUT_MS', get('SLUICE_SHUTDOWN_TIMEOUT_MS'), 100, 3_600_000),
    logLevel: logLevel as LogLevel,
    metricsPort: int('SLUICE_METRICS_PORT', get('SLUICE_METRICS_PORT'), 0, 65535),
    metricsHost: listenHost('SLUICE_METRICS_HOST', get('SLUICE_METRICS_HOST')),
    dlqTopic: dlqTopic(get('SLUICE_DLQ_TOPIC'), topics),
    dlqMaxRatio: ratio('SLUICE_DLQ_MAX_RATIO', get('SLUICE_DLQ_MAX_RATIO')),
    dlqWindowMs: int('SLUICE_DLQ_WINDOW_MS', get('SLUICE_DLQ_WINDOW_MS'), 1000, 86_400_000),
    maxRecordBytes: maxRecordBytes(env, get('SLUICE_MAX_RECORD_BYTES'), batchMaxBytes),
    readyStallMs: int('SLUICE_READY_STALL_MS', get('SLUICE_READY_STALL_MS'), 0, 86_400_000),
    // The broker refuses sessions outside group.min/max.session.timeout.ms (6 s to 30 min by default).
    skipUnknownFields: bool('SLUICE_SKIP_UNKNOWN_FIELDS', get('SLUICE_SKIP_UNKNOWN_FIELDS')),
    kafkaSessionTimeoutMs: int('SLUICE_KAFKA_SESSION_TIMEOUT_MS', get('SLUICE_KAFKA_SESSION_TIMEOUT_MS'), 6000, 1_800_000),
    insertFormat: insertFormat === 'rowbinary' ? 'typed' : 'passthrough',
    schemaCheckMs: int('SLUICE_SCHEMA_CHECK_MS', get('SLUICE_SCHEMA_CHECK_MS'), 1000, 86_400_000),
    metadataColumns: metadataColumnsFromEnv(env),
    mirrorSourceAlias: mirrorAlias(get('SLUICE_MIRROR_SOURCE_ALIAS')),
    format,
  });
}

/** SLUICE_METADATA_COLUMNS, validated; shared with `sluice replay`, which fills them as the sink does. */
export function metadataColumnsFromEnv(env: NodeJS.ProcessEnv): MetadataColumns {
  const raw = (env.SLUICE_METADATA_COLUMNS ?? '').trim() || SETTINGS.SLUICE_METADATA_COLUMNS!.default;
  try {
    return parseMetadataColumns(raw);
  } catch (err) {
    throw new ConfigError('SLUICE_METADATA_COLUMNS', (err as Error).message);
  }
}

/**
 * The ClickHouse connection settings, validated; shared with `sluice replay`
 * so both read one environment the same way. `flagUrl` (a CLI flag)
 * overrides SLUICE_CLICKHOUSE_URL and is then the name in errors.
 */
export function clickhouseConnectionFromEnv(env: NodeJS.ProcessEnv, flagUrl?: string): ClickHouseConnection {
  const get = (key: string): string => {
    const raw = env[key];
    return (raw === undefined || raw.trim() === '' ? SETTINGS[key]!.default : raw).trim();
  };
  const setting = flagUrl !== undefined ? '--clickhouse-url' : 'SLUICE_CLICKHOUSE_URL';
  const url = (flagUrl ?? get('SLUICE_CLICKHOUSE_URL')).trim();
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // A password may hold / @ : % # ?, so no pattern can tell where it ends in
    // a string that does not parse: quote the scheme only.
    throw new ConfigError(setting, `"${redactUrl(url)}" is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ConfigError(setting, 'must be http:// or https://');
  if (parsed.username || parsed.password || parsed.searchParams.has('password') || parsed.searchParams.has('user')) {
    // Credentials in the URL would be printed wherever the URL is.
    throw new ConfigError(setting, 'must not carry credentials; use SLUICE_CLICKHOUSE_USER / SLUICE_CLICKHOUSE_PASSWORD');
  }
  const database = get('SLUICE_CLICKHOUSE_DATABASE');
  if (!IDENTIFIER.test(database)) throw new ConfigError('SLUICE_CLICKHOUSE_DATABASE', `"${database}" is not a plain identifier`);
  const caFile = get('SLUICE_CLICKHOUSE_CA_FILE');
  if (caFile !== '') {
    if (parsed.protocol !== 'https:') throw new ConfigError('SLUICE_CLICKHOUSE_CA_FILE', `is set but ${setting} is not https://`);
    try {
      readFileSync(caFile);
    } catch (err) {
      throw new ConfigError('SLUICE_CLICKHOUSE_CA_FILE', `cannot read "${caFile}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  return { url: url.replace(/\/+$/, ''), user: get('SLUICE_CLICKHOUSE_USER'), password: env.SLUICE_CLICKHOUSE_PASSWORD ?? '', database, caFile };
}

/** The config as it may be logged: the password replaced by a marker. */
export function redactedConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    tables: Object.fromEntries(config.tables),
    envelope: { ...config.envelope, rules: config.envelope.rules?.map((r) => r.text), columns: Object.fromEntries([...config.envelope.columns].map(([c, f]) => [c, f.text])) },
    metadataColumns: Object.fromEntries(config.metadataColumns),
    clickhouseUrl: redactUrl(config.clickhouseUrl),
    clickhousePassword: config.clickhousePassword ? '***' : '',
    kafkaSecurity: redactedSecurity(config.kafkaSecurity),
    format: redactedFormat(config.format),
  };
}

/**
 * Where a configured password travels unencrypted: an http:// ClickHouse URL
 * with a password, SASL over plaintext Kafka. One line each, no secrets; the
 * CLI logs them as one warning at start-up.
 */
export function cleartextPasswords(config: Pick<Config, 'clickhouseUrl' | 'clickhousePassword' | 'kafkaSecurity'>): string[] {
  const out: string[] = [];
  if (config.clickhousePassword !== '' && config.clickhouseUrl.startsWith('http:')) {
    out.push(`SLUICE_CLICKHOUSE_PASSWORD is sent over http:// (${redactUrl(config.clickhouseUrl)}); use https://`);
  }
  if (config.kafkaSecurity.protocol === 'sasl_plaintext') {
    out.push(`SLUICE_KAFKA_SASL_PASSWORD (${config.kafkaSecurity.sasl?.mechanism}) is sent over sasl_plaintext; use sasl_ssl`);
  }
  return out;
}

/**
 * The destinations `sluice replay` may write to, read from the sink's own
 * SLUICE_TOPICS and SLUICE_TABLE exactly as `loadConfig` reads them (one
 * table, or topic:table pairs over SLUICE_TOPICS). Unset variables give
 * empty sets; a malformed one throws the sink's ConfigError.
 */
export function configuredDestinations(env: NodeJS.ProcessEnv): { tables: Set<string>; topics: Set<string> } {
  const rawTopics = env.SLUICE_TOPICS?.trim() ?? '';
  const topics = list('SLUICE_TOPICS', rawTopics);
  for (const t of topics) if (!TOPIC.test(t)) throw new ConfigError('SLUICE_TOPICS', `"${t}" is not a valid Kafka topic name`);
  const rawTable = env.SLUICE_TABLE?.trim() ?? '';
  const rules = envelopeFromEnv(env, topics).rules;
  if (rules) return { tables: new Set(routeTables(rules)), topics: new Set(topics) };
  if (rawTable === '') return { tables: new Set(), topics: new Set(topics) };
  // One table needs no topics; a topic:table map is checked against SLUICE_TOPICS, as the sink does.
  const tables = rawTable.includes(':') ? new Set(tableMap(rawTable, topics).values()) : new Set(tableMap(rawTable, ['_']).values());
  return { tables, topics: new Set(topics) };
}

function mirrorAlias(raw: string): string {
  if (raw !== '' && !/^[A-Za-z0-9_-]+$/.test(raw)) throw new ConfigError('SLUICE_MIRROR_SOURCE_ALIAS', `"${raw}" is not a MirrorMaker 2 cluster alias (letters, digits, _ and -)`);
  return raw;
}

// A hostname by RFC 1123 labels, or an IP literal (v4 or v6).
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function listenHost(key: string, raw: string): string {
  if (isIP(raw) !== 0 || HOSTNAME.test(raw)) return raw;
  throw new ConfigError(key, `"${raw}" is not an IP address or hostname`);
}

function list(key: string, raw: string): string[] {
  const items = raw.split(',').map((s) => s.trim());
  if (raw !== '' && items.some((s) => s === '')) throw new ConfigError(key, 'has an empty item in its comma-separated list');
  return raw === '' ? [] : items;
}

function int(key: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw)) throw new ConfigError(key, `must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(key, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

// A record larger than a whole batch could never be written; the default
// (1 MiB) quietly follows a smaller SLUICE_BATCH_MAX_BYTES, an explicit
// setting must fit.
function maxRecordBytes(env: NodeJS.ProcessEnv, raw: string, batchMaxBytes: number): number {
  if (!env.SLUICE_MAX_RECORD_BYTES?.trim()) return Math.min(Number(raw), batchMaxBytes);
  return int('SLUICE_MAX_RECORD_BYTES', raw, 16, batchMaxBytes);
}

function bool(key: string, raw: string): boolean {
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(key, `must be true or false, got "${raw}"`);
}

function ratio(key: string, raw: string): number {
  if (!/^(0(\.\d+)?|1(\.0+)?)$/.test(raw)) throw new ConfigError(key, `must be a number from 0 to 1, got "${raw}"`);
  return Number(raw);
}

function dlqTopic(raw: string, topics: readonly string[]): string {
  if (raw === '' || raw === 'none') return raw;
  if (!TOPIC.test(raw)) throw new ConfigError('SLUICE_DLQ_TOPIC', `"${raw}" is not a valid Kafka topic name`);
  if (topics.includes(raw)) throw new ConfigError('SLUICE_DLQ_TOPIC', `"${raw}" is also a source topic; dead letters would be consumed again`);
  return raw;
}

function tableMap(raw: string, topics: readonly string[]): ReadonlyMap<string, string> {
  if (raw === '') throw new ConfigError('SLUICE_TABLE', 'is required (a table name, or topic:table pairs)');
  const map = new Map<string, string>();
  if (!raw.includes(':')) {
    if (!IDENTIFIER.test(raw)) throw new ConfigError('SLUICE_TABLE', `"${raw}" is not a plain table name`);
    for (const t of topics) map.set(t, raw);
    return map;
  }
  for (const pair of list('SLUICE_TABLE', raw)) {
    const [topic, table, extra] = pair.split(':').map((s) => s.trim());
    if (!topic || !table || extra !== undefined) throw new ConfigError('SLUICE_TABLE', `"${pair}" is not topic:table`);
    if (!IDENTIFIER.test(table)) throw new ConfigError('SLUICE_TABLE', `"${table}" is not a plain table name`);
    if (!topics.includes(topic)) throw new ConfigError('SLUICE_TABLE', `maps topic "${topic}", which is not in SLUICE_TOPICS`);
    if (map.has(topic)) throw new ConfigError('SLUICE_TABLE', `maps topic "${topic}" twice`);
    map.set(topic, table);
  }
  const unmapped = topics.filter((t) => !map.has(t));
  if (unmapped.length > 0) throw new ConfigError('SLUICE_TABLE', `has no table for topic(s) ${unmapped.join(', ')}`);
  return map;
}

function closest(key: string): string | undefined {
  let best: string | undefined;
  let bestDistance = 4;
  for (const known of Object.keys(SETTINGS)) {
    const d = distance(key, known);
    if (d < bestDistance) [best, bestDistance] = [known, d];
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
