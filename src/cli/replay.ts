/**
 * replay — `sluice replay`: arguments in, a progress bar on stderr, a
 * summary (text or JSON) out. The logic lives in dlq/replay.ts.
 *
 * Contract: `replayCommand(args, io)` validates every argument and the
 * connection settings before touching Kafka or ClickHouse, and returns the
 * exit code: 0 every selected letter replayed (or nothing to do), 1 some
 * still failing or a runtime failure, 2 a usage error (one line naming the
 * flag or variable). It never calls process.exit. Connection settings come
 * from the sink's own variables (SLUICE_KAFKA_BROKERS, SLUICE_CLICKHOUSE_URL,
 * _USER, _PASSWORD, _DATABASE; defaults from config.ts SETTINGS), overridden
 * by --brokers and --clickhouse-url, and Kafka's TLS/SASL settings
 * (kafka/security.ts). Where letters may go comes from the sink's
 * SLUICE_TABLE (and SLUICE_TOPICS for --to-source), read by config.ts as the
 * sink reads them, plus the tables of --table and topics of --source-topic;
 * with neither, the run is refused (exit 2) rather than skipping every
 * letter. SLUICE_INSERT_FORMAT makes letters decode and insert as the sink
 * does (typed rows by default). Other SLUICE_* variables are ignored, so the sink's environment
 * works as it is. The password is never printed, and every text that came
 * from a letter's headers or a server is printed as plain text (no control
 * characters or terminal escapes), in the text and the JSON output.
 * With `io.isTTY`, one progress line is redrawn on `io.err` (carriage
 * return, at most ~10 times a second); otherwise there is no bar. Every
 * out/err call carries whole lines, except the bar's redraws.
 */
import { SETTINGS, clickhouseConnectionFromEnv, configuredDestinations, metadataColumnsFromEnv } from '../config.js';
import { formatOptionsFromEnv } from '../formats/format-settings.js';
import { plainText } from '../ops/redact.js';
import { dlqTopicFor } from '../dlq/dead-letters.js';
import { ConfigError, errorMessage } from '../errors.js';
import { readFlags, type FlagSpec } from './args.js';
import { kafkaSecurityFromEnv } from '../kafka/security.js';
import { parseBrokers, parseTime, table, type OffsetsIo } from './offsets.js';
import {
  replay,
  ReplayFailedError,
  type ClickHouseTarget,
  type ErrorCount,
  type OffsetBound,
  type ReplayOptions,
  type ReplayProgress,
  type ReplaySummary,
  type Selection,
} from '../dlq/replay.js';

export interface ReplayIo extends OffsetsIo {
  /** Whether `err` is a terminal: only then is the progress bar drawn. */
  isTTY: boolean;
  /** Clock of the progress throttle; tests inject one. */
  now?: () => number;
}

export const USAGE = `usage: sluice replay (--dlq-topic T | --topic SOURCE) [options]

Re-inserts dead letters into the table each one names (or, with --to-source,
republishes them to their source topic). Letters that still fail go back to
the dead-letter topic with the new error; the replay group's offset moves
only after that, so interrupting and re-running is safe: a re-run continues
where the last one committed.

  --dlq-topic T              the dead-letter topic to replay
  --topic SOURCE             the same as --dlq-topic SOURCE.dlq
  --group G                  replay consumer group (default sluice-replay-<dead-letter topic>)

selection (default: every letter after the group's committed offset)
  --from-time TIME           failed at or after TIME (sluice.failed.at); starts over
  --to-time TIME             failed at or before TIME
  --from-offset O|P:O,...    start at this dead-letter offset; starts over
  --to-offset O|P:O,...      stop after this offset (inclusive)
                             (P:O lists read only the partitions they name)
  --reset                    start over from the earliest offset
  --source-topic T[,T...]    only letters from these source topics
  --table NAME[,NAME...]     only letters for these tables
  --error-code N[,N...]      only letters rejected with these ClickHouse error codes

  --to-source                republish to the source topic instead of inserting
  --drop-untrusted           pass letters naming an unconfigured destination without
                             keeping a copy at the end of the topic (see below)
  --dry-run                  read and count only: no insert, no produce, no commit
  --batch-rows N             most letters per insert chunk (default 10000)
  --max-record-bytes N       pre-insert size limit (default ${SETTINGS.SLUICE_MAX_RECORD_BYTES!.default}, as SLUICE_MAX_RECORD_BYTES)
  --skip-unknown-fields      drop JSON fields the table lacks (as SLUICE_SKIP_UNKNOWN_FIELDS=true)
  --json                     print the summary as JSON
  --brokers host:port,...    default $SLUICE_KAFKA_BROKERS, else ${SETTINGS.SLUICE_KAFKA_BROKERS!.default}
  --clickhouse-url URL       default $SLUICE_CLICKHOUSE_URL, else ${SETTINGS.SLUICE_CLICKHOUSE_URL!.default}
                             (user, password, database: $SLUICE_CLICKHOUSE_USER, _PASSWORD, _DATABASE)

Starting over replays what it selects again, also letters that landed in an
earlier run. Letters a filter skips that the group had not passed yet are
produced again to the end of the dead-letter topic, so a later run without
the filter still finds them.

Letters are written only where the configuration says: tables of
$SLUICE_TABLE (one table or topic:table pairs, as the sink reads it) or
--table; with --to-source, topics of $SLUICE_TOPICS or --source-topic.
A letter's headers are whatever the writer of the dead-letter topic chose:
one naming anything else is reported as untrusted and never written. Like a
filtered letter it is moved to the end of the topic, or with
--drop-untrusted passed (it stays in the log at the reported offset until
retention).

TIME is ISO-8601 with a zone (2024-05-01T22:00:00Z) or epoch milliseconds.
Exit code: 0 all replayed or nothing to do, 1 some still failing or a failure, 2 bad usage.`;

