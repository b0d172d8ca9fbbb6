/**
 * features — the settings sent with every INSERT, the same on every server
 * version sluice supports (18.16 to 26.x).
 *
 * Contract: `insertSettings` returns only settings that every supported
 * version knows: a server that lacks a setting answers "Unknown setting"
 * (code 115) to the whole request. test/unit/modern-clickhouse.test.ts
 * checks them against a current engine (chdb); the integration tests run
 * them against Debian's 18.16.
 *
 * Why no insert_deduplication_token: a token built from offsets would make
 * ClickHouse drop *different* rows that reuse the same offsets (a topic
 * deleted and created again, within the deduplication window) — silent
 * loss. Instead, batches are cut at the same offsets every time (batcher.ts)
 * so a re-read batch is byte-identical to the first insert, and ClickHouse's
 * own content-hash deduplication (on for Replicated*MergeTree, opt-in with
 * non_replicated_deduplication_window) drops exactly the repeats.
 */
export interface InsertOptions {
  readonly skipUnknownFields: boolean;
}

export function insertSettings(opts: InsertOptions): Record<string, number> {
  return {
    // Modern servers default this to 1, silently dropping fields the table
    // lacks; sluice makes it explicit on every version, so a field the table
    // lacks is a data error (dead-lettered, replayable) unless the operator
    // chose to drop such fields.
    input_format_skip_unknown_fields: opts.skipUnknownFields ? 1 : 0,
  };
}
