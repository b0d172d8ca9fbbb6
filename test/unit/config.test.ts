/**
 * config: env → frozen Config. Bad config must give one readable message
 * naming the variable (invariant 5), typos must not fall back to defaults,
 * and the password must never be printed — not in the logged view, not in
 * any error.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { SETTINGS, cleartextPasswords, configuredDestinations, loadConfig, redactedConfig } from '../../src/config.js';

const BASE = { SLUICE_TOPICS: 'events', SLUICE_TABLE: 'events_tbl' };
const SECRET = 'hunter2-Sup3r$ecret';

function load(extra: Record<string, string | undefined> = {}) {
  return loadConfig({ ...BASE, ...extra });
}

/** The ConfigError `fn` throws (fails the test if it throws anything else or nothing). */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('loadConfig: defaults', () => {
  it('fills every knob from SETTINGS when only the required ones are given', () => {
    const c = load();
    const num = (key: string) => Number(SETTINGS[key]!.default);
    expect(c).toMatchObject({
      kafkaBrokers: [SETTINGS.SLUICE_KAFKA_BROKERS!.default],
      kafkaClientId: SETTINGS.SLUICE_KAFKA_CLIENT_ID!.default,
      topics: ['events'],
      groupId: SETTINGS.SLUICE_GROUP_ID!.default,
      startFrom: SETTINGS.SLUICE_START_FROM!.default,
      clickhouseUrl: SETTINGS.SLUICE_CLICKHOUSE_URL!.default,
      clickhouseUser: SETTINGS.SLUICE_CLICKHOUSE_USER!.default,
      clickhousePassword: '',
      clickhouseDatabase: SETTINGS.SLUICE_CLICKHOUSE_DATABASE!.default,
      batchMaxRows: num('SLUICE_BATCH_MAX_ROWS'),
      batchMaxBytes: num('SLUICE_BATCH_MAX_BYTES'),
      batchMaxWaitMs: num('SLUICE_BATCH_MAX_WAIT_MS'),
      insertConcurrency: num('SLUICE_INSERT_CONCURRENCY'),
      insertTimeoutMs: num('SLUICE_INSERT_TIMEOUT_MS'),
      maxBufferBytes: num('SLUICE_MAX_BUFFER_BYTES'),
      retryInitialMs: num('SLUICE_RETRY_INITIAL_MS'),
      retryMaxMs: num('SLUICE_RETRY_MAX_MS'),
      shutdownTimeoutMs: num('SLUICE_SHUTDOWN_TIMEOUT_MS'),
      logLevel: SETTINGS.SLUICE_LOG_LEVEL!.default,
      metricsPort: num('SLUICE_METRICS_PORT'),
      dlqTopic: '',
      dlqMaxRatio: num('SLUICE_DLQ_MAX_RATIO'),
      dlqWindowMs: num('SLUICE_DLQ_WINDOW_MS'),
      maxRecordBytes: num('SLUICE_MAX_RECORD_BYTES'),
      readyStallMs: num('SLUICE_READY_STALL_MS'),
      kafkaSessionTimeoutMs: num('SLUICE_KAFKA_SESSION_TIMEOUT_MS'),
    });
    expect([...c.tables]).toEqual([['events', 'events_tbl']]);
  });

  it('documented defaults are the usual ones', () => {
    // Changing these changes every deployment that relies on them.
    expect(SETTINGS.SLUICE_KAFKA_BROKERS!.default).toBe('127.0.0.1:9092');
    expect(SETTINGS.SLUICE_START_FROM!.default).toBe('earliest');
    expect(SETTINGS.SLUICE_CLICKHOUSE_URL!.default).toBe('http://127.0.0.1:8123');
    expect(SETTINGS.SLUICE_DLQ_TOPIC!.default).toBe('');
    expect(SETTINGS.SLUICE_TOPICS!.default).toBe('');
    expect(SETTINGS.SLUICE_TABLE!.default).toBe('');
    expect(SETTINGS.SLUICE_CLICKHOUSE_PASSWORD!.default).toBe('');
  });

  it('the default record limit follows a smaller SLUICE_BATCH_MAX_BYTES; an explicit one must fit', () => {
    expect(load({ SLUICE_BATCH_MAX_BYTES: '4096' }).maxRecordBytes).toBe(4096);
    expect(load({ SLUICE_BATCH_MAX_BYTES: '4096', SLUICE_MAX_RECORD_BYTES: '2048' }).maxRecordBytes).toBe(2048);
    expect(configError(() => load({ SLUICE_BATCH_MAX_BYTES: '4096', SLUICE_MAX_RECORD_BYTES: '8192' })).setting).toBe('SLUICE_MAX_RECORD_BYTES');
  });

  it('every numeric default in SETTINGS is itself valid', () => {
    // The defaults are what an operator gets without reading docs; each must load.
    for (const [key, s] of Object.entries(SETTINGS)) {
      if (s.default === '') continue;
      expect(() => load({ [key]: s.default }), key).not.toThrow();
    }
  });

  it('treats empty and whitespace-only values as unset, and trims values', () => {
    const c = load({ SLUICE_GROUP_ID: '   ', SLUICE_BATCH_MAX_ROWS: '', SLUICE_KAFKA_CLIENT_ID: '  me  ' });
    expect(c.groupId).toBe('sluice');
    expect(c.batchMaxRows).toBe(100_000);
    expect(c.kafkaClientId).toBe('me');
  });

  it('ignores variables that are not SLUICE_*', () => {
    expect(() => load({ PATH: '/bin', SLUICEX: '1', KAFKA_BROKERS: 'x' })).not.toThrow();
  });

  it('parses lists, trims items and strips trailing slashes from the URL', () => {
    const c = load({
      SLUICE_KAFKA_BROKERS: ' k1:9092 , k2:9093',
      SLUICE_TOPICS: 'a, b.c ,d-e_f',
      SLUICE_TABLE: 'tbl',
      SLUICE_CLICKHOUSE_URL: 'https://ch.example:8443//',
    });
    expect(c.kafkaBrokers).toEqual(['k1:9092', 'k2:9093']);
    expect(c.topics).toEqual(['a', 'b.c', 'd-e_f']);
    expect(c.clickhouseUrl).toBe('https://ch.example:8443');
    expect(Object.fromEntries(c.tables)).toEqual({ a: 'tbl', 'b.c': 'tbl', 'd-e_f': 'tbl' });
  });

  it('returns a frozen config with frozen lists', () => {
    const c = load({ SLUICE_TOPICS: 'a,b' });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.topics)).toBe(true);
    expect(Object.isFrozen(c.kafkaBrokers)).toBe(true);
    expect(() => {
      (c as { groupId: string }).groupId = 'other';
    }).toThrow(TypeError);
    expect(() => (c.topics as string[]).push('c')).toThrow(TypeError);
    expect(c.groupId).toBe('sluice');
  });
});