export type ReplayArgs = { command: 'help' } | ({ command: 'replay'; json: boolean } & ReplayOptions);

const FLAGS: FlagSpec = {
  '--dlq-topic': 'value',
  '--topic': 'value',
  '--group': 'value',
  '--brokers': 'value',
  '--clickhouse-url': 'value',
  '--from-time': 'value',
  '--to-time': 'value',
  '--from-offset': 'value',
  '--to-offset': 'value',
  '--source-topic': 'list',
  '--table': 'list',
  '--error-code': 'list',
  '--reset': 'switch',
  '--to-source': 'switch',
  '--dry-run': 'switch',
  '--drop-untrusted': 'switch',
  '--batch-rows': 'value',
  '--max-record-bytes': 'value',
  '--skip-unknown-fields': 'switch',
  '--json': 'switch',
};

// Kafka's rule for topic names, and ClickHouse plain identifiers (as config.ts).
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses and validates; throws ConfigError naming the offending flag or variable. */
export function parseReplayArgs(args: string[], env: NodeJS.ProcessEnv): ReplayArgs {
  const values = readFlags(args, FLAGS, 'replay');
  if (values === 'help') return { command: 'help' };
  const one = (flag: string) => values.get(flag)?.[0];
  const items = (flag: string) => values.get(flag)?.flatMap((v) => v.split(',').map((s) => s.trim()));

  const dlqTopic = dlqTopicOf(one('--dlq-topic'), one('--topic'));
  const fromOffset = optional(one('--from-offset'), (v) => parseOffsetBound('--from-offset', v));
  const toOffset = optional(one('--to-offset'), (v) => parseOffsetBound('--to-offset', v));
  checkOffsetRange(fromOffset, toOffset);
  if (values.has('--reset') && fromOffset) throw new ConfigError('--reset', 'conflicts with --from-offset, which already says where to start');
  const group = one('--group') ?? `sluice-replay-${dlqTopic}`;
  if (group.trim() === '') throw new ConfigError('--group', 'is empty');
  const selection = parseSelection(one('--from-time'), one('--to-time'), items('--source-topic'), items('--table'), items('--error-code'));
  const toSource = values.has('--to-source');

  return {
    command: 'replay',
    brokers: parseBrokers(one('--brokers'), env),
    security: kafkaSecurityFromEnv(env),
    clickhouse: clickhouseTarget(one('--clickhouse-url'), env),
    dlqTopic,
    group,
    selection,
    dropUntrusted: values.has('--drop-untrusted'),
    fromOffset,
    toOffset,
    reset: values.has('--reset'),
    toSource,
    dryRun: values.has('--dry-run'),
    batchRows: optional(one('--batch-rows'), (v) => wholeNumber('--batch-rows', v, 1, 1_000_000)) ?? 10_000,
    maxRecordBytes:
      optional(one('--max-record-bytes'), (v) => wholeNumber('--max-record-bytes', v, 16, 1 << 30)) ?? Number(SETTINGS.SLUICE_MAX_RECORD_BYTES!.default),
    skipUnknownFields: values.has('--skip-unknown-fields'),
    insertFormat: insertFormatOf(env),
    format: formatOptionsFromEnv(env, insertFormatOf(env) === 'typed'),
    metadataColumns: metadataColumnsFromEnv(env),
    json: values.has('--json'),
    // Last: every flag is checked before the question of where letters may go.
    allowed: allowedDestinations(env, selection, toSource),
  };
}

