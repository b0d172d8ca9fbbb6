/**
 * features — the settings sent with each INSERT, by server version.
 *
 * Contract: `serverFeatures(version)` maps a `SELECT version()` answer to
 * what that server supports; `insertSettings` returns only settings that
 * server knows — one it lacks would fail the whole request with "Unknown
 * setting" (code 115). Production runs ClickHouse 23–26; the local test
 * server is Debian's 18.16; test/unit/modern-clickhouse.test.ts checks the
 * modern side against a current engine (chdb).
 *
 * Deduplication: batches are cut at the same offsets every time
 * (pipeline/batcher.ts), so a batch re-read after a crash or rebalance is
 * byte-identical to its first insert. ClickHouse's insert deduplication
 * (Replicated*MergeTree by default, MergeTree with
 * non_replicated_deduplication_window) then drops the repeat. By default it
 * keys on the data alone, which would also drop a *different* batch whose
 * bytes happen to be equal (a quiet topic sending the same one-line event
 * every minute). On 22.2+ each INSERT therefore carries an
 * insert_deduplication_token of topic, partition, offsets and a hash of the
 * bytes: only the same rows from the same offsets count as a repeat — not
 * equal rows from other offsets, nor other rows at reused offsets (a topic
 * deleted and created again).
 */
import { createHash } from 'node:crypto';

export interface ServerFeatures {
  readonly version: string;
  /** insert_deduplication_token exists (22.2+). */
  readonly insertDeduplicationToken: boolean;
}

export function parseVersion(version: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(version.trim());
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

export function serverFeatures(version: string): ServerFeatures {
  const [major, minor] = parseVersion(version);
  return { version, insertDeduplicationToken: major > 22 || (major === 22 && minor >= 2) };
}

/** Until the server has been asked: the oldest supported, nothing optional. */
export const UNKNOWN_SERVER: ServerFeatures = serverFeatures('0.0');

export interface InsertOptions {
  readonly skipUnknownFields: boolean;
}

/** Which rows an INSERT carries: the token's ingredients. */
export interface InsertIdentity {
  readonly topic: string;
  readonly partition: number;
  readonly firstOffset: number;
  readonly lastOffset: number;
  readonly chunks: readonly Buffer[];
}

export function insertSettings(features: ServerFeatures, opts: InsertOptions, rows?: InsertIdentity): Record<string, string | number> {
  const settings: Record<string, string | number> = {
    // Modern servers default this to 1, silently dropping fields the table
    // lacks; sluice makes it explicit on every version, so a field the table
    // lacks is a data error (dead-lettered, replayable) unless the operator
    // chose to drop such fields.
    input_format_skip_unknown_fields: opts.skipUnknownFields ? 1 : 0,
  };
  if (features.insertDeduplicationToken && rows) settings.insert_deduplication_token = deduplicationToken(rows);
  return settings;
}

export function deduplicationToken(rows: InsertIdentity): string {
  const hash = createHash('md5');
  for (const c of rows.chunks) hash.update(c);
  return `${rows.topic}:${rows.partition}:${rows.firstOffset}-${rows.lastOffset}:${hash.digest('hex')}`;
}