describe('loadConfig: every validation error names its variable', () => {
  it.each<[string, Record<string, string>, string, RegExp]>([
    ['missing topics', { SLUICE_TOPICS: '' }, 'SLUICE_TOPICS', /required/],
    ['bad topic name', { SLUICE_TOPICS: 'ok,bad topic' }, 'SLUICE_TOPICS', /"bad topic" is not a valid Kafka topic name/],
    ['empty list item', { SLUICE_TOPICS: 'a,,b' }, 'SLUICE_TOPICS', /empty item/],
    ['trailing comma', { SLUICE_TOPICS: 'a,' }, 'SLUICE_TOPICS', /empty item/],
    ['broker without port', { SLUICE_KAFKA_BROKERS: 'localhost' }, 'SLUICE_KAFKA_BROKERS', /"localhost" is not host:port/],
    ['broker with a bad port', { SLUICE_KAFKA_BROKERS: 'k:9092,k2:port' }, 'SLUICE_KAFKA_BROKERS', /"k2:port"/],
    ['start from', { SLUICE_START_FROM: 'beginning' }, 'SLUICE_START_FROM', /earliest or latest/],
    ['log level', { SLUICE_LOG_LEVEL: 'verbose' }, 'SLUICE_LOG_LEVEL', /debug, info, warn or error/],
    ['url not a url', { SLUICE_CLICKHOUSE_URL: 'not a url' }, 'SLUICE_CLICKHOUSE_URL', /is not a URL/],
    ['url scheme', { SLUICE_CLICKHOUSE_URL: 'tcp://ch:9000' }, 'SLUICE_CLICKHOUSE_URL', /http/],
    ['url credentials', { SLUICE_CLICKHOUSE_URL: 'http://u:p@ch:8123' }, 'SLUICE_CLICKHOUSE_URL', /credentials/],
    ['database', { SLUICE_CLICKHOUSE_DATABASE: 'my-db' }, 'SLUICE_CLICKHOUSE_DATABASE', /plain identifier/],
    ['database injection', { SLUICE_CLICKHOUSE_DATABASE: 'db`; DROP' }, 'SLUICE_CLICKHOUSE_DATABASE', /plain identifier/],
    ['missing table', { SLUICE_TABLE: '' }, 'SLUICE_TABLE', /required/],
    ['table name', { SLUICE_TABLE: 'db.tbl' }, 'SLUICE_TABLE', /plain table name/],
    ['rows not a number', { SLUICE_BATCH_MAX_ROWS: 'lots' }, 'SLUICE_BATCH_MAX_ROWS', /whole number/],
    ['rows negative', { SLUICE_BATCH_MAX_ROWS: '-5' }, 'SLUICE_BATCH_MAX_ROWS', /whole number/],
    ['rows fractional', { SLUICE_BATCH_MAX_ROWS: '1.5' }, 'SLUICE_BATCH_MAX_ROWS', /whole number/],
    ['rows exponent', { SLUICE_BATCH_MAX_ROWS: '1e5' }, 'SLUICE_BATCH_MAX_ROWS', /whole number/],
    ['rows zero', { SLUICE_BATCH_MAX_ROWS: '0' }, 'SLUICE_BATCH_MAX_ROWS', /between 1 and/],
    ['bytes too small', { SLUICE_BATCH_MAX_BYTES: '100' }, 'SLUICE_BATCH_MAX_BYTES', /between 1024 and/],
    ['wait zero', { SLUICE_BATCH_MAX_WAIT_MS: '0' }, 'SLUICE_BATCH_MAX_WAIT_MS', /between/],
    ['concurrency zero', { SLUICE_INSERT_CONCURRENCY: '0' }, 'SLUICE_INSERT_CONCURRENCY', /between 1 and 256/],
    ['concurrency huge', { SLUICE_INSERT_CONCURRENCY: '1000' }, 'SLUICE_INSERT_CONCURRENCY', /between 1 and 256/],
    ['insert timeout', { SLUICE_INSERT_TIMEOUT_MS: '5' }, 'SLUICE_INSERT_TIMEOUT_MS', /between/],
    ['buffer below 1 MiB', { SLUICE_MAX_BUFFER_BYTES: '1000' }, 'SLUICE_MAX_BUFFER_BYTES', /between/],
    [
      'buffer below batch bytes',
      { SLUICE_MAX_BUFFER_BYTES: String(2 << 20), SLUICE_BATCH_MAX_BYTES: String(4 << 20) },
      'SLUICE_MAX_BUFFER_BYTES',
      /at least SLUICE_BATCH_MAX_BYTES/,
    ],
    ['retry initial zero', { SLUICE_RETRY_INITIAL_MS: '0' }, 'SLUICE_RETRY_INITIAL_MS', /between/],
    ['retry max below initial', { SLUICE_RETRY_INITIAL_MS: '500', SLUICE_RETRY_MAX_MS: '100' }, 'SLUICE_RETRY_MAX_MS', /at least SLUICE_RETRY_INITIAL_MS/],
    ['shutdown timeout', { SLUICE_SHUTDOWN_TIMEOUT_MS: 'soon' }, 'SLUICE_SHUTDOWN_TIMEOUT_MS', /whole number/],
    ['metrics port', { SLUICE_METRICS_PORT: '70000' }, 'SLUICE_METRICS_PORT', /between 0 and 65535/],
    ['dlq ratio > 1', { SLUICE_DLQ_MAX_RATIO: '1.5' }, 'SLUICE_DLQ_MAX_RATIO', /from 0 to 1/],
    ['dlq ratio negative', { SLUICE_DLQ_MAX_RATIO: '-0.1' }, 'SLUICE_DLQ_MAX_RATIO', /from 0 to 1/],
    ['dlq ratio percent', { SLUICE_DLQ_MAX_RATIO: '25%' }, 'SLUICE_DLQ_MAX_RATIO', /from 0 to 1/],
    ['dlq window', { SLUICE_DLQ_WINDOW_MS: '10' }, 'SLUICE_DLQ_WINDOW_MS', /between/],
    ['record bytes too small', { SLUICE_MAX_RECORD_BYTES: '8' }, 'SLUICE_MAX_RECORD_BYTES', /between 16 and/],
    [
      'record bytes above batch bytes',
      { SLUICE_BATCH_MAX_BYTES: '4096', SLUICE_MAX_RECORD_BYTES: '8192' },
      'SLUICE_MAX_RECORD_BYTES',
      /between 16 and 4096/,
    ],
    ['ready stall', { SLUICE_READY_STALL_MS: 'x' }, 'SLUICE_READY_STALL_MS', /whole number/],
    // The broker refuses sessions outside group.min/max.session.timeout.ms.
    ['session timeout too short', { SLUICE_KAFKA_SESSION_TIMEOUT_MS: '1000' }, 'SLUICE_KAFKA_SESSION_TIMEOUT_MS', /between 6000 and 1800000/],
    ['session timeout too long', { SLUICE_KAFKA_SESSION_TIMEOUT_MS: '3600000' }, 'SLUICE_KAFKA_SESSION_TIMEOUT_MS', /between 6000 and 1800000/],
  ])('%s', (_name, env, setting, message) => {
    const err = configError(() => load(env));
    expect(err.setting).toBe(setting);
    expect(err.kind).toBe('config');
    expect(err.retriable).toBe(false);
    expect(err.message.startsWith(`${setting}: `)).toBe(true);
    expect(err.message).toMatch(message);
  });

  it('accepts the boundaries of numeric ranges', () => {
    expect(load({ SLUICE_METRICS_PORT: '0' }).metricsPort).toBe(0);
    expect(load({ SLUICE_METRICS_PORT: '65535' }).metricsPort).toBe(65535);
    expect(load({ SLUICE_DLQ_MAX_RATIO: '0' }).dlqMaxRatio).toBe(0);
    expect(load({ SLUICE_DLQ_MAX_RATIO: '1' }).dlqMaxRatio).toBe(1);
    expect(load({ SLUICE_DLQ_MAX_RATIO: '1.0' }).dlqMaxRatio).toBe(1);
    expect(load({ SLUICE_DLQ_MAX_RATIO: '0.05' }).dlqMaxRatio).toBe(0.05);
    expect(load({ SLUICE_BATCH_MAX_BYTES: '1024', SLUICE_MAX_RECORD_BYTES: '1024' }).maxRecordBytes).toBe(1024);
    expect(load({ SLUICE_RETRY_INITIAL_MS: '100', SLUICE_RETRY_MAX_MS: '100' }).retryMaxMs).toBe(100);
    expect(load({ SLUICE_START_FROM: 'latest' }).startFrom).toBe('latest');
  });
});