/**
 * The destinations the run may write to: the sink's configuration plus what
 * the operator named on the command line. Refused when empty for the kind of
 * run (tables for inserts, topics for --to-source): every letter would be
 * skipped, which is never what was meant.
 */
function allowedDestinations(env: NodeJS.ProcessEnv, selection: Selection, toSource: boolean): ReplayOptions['allowed'] {
  const configured = configuredDestinations(env);
  const tables = new Set([...configured.tables, ...(selection.tables ?? [])]);
  const topics = new Set([...configured.topics, ...(selection.sourceTopics ?? [])]);
  if (toSource && topics.size === 0) {
    throw new ConfigError('SLUICE_TOPICS', 'unset: --to-source republishes only to configured topics; set the sink\'s SLUICE_TOPICS or pass --source-topic');
  }
  if (!toSource && tables.size === 0) {
    throw new ConfigError('SLUICE_TABLE', 'unset: replay inserts only into configured tables; set the sink\'s SLUICE_TABLE or pass --table');
  }
  return { tables, topics };
}

/** SLUICE_INSERT_FORMAT, as the sink reads it: replay decodes and inserts the way the sink does. */
function insertFormatOf(env: NodeJS.ProcessEnv): 'typed' | 'passthrough' {
  const raw = (env.SLUICE_INSERT_FORMAT ?? '').trim() || SETTINGS.SLUICE_INSERT_FORMAT!.default;
  if (raw !== 'rowbinary' && raw !== 'jsoneachrow') throw new ConfigError('SLUICE_INSERT_FORMAT', `must be rowbinary or jsoneachrow, got "${raw}"`);
  return raw === 'rowbinary' ? 'typed' : 'passthrough';
}

function optional<T>(v: string | undefined, parse: (v: string) => T): T | undefined {
  return v === undefined ? undefined : parse(v);
}

function dlqTopicOf(dlq: string | undefined, source: string | undefined): string {
  if (dlq !== undefined && source !== undefined) throw new ConfigError('--topic', 'give either --dlq-topic or --topic, not both');
  if (dlq === undefined && source === undefined) throw new ConfigError('--dlq-topic', 'required (or --topic SOURCE for SOURCE.dlq)');
  const flag = dlq !== undefined ? '--dlq-topic' : '--topic';
  const name = (dlq ?? source)!;
  if (!TOPIC.test(name)) throw new ConfigError(flag, `"${name}" is not a valid Kafka topic name`);
  const topic = dlq ?? dlqTopicFor('', source!)!;
  if (!TOPIC.test(topic)) throw new ConfigError(flag, `"${topic}" is not a valid Kafka topic name`);
  return topic;
}

/** `O` for every partition, or `P:O,...` for the partitions named. */
export function parseOffsetBound(flag: string, value: string): OffsetBound {
  if (/^\s*\d+\s*$/.test(value)) return { kind: 'all', offset: safe(flag, Number(value)) };
  const offsets = new Map<number, number>();
  for (const pair of value.split(',')) {
    const m = /^\s*(\d+):(\d+)\s*$/.exec(pair);
    if (!m) throw new ConfigError(flag, `"${pair}" is not an offset or partition:offset (e.g. 1200, or 0:1200,1:980)`);
    const partition = Number(m[1]);
    if (offsets.has(partition)) throw new ConfigError(flag, `partition ${partition} given twice`);
    offsets.set(partition, safe(flag, Number(m[2])));
  }
  return { kind: 'partitions', offsets };
}

function safe(flag: string, n: number): number {
  if (!Number.isSafeInteger(n)) throw new ConfigError(flag, `${n} is out of range`);
  return n;
}

function checkOffsetRange(from: OffsetBound | undefined, to: OffsetBound | undefined): void {
  if (!from || !to) return;
  if (from.kind !== to.kind) throw new ConfigError('--to-offset', 'give both offsets as plain numbers, or both as partition:offset lists');
  const pairs: Array<[number | string, number, number]> =
    from.kind === 'all' && to.kind === 'all' ? [['all', from.offset, to.offset]]
    : from.kind === 'partitions' && to.kind === 'partitions' ? [...from.offsets].filter(([p]) => to.offsets.has(p)).map(([p, o]) => [p, o, to.offsets.get(p)!])
    : [];
  for (const [p, f, t] of pairs) {
    if (t < f) throw new ConfigError('--to-offset', `${t} is before --from-offset ${f}${p === 'all' ? '' : ` (partition ${p})`}`);
  }
}

