/**
 * check — the start-up check of ClickHouse: reachable, which version, and
 * every target table present and readable.
 *
 * Contract: resolves with the server's features, or throws a ConfigError
 * naming the setting to fix (SLUICE_CLICKHOUSE_URL for an unreachable
 * server, SLUICE_CLICKHOUSE_USER when it refuses the credentials,
 * SLUICE_TABLE for a missing table), so `sluice run` and `sluice check`
 * exit 2 with one readable line.
 */
import { ConfigError, errorMessage, type SluiceError } from '../errors.js';
import { redactUrl } from '../ops/redact.js';
import { serverFeatures, type ServerFeatures } from './features.js';
import type { Writer } from './writer.js';

export async function checkClickHouse(writer: Writer, where: { url: string; database: string; tables: Iterable<string> }): Promise<ServerFeatures> {
  let features: ServerFeatures;
  try {
    features = serverFeatures(await writer.serverVersion());
  } catch (err) {
    const setting = (err as SluiceError).kind === 'fatal' ? 'SLUICE_CLICKHOUSE_USER' : 'SLUICE_CLICKHOUSE_URL';
    throw new ConfigError(setting, `cannot use ClickHouse at ${redactUrl(where.url)}: ${errorMessage(err)}`);
  }
  for (const table of new Set(where.tables)) {
    try {
      await writer.checkTable(table);
    } catch (err) {
      throw new ConfigError('SLUICE_TABLE', `table ${where.database}.${table} is not usable: ${errorMessage(err)}`);
    }
  }
  return features;
}