describe('loadConfig: unknown SLUICE_* variables', () => {
  it.each([
    ['SLUICE_BATCH_MAX_ROW', 'SLUICE_BATCH_MAX_ROWS'],
    ['SLUICE_TOPIC', 'SLUICE_TOPICS'],
    ['SLUICE_KAFKA_BROKER', 'SLUICE_KAFKA_BROKERS'],
    ['SLUICE_CLICKHOUSE_PASWORD', 'SLUICE_CLICKHOUSE_PASSWORD'],
    ['SLUICE_DLQ_TOPICS', 'SLUICE_DLQ_TOPIC'],
  ])('rejects %s and suggests %s', (typo, hint) => {
    const err = configError(() => load({ [typo]: '5' }));
    expect(err.setting).toBe(typo);
    expect(err.message).toContain('unknown setting');
    expect(err.message).toContain(`did you mean ${hint}?`);
  });

  it('rejects a far-off name without a misleading hint', () => {
    const err = configError(() => load({ SLUICE_ENABLE_MAGIC_MODE: '1' }));
    expect(err.setting).toBe('SLUICE_ENABLE_MAGIC_MODE');
    expect(err.message).toContain('unknown setting');
    expect(err.message).not.toContain('did you mean');
  });

  it('rejects an unknown variable even when its value is empty', () => {
    expect(configError(() => load({ SLUICE_BATCH_MAX_ROW: '' })).setting).toBe('SLUICE_BATCH_MAX_ROW');
  });

  it('reports the typo before anything else (a typo is the likeliest cause of a missing value)', () => {
    const err = configError(() => loadConfig({ SLUICE_TOPIC: 'events', SLUICE_TABLE: 't' }));
    expect(err.setting).toBe('SLUICE_TOPIC');
  });
});