export function parseSelection(
  fromTime: string | undefined,
  toTime: string | undefined,
  sourceTopics: string[] | undefined,
  tables: string[] | undefined,
  errorCodes: string[] | undefined,
): Selection {
  const from = optional(fromTime, (v) => parseTime('--from-time', v));
  const to = optional(toTime, (v) => parseTime('--to-time', v));
  if (from !== undefined && to !== undefined && to < from) throw new ConfigError('--to-time', 'is before --from-time');
  return {
    ...(from !== undefined && { fromTime: from }),
    ...(to !== undefined && { toTime: to }),
    ...(sourceTopics && { sourceTopics: nameSet('--source-topic', sourceTopics, TOPIC, 'a valid Kafka topic name') }),
    ...(tables && { tables: nameSet('--table', tables, IDENTIFIER, 'a plain table name') }),
    ...(errorCodes && { errorCodes: new Set(errorCodes.map((c) => wholeNumber('--error-code', c, 0, 1_000_000))) }),
  };
}

function nameSet(flag: string, names: string[], re: RegExp, what: string): Set<string> {
  for (const n of names) if (!re.test(n)) throw new ConfigError(flag, `"${n}" is not ${what}`);
  return new Set(names);
}

function wholeNumber(flag: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw)) throw new ConfigError(flag, `must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(flag, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** The sink's ClickHouse settings, validated as config.ts does; --clickhouse-url overrides the URL. */
/** The sink's ClickHouse settings (config.ts), with --clickhouse-url over SLUICE_CLICKHOUSE_URL. */
export function clickhouseTarget(flagUrl: string | undefined, env: NodeJS.ProcessEnv): ClickHouseTarget {
  return clickhouseConnectionFromEnv(env, flagUrl);
}

// ---------------------------------------------------------------- progress

const n = (x: number) => x.toLocaleString('en-US');

/** `[#####.....] 5,000/10,000 replayed 4,990 still failing 10` */
export function renderBar(p: ReplayProgress, width = 20): string {
  const filled = p.total === 0 ? width : Math.min(width, Math.floor((p.done / p.total) * width));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${n(p.done)}/${n(p.total)} replayed ${n(p.replayed)} still failing ${n(p.stillFailing)}`;
}

const CLEAR_LINE = '\r\x1b[K';

/** One redrawn line on a terminal; silent elsewhere. Redraws at most every `minIntervalMs`. */
export class ProgressLine {
  private last: ReplayProgress | undefined;
  private drawnAt = -Infinity;
  private drawn = false;

  constructor(
    private readonly write: (s: string) => void,
    private readonly tty: boolean,
    private readonly now: () => number = Date.now,
    private readonly minIntervalMs = 100,
  ) {}

  update(p: ReplayProgress): void {
    this.last = p;
    if (!this.tty || this.now() - this.drawnAt < this.minIntervalMs) return;
    this.draw();
  }

  /** A whole line above the bar (the bar is redrawn under it). */
  note(line: string): void {
    this.write((this.drawn ? CLEAR_LINE : '') + line + '\n');
    if (this.drawn) this.draw();
  }

  /** Draws the final state and ends the line. */
  end(): void {
    if (!this.tty || !this.last) return;
    this.draw();
    this.write('\n');
    this.drawn = false;
  }

  private draw(): void {
    this.write(CLEAR_LINE + renderBar(this.last!));
    this.drawn = true;
    this.drawnAt = this.now();
  }
}

// ---------------------------------------------------------------- summary

function oneLine(s: string, max = 160): string {
  return plainText(s, max).replace(/\s+/g, ' ').trim();
}

function errorTable(rows: readonly ErrorCount[]): string {
  return table(
    ['CODE', 'CLASS', 'COUNT', 'EXAMPLE'],
    rows.map((e) => [e.code === null ? '-' : String(e.code), e.errorClass, n(e.count), oneLine(e.example)]),
    [true, false, true, false],
  );
}

export function formatSummary(s: ReplaySummary): string {
  const target = s.toSource ? 'their source topics' : 'ClickHouse';
  const verb = s.dryRun ? 'would replay' : 'replayed';
  const lines = [
    s.dryRun
      ? `DRY RUN, nothing changed: dead letters of ${s.dlqTopic} that would go to ${target} (group ${s.group})`
      : `dead letters of ${s.dlqTopic} → ${target} (group ${s.group})`,
  ];
  const counts: Array<[string, number, string]> = [
    ['read', s.read, ''],
    ['selected', s.selected, ''],
    [verb, s.replayed, ''],
    // A dry run tries nothing, so nothing can be known to fail.
    ...(s.dryRun ? [] : [['still failing', s.stillFailing, s.stillFailing > 0 ? `produced again to ${s.dlqTopic}` : ''] as [string, number, string]]),
    ['skipped by filter', s.skippedByFilter, s.deferred > 0 ? `${n(s.deferred)} ${s.dryRun ? 'would be moved' : 'moved'} to the end of ${s.dlqTopic} for a later run` : ''],
    ['not dead letters', s.notDeadLetters, s.notDeadLetters > 0 ? 'no sluice headers: nothing to replay them into' : ''],
    ['untrusted', s.untrusted, s.untrusted === 0 ? '' : `never written: destination not configured; ${
      s.untrustedMoved > 0 ? `${n(s.untrustedMoved)} ${s.dryRun ? 'would be moved' : 'moved'} to the end of ${s.dlqTopic} for a run that trusts it` : 'passed, still in the log at their offsets'
    }`],
  ];
  const width = Math.max(...counts.map(([, v]) => n(v).length));
  for (const [label, v, note] of counts) lines.push(`  ${label.padEnd(20)}${n(v).padStart(width)}${note ? `  ${note}` : ''}`);
  if (s.tables.length > 0) {
    const header = s.dryRun ? ['TABLE', 'SELECTED'] : ['TABLE', 'SELECTED', 'REPLAYED', 'STILL FAILING'];
    const rows = s.tables.map((t) => [t.table, n(t.selected), n(t.replayed), n(t.stillFailing)].slice(0, header.length));
    lines.push('', table(header, rows, header.map((_, i) => i > 0)));
  }
  if (s.untrustedByReason.length > 0) {
    lines.push('', 'untrusted letters (skipped, never written):', table(
      ['COUNT', 'FIRST AT', 'REASON'],
      s.untrustedByReason.map((u) => [n(u.count), `${u.first.partition}:${u.first.offset}`, oneLine(u.reason, 200)]),
      [true, true, false],
    ));
  }
  if (s.stillFailingByError.length > 0) lines.push('', 'still failing, by error:', errorTable(s.stillFailingByError));
  if (s.dryRun && s.selectedByError.length > 0) lines.push('', 'selected, by recorded error:', errorTable(s.selectedByError));
  if (s.partitions.length > 0) {
    const dash = (x: number | null) => (x === null ? '-' : String(x));
    lines.push('', table(
      ['PARTITION', 'START', 'END', 'COMMITTED BEFORE', 'COMMITTED NOW'],
      s.partitions.map((p) => [String(p.partition), String(p.start), String(p.end), dash(p.committedBefore), dash(p.committedAfter)]),
      [true, true, true, true, true],
    ));
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- command

/** Runs `sluice replay ...args`; returns the process exit code (never calls process.exit). */
export async function replayCommand(args: string[], io: ReplayIo): Promise<number> {
  let parsed: ReplayArgs;
  try {
    parsed = parseReplayArgs(args, io.env);
  } catch (err) {
    io.err(`sluice replay: ${errorMessage(err)}\n${args.length === 0 ? USAGE : 'run "sluice replay --help" for usage'}\n`);
    return 2;
  }
  if (parsed.command === 'help') {
    io.out(USAGE + '\n');
    return 0;
  }
  const { json, command: _command, ...opts } = parsed;
  const bar = new ProgressLine(io.err, io.isTTY, io.now);
  const print = (s: ReplaySummary, extra: object = {}) => io.out((json ? JSON.stringify({ ...s, ...extra }, null, 2) : formatSummary(s)) + '\n');
  try {
    // Notices quote server errors, which quote rows: plain text only on a terminal.
    const summary = await replay(opts, { onProgress: (p) => bar.update(p), onNotice: (line) => bar.note(plainText(line, 2000)) });
    bar.end();
    print(summary);
    return summary.stillFailing > 0 ? 1 : 0;
  } catch (err) {
    bar.end();
    if (err instanceof ReplayFailedError && err.summary.read > 0) print(err.summary, { error: plainText(err.message, 2000) });
    const resume = err instanceof ReplayFailedError ? '; what was committed stays done, a re-run continues from there' : '';
    io.err(`sluice replay: ${plainText(errorMessage(err), 2000)}${resume}\n`);
    return err instanceof ConfigError ? 2 : 1;
  }
}
