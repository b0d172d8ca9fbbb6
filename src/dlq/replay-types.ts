/**
 * replay-types — what a `sluice replay` run is given and what it reports:
 * its options, progress and notice hooks, the summary, and the error that
 * carries the summary so far when a run fails after reading began.
 *
 * Contract: types only, plus ReplayFailedError; no I/O.
 */
import type { ClickHouseConnection } from '../clickhouse/writer.js';
import type { FormatOptions } from '../formats/record-format.js';
import { SluiceError } from '../errors.js';
import type { MetadataColumns } from '../formats/metadata.js';
import type { KafkaSecurity } from '../kafka/security.js';
import type { OffsetBound, Selection } from './replay-plan.js';
import type { ErrorCount } from './replay-tally.js';

export type ClickHouseTarget = ClickHouseConnection;

export interface ReplayOptions {
  readonly brokers: string[];
  /** TLS/SASL for Kafka; plaintext when absent. */
  readonly security?: KafkaSecurity;
  readonly clickhouse: ClickHouseTarget;
  readonly dlqTopic: string;
  readonly group: string;
  readonly selection: Selection;
  /** The only destinations this run writes to: tables (SLUICE_TABLE, --table) and, with toSource, topics (SLUICE_TOPICS, --source-topic). */
  readonly allowed: { readonly tables: ReadonlySet<string>; readonly topics: ReadonlySet<string> };
  /** Untrusted letters: pass them without producing a copy to the end of the topic. */
  readonly dropUntrusted: boolean;
  readonly fromOffset?: OffsetBound;
  readonly toOffset?: OffsetBound;
  /** Start every partition at its earliest offset instead of the group's committed one. */
  readonly reset: boolean;
  readonly toSource: boolean;
  readonly dryRun: boolean;
  /** Most selected letters resolved (inserted, then committed) as one chunk. */
  readonly batchRows: number;
  readonly maxRecordBytes: number;
  /** input_format_skip_unknown_fields, as SLUICE_SKIP_UNKNOWN_FIELDS does for the sink. */
  readonly skipUnknownFields: boolean;
  /** As the sink's SLUICE_INSERT_FORMAT: typed rows (default) or the JSONEachRow passthrough. */
  readonly insertFormat: 'typed' | 'passthrough';
  /** SLUICE_FORMAT and its registry, as the sink reads them (default json): letters keep the original bytes and are decoded again. */
  readonly format?: FormatOptions;
  /** As the sink's SLUICE_METADATA_COLUMNS: rows get their source record's Kafka metadata. */
  readonly metadataColumns: MetadataColumns;
  /** Retry pacing of inserts; tests pass faster values. */
  readonly backoff?: { initialMs: number; maxMs: number };
  /** Most bytes one fetch returns per partition (default 8 MiB); tests pass a small value to exercise many fetches. */
  readonly maxFetchBytes?: number;
}

export interface ReplayProgress {
  /** Offsets passed so far, out of `total` offsets in the planned ranges. */
  readonly done: number;
  readonly total: number;
  readonly replayed: number;
  readonly stillFailing: number;
}

export interface ReplayHooks {
  /** After every chunk, and once at the end. */
  onProgress?(p: ReplayProgress): void;
  /** One line (no newline) worth a human's attention: retries, client warnings. */
  onNotice?(line: string): void;
}

export interface ReplaySummary {
  readonly dlqTopic: string;
  readonly group: string;
  readonly dryRun: boolean;
  readonly toSource: boolean;
  /** Letters read (records of the planned ranges). */
  readonly read: number;
  readonly selected: number;
  /** Landed in ClickHouse, or republished with `toSource` (in a dry run: would be attempted). */
  readonly replayed: number;
  readonly stillFailing: number;
  readonly skippedByFilter: number;
  /** Skipped letters the group had not passed yet, produced again to the end of the topic (in a dry run: would be). */
  readonly deferred: number;
  /** Records without sluice headers: nothing to replay them into; passed over. */
  readonly notDeadLetters: number;
  /** Selected letters naming a destination outside `allowed`: never written. */
  readonly untrusted: number;
  /** Of those, produced again unchanged to the end of the topic (in a dry run: would be). */
  readonly untrustedMoved: number;
  /** Why, grouped (names as plain text), with the first such letter's place. */
  readonly untrustedByReason: ReadonlyArray<{ reason: string; count: number; first: { partition: number; offset: number } }>;
  readonly tables: ReadonlyArray<{ table: string; selected: number; replayed: number; stillFailing: number }>;
  /** The new error of each letter that still fails, grouped. */
  readonly stillFailingByError: readonly ErrorCount[];
  /** The recorded error of each selected letter, grouped (what a dry run is about to replay). */
  readonly selectedByError: readonly ErrorCount[];
  readonly partitions: ReadonlyArray<{ partition: number; start: number; end: number; committedBefore: number | null; committedAfter: number | null }>;
}

/** A failure after reading began; `summary` has the counts up to it (committed work stays done). */
export class ReplayFailedError extends SluiceError {
  readonly summary: ReplaySummary;
  constructor(cause: SluiceError, summary: ReplaySummary) {
    super(cause.kind, cause.message, { cause });
    this.name = 'ReplayFailedError';
    this.summary = summary;
  }
}