describe('loadConfig: topic → table mapping', () => {
  it('maps each topic to its own table', () => {
    const c = load({ SLUICE_TOPICS: 'clicks,views', SLUICE_TABLE: ' clicks : clicks_t , views:views_t ' });
    expect(Object.fromEntries(c.tables)).toEqual({ clicks: 'clicks_t', views: 'views_t' });
  });

  it('maps topics with dots and dashes', () => {
    const c = load({ SLUICE_TOPICS: 'app.clicks-v2', SLUICE_TABLE: 'app.clicks-v2:clicks' });
    expect(c.tables.get('app.clicks-v2')).toBe('clicks');
  });

  it.each<[string, Record<string, string>, RegExp]>([
    ['a pair without a table', { SLUICE_TOPICS: 'a', SLUICE_TABLE: 'a:' }, /"a:" is not topic:table/],
    ['a pair without a topic', { SLUICE_TOPICS: 'a', SLUICE_TABLE: ':t' }, /":t" is not topic:table/],
    ['three parts', { SLUICE_TOPICS: 'a', SLUICE_TABLE: 'a:t:x' }, /"a:t:x" is not topic:table/],
    ['a bad table name', { SLUICE_TOPICS: 'a', SLUICE_TABLE: 'a:bad-name' }, /"bad-name" is not a plain table name/],
    ['a topic not consumed', { SLUICE_TOPICS: 'a', SLUICE_TABLE: 'a:t,b:u' }, /topic "b", which is not in SLUICE_TOPICS/],
    ['a topic twice', { SLUICE_TOPICS: 'a', SLUICE_TABLE: 'a:t,a:u' }, /maps topic "a" twice/],
    ['a topic left out', { SLUICE_TOPICS: 'a,b,c', SLUICE_TABLE: 'a:t' }, /no table for topic\(s\) b, c/],
    ['an empty pair', { SLUICE_TOPICS: 'a', SLUICE_TABLE: 'a:t,' }, /empty item/],
  ])('rejects %s, naming SLUICE_TABLE', (_name, env, message) => {
    const err = configError(() => loadConfig(env));
    expect(err.setting).toBe('SLUICE_TABLE');
    expect(err.message).toMatch(message);
  });
});

