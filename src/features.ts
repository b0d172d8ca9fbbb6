/**
 * features — which newer ClickHouse settings a given server version knows.
 *
 * Contract: `serverFeatures(version)` maps a `SELECT version()` answer to
 * the optional behaviours sluice may use with that server; `insertSettings`
 * builds the settings of one INSERT from them. A server that lacks a
 * setting answers "Unknown setting" (code 115) to the whole request, so a
 * setting is only ever sent to a version known to have it. Production runs
 * ClickHouse 23–26; the local test server is Debian's 18.16, and chdb (a
 * current engine in-process) checks the modern side in
 * test/unit/modern-clickhouse.test.ts.
 */
export interface ServerFeatures {
  readonly version: string;
  /** insert_deduplication_token (22.2+): a retried INSERT of the same rows is deduplicated. */
  readonly insertDeduplicationToken: boolean;
}

export function parseVersion(version: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(version.trim());
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

function atLeast(version: string, major: number, minor: number): boolean {
  const [a, b] = parseVersion(version);
  return a > major || (a === major && b >= minor);
}

export function serverFeatures(version: string): ServerFeatures {
  return { version, insertDeduplicationToken: atLeast(version, 22, 2) };
}

export interface InsertOptions {
  /** Identifies the rows of this INSERT, e.g. topic:partition:first-last; same rows → same token. */
  readonly dedupToken: string;
  readonly skipUnknownFields: boolean;
}

export function insertSettings(features: ServerFeatures, opts: InsertOptions): Record<string, string | number> {
  const settings: Record<string, string | number> = {
    // Modern servers default this to 1, silently dropping fields the table
    // lacks; sluice makes it explicit on every version, so a field the table
    // lacks is a data error (dead-lettered, replayable) unless the operator
    // chose to drop such fields.
    input_format_skip_unknown_fields: opts.skipUnknownFields ? 1 : 0,
  };
  if (features.insertDeduplicationToken) settings.insert_deduplication_token = opts.dedupToken;
  return settings;
}
