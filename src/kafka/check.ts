/**
 * check — the start-up check of Kafka: the brokers answer, accept the
 * credentials, and have every topic to consume.
 *
 * Contract: resolves, or throws a ConfigError naming the setting to fix
 * (SLUICE_KAFKA_BROKERS, SLUICE_KAFKA_SASL_USERNAME, SLUICE_TOPICS). It uses
 * its own client with few retries and no per-attempt log lines, so an
 * unreachable broker gives one clear message within seconds.
 */
import { ConfigError, errorMessage } from '../errors.js';
import { silentLogger } from '../ops/log.js';
import { isKafkaAuthError } from './security.js';
import { createKafka, type KafkaClientSettings } from './source.js';

export async function checkKafka(settings: KafkaClientSettings, topics: readonly string[]): Promise<void> {
  const brokers = settings.kafkaBrokers.join(',');
  const admin = createKafka(settings, silentLogger, 2).admin();
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) throw new ConfigError('SLUICE_TOPICS', `topic(s) ${missing.join(', ')} do not exist on ${brokers}`);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if (isKafkaAuthError(err)) {
      throw new ConfigError('SLUICE_KAFKA_SASL_USERNAME', `Kafka at ${brokers} rejected the SASL credentials (check SLUICE_KAFKA_SASL_USERNAME, _PASSWORD, _MECHANISM)`);
    }
    throw new ConfigError('SLUICE_KAFKA_BROKERS', `cannot reach Kafka at ${brokers}: ${errorMessage(err)}`);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