describe('loadConfig: routes instead of a table', () => {
  it('takes SLUICE_ROUTES without SLUICE_TABLE; the target tables are the routes\'', () => {
    const c = loadConfig({ SLUICE_TOPICS: 'events', SLUICE_ROUTES: 'header.type=a.* -> a_t; header.type=b -> !drop; * -> rest' });
    expect(c.tables.size).toBe(0);
    expect(c.targetTables).toEqual(['a_t', 'rest']);
    expect(c.envelope.rules!.map((r) => r.target)).toEqual(['a_t', '!drop', 'rest']);
  });

  it.each<[string, Record<string, string>, string, RegExp]>([
    ['both SLUICE_TABLE and SLUICE_ROUTES', { SLUICE_TABLE: 't', SLUICE_ROUTES: '* -> t' }, 'SLUICE_TABLE', /is set together with SLUICE_ROUTES/],
    ['neither', {}, 'SLUICE_TABLE', /is required/],
    ['a JSON envelope with a binary format', { SLUICE_TABLE: 't', SLUICE_ENVELOPE_JSON: 'e:p', SLUICE_FORMAT: 'protobuf', SLUICE_PROTOBUF_DESCRIPTOR: '/dev/null', SLUICE_PROTOBUF_MESSAGE: 'a.B' }, 'SLUICE_ENVELOPE_JSON', /is for JSON values/],
  ])('refuses %s', (_name, env, setting, message) => {
    const err = configError(() => loadConfig({ SLUICE_TOPICS: 'events', ...env }));
    expect(err.setting).toBe(setting);
    expect(err.message).toMatch(message);
  });
});

describe('loadConfig: SLUICE_DLQ_TOPIC', () => {
  it('unset means <topic>.dlq (kept as empty), none turns it off, a name is used for all topics', () => {
    expect(load().dlqTopic).toBe('');
    expect(load({ SLUICE_DLQ_TOPIC: 'none' }).dlqTopic).toBe('none');
    expect(load({ SLUICE_DLQ_TOPIC: ' dead.letters ' }).dlqTopic).toBe('dead.letters');
  });

  it('rejects an invalid topic name', () => {
    const err = configError(() => load({ SLUICE_DLQ_TOPIC: 'dead letters' }));
    expect(err.setting).toBe('SLUICE_DLQ_TOPIC');
    expect(err.message).toMatch(/not a valid Kafka topic name/);
  });

  it('rejects a name longer than Kafka allows', () => {
    expect(configError(() => load({ SLUICE_DLQ_TOPIC: 'x'.repeat(250) })).setting).toBe('SLUICE_DLQ_TOPIC');
  });

  it('rejects a source topic as dead-letter topic (dead letters would be consumed again)', () => {
    const err = configError(() => load({ SLUICE_TOPICS: 'a,b', SLUICE_TABLE: 't', SLUICE_DLQ_TOPIC: 'b' }));
    expect(err.setting).toBe('SLUICE_DLQ_TOPIC');
    expect(err.message).toMatch(/also a source topic/);
  });

  it('allows consuming another topic\'s dead-letter topic (e.g. into an inspection table)', () => {
    // a → a.dlq → a.dlq.dlq: one extra hop, not a loop.
    const c = load({ SLUICE_TOPICS: 'a,a.dlq', SLUICE_TABLE: 'a:events,a.dlq:dead_rows' });
    expect(c.dlqTopic).toBe('');
  });
});

describe('the password is never printed', () => {
  it('redactedConfig masks the password and keeps everything else', () => {
    const c = load({ SLUICE_CLICKHOUSE_PASSWORD: SECRET, SLUICE_CLICKHOUSE_USER: 'writer' });
    expect(c.clickhousePassword).toBe(SECRET);
    const r = redactedConfig(c);
    expect(r.clickhousePassword).toBe('***');
    expect(r.clickhouseUser).toBe('writer');
    expect(r.tables).toEqual({ events: 'events_tbl' });
    expect(JSON.stringify(r)).not.toContain(SECRET);
    expect(JSON.stringify(r)).not.toContain('hunter2');
    // The config itself is untouched.
    expect(c.clickhousePassword).toBe(SECRET);
  });

  it('redactedConfig shows an unset password as empty, so operators can tell', () => {
    expect(redactedConfig(load()).clickhousePassword).toBe('');
  });

  it('keeps the password verbatim (no trimming of secrets)', () => {
    expect(load({ SLUICE_CLICKHOUSE_PASSWORD: ' p w ' }).clickhousePassword).toBe(' p w ');
  });

  it.each<[string, Record<string, string>]>([
    ['another bad setting', { SLUICE_BATCH_MAX_ROWS: 'x' }],
    ['a missing required setting', { SLUICE_TOPICS: '' }],
    ['a typo in the password variable', { SLUICE_CLICKHOUSE_PASWORD: SECRET }],
    ['a typo elsewhere', { SLUICE_TOPIC: 'x' }],
    ['credentials in a valid URL', { SLUICE_CLICKHOUSE_URL: `http://writer:${SECRET}@ch:8123` }],
    ['a bad database name', { SLUICE_CLICKHOUSE_DATABASE: 'bad-db' }],
  ])('no error message contains it: %s', (_name, env) => {
    const err = configError(() => loadConfig({ ...BASE, SLUICE_CLICKHOUSE_PASSWORD: SECRET, ...env }));
    expect(err.message).not.toContain(SECRET);
    expect(String(err.stack)).not.toContain(SECRET);
  });

  // Bug: a URL that carries credentials *and* fails to parse (bad port, a
  // space in the host) is echoed whole in "… is not a URL" (src/config.ts,
  // SLUICE_CLICKHOUSE_URL check), printing the password to the log.
  it('no error message contains credentials from an unparsable URL', () => {
    for (const url of [`http://writer:${SECRET}@ch:99999`, `http://writer:${SECRET}@ch host:8123`]) {
      const err = configError(() => load({ SLUICE_CLICKHOUSE_URL: url }));
      expect(err.setting).toBe('SLUICE_CLICKHOUSE_URL');
      expect(err.message).not.toContain(SECRET);
    }
  });
});

describe('README configuration table', () => {
  it('lists every setting of SETTINGS', () => {
    const path = new URL('../../README.md', import.meta.url);
    let readme: string;
    try {
      readme = readFileSync(path, 'utf8');
    } catch {
      throw new Error('README.md is missing: its configuration table must list every SLUICE_* setting of src/config.ts SETTINGS');
    }
    const tableRows = readme.split('\n').filter((l) => l.trimStart().startsWith('|'));
    const missing = Object.keys(SETTINGS).filter((key) => !tableRows.some((row) => new RegExp(`\\b${key}\\b`).test(row)));
    expect(missing, 'settings missing from the README configuration table').toEqual([]);
  });

  it('SETTINGS documents every setting', () => {
    for (const [key, s] of Object.entries(SETTINGS)) {
      expect(key).toMatch(/^SLUICE_[A-Z0-9_]+$/);
      expect(s.doc.length, key).toBeGreaterThan(10);
    }
  });
});

describe('SLUICE_METRICS_HOST', () => {
  it('defaults to 0.0.0.0 (reachable from the pod network) and takes IP literals and hostnames', () => {
    expect(SETTINGS.SLUICE_METRICS_HOST!.default).toBe('0.0.0.0');
    expect(load().metricsHost).toBe('0.0.0.0');
    for (const host of ['127.0.0.1', '::1', '::', 'fd00::7', 'localhost', 'sluice-0.sluice.svc.cluster.local']) {
      expect(load({ SLUICE_METRICS_HOST: host }).metricsHost).toBe(host);
    }
  });

  it.each(['0.0.0.0:9464', 'http://0.0.0.0', 'a_b.example', '-bad', 'bad-.example', 'two words', '[::1]', 'a'.repeat(64)])('refuses %j naming the variable', (host) => {
    const err = configError(() => load({ SLUICE_METRICS_HOST: host }));
    expect(err.setting).toBe('SLUICE_METRICS_HOST');
    expect(err.message).toMatch(/is not an IP address or hostname/);
  });
});

describe('credentials in URLs and broker lists, whatever the password holds', () => {
  const PW = 'p@ss/w:rd%40#x';
  const leaks = (text: string) => [PW, 'p@ss/w:rd@#x', 'rd%40', 'ss/w'].filter((p) => text.includes(p));

  it.each([
    `http://writer:${PW}@ch:8123`,
    `http://writer:${PW}@ch host:8123`,
    `http://writer:${PW}@ch:99999`,
    `http://ch:8123/?password=${encodeURIComponent(PW)}`,
    `http://ch:8123/?user=w&password=x`,
  ])('SLUICE_CLICKHOUSE_URL %s is refused without echoing the password', (url) => {
    const err = configError(() => load({ SLUICE_CLICKHOUSE_URL: url }));
    expect(err.setting).toBe('SLUICE_CLICKHOUSE_URL');
    expect(leaks(err.message)).toEqual([]);
  });

  it('a broker written as user:password@host:port is refused without echoing the password', () => {
    for (const b of [`u:${PW}@k1:9092`, `${PW}@k1:9092`, `u@k1:9092`]) {
      const err = configError(() => load({ SLUICE_KAFKA_BROKERS: b }));
      expect(err.setting).toBe('SLUICE_KAFKA_BROKERS');
      expect(err.message).toContain('credentials go in SLUICE_KAFKA_SASL_*');
      expect(leaks(err.message)).toEqual([]);
    }
  });

  it('redactedConfig shows no query string of the URL', () => {
    expect(redactedConfig(load({ SLUICE_CLICKHOUSE_URL: 'http://ch:8123/proxy?x=1' })).clickhouseUrl).toBe('http://ch:8123/proxy');
  });
});

describe('cleartextPasswords', () => {
  it('names each cleartext transport a password travels over, without the password', () => {
    expect(cleartextPasswords(load())).toEqual([]);
    expect(cleartextPasswords(load({ SLUICE_CLICKHOUSE_PASSWORD: 'pw' }))).toEqual([
      'SLUICE_CLICKHOUSE_PASSWORD is sent over http:// (http://127.0.0.1:8123); use https://',
    ]);
    expect(cleartextPasswords(load({ SLUICE_CLICKHOUSE_URL: 'https://ch:8443', SLUICE_CLICKHOUSE_PASSWORD: 'pw' }))).toEqual([]);
    const sasl = { SLUICE_KAFKA_SASL_USERNAME: 'u', SLUICE_KAFKA_SASL_PASSWORD: 'pw' };
    expect(cleartextPasswords(load({ ...sasl, SLUICE_KAFKA_SECURITY_PROTOCOL: 'sasl_ssl' }))).toEqual([]);
    const both = cleartextPasswords(load({ ...sasl, SLUICE_KAFKA_SECURITY_PROTOCOL: 'sasl_plaintext', SLUICE_CLICKHOUSE_PASSWORD: 'pw' }));
    expect(both).toHaveLength(2);
    expect(both[1]).toBe('SLUICE_KAFKA_SASL_PASSWORD (plain) is sent over sasl_plaintext; use sasl_ssl');
    expect(both.join(' ')).not.toContain('pw ');
  });
});

describe('configuredDestinations (what sluice replay may write to)', () => {
  it('reads SLUICE_TABLE and SLUICE_TOPICS as the sink does: one table, or the tables of a topic:table map', () => {
    expect(configuredDestinations({})).toEqual({ tables: new Set(), topics: new Set() });
    expect(configuredDestinations({ SLUICE_TABLE: 'events' })).toEqual({ tables: new Set(['events']), topics: new Set() });
    expect(configuredDestinations({ SLUICE_TOPICS: 'a,b,c', SLUICE_TABLE: 'a:t1,b:t2,c:t1' })).toEqual({
      tables: new Set(['t1', 't2']),
      topics: new Set(['a', 'b', 'c']),
    });
  });

  it('refuses what the sink refuses, naming the variable', () => {
    expect(() => configuredDestinations({ SLUICE_TABLE: 'bad-name' })).toThrow(/SLUICE_TABLE: "bad-name" is not a plain table name/);
    expect(() => configuredDestinations({ SLUICE_TOPICS: 'a', SLUICE_TABLE: 'a:t1,z:t2' })).toThrow(/SLUICE_TABLE: maps topic "z"/);
    expect(() => configuredDestinations({ SLUICE_TOPICS: 'a b' })).toThrow(/SLUICE_TOPICS/);
  });
});
