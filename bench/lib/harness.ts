/**
 * harness — what the service benchmarks (backlog, replicas) share: run ids,
 * parameters, waiting for rows, clean-up, the environment, tables and files.
 *
 * Contract:
 *  - `waitForRows` resolves once the table holds `rows` distinct ids (done),
 *    or when `failed()` names a reason, or at the deadline; it never throws
 *    on a failed poll (a busy server is not the sink's failure).
 *  - `cleanup` drops every table and deletes every topic and consumer group
 *    whose name starts with the run's prefix (the sink's `<topic>.dlq` too).
 *  - `printTable` pads columns, first column left, the rest right.
 *  - `writeJson` writes bench/results/<name>-<timestamp>.json and returns the path.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { chNumbers, chQuery, ident } from './clickhouse.js';
import { readStat } from './proc.js';

export const POLL_MS = 250;
/** uniqExact over millions of ids costs the shared server real CPU: not more often than this. */
const DISTINCT_EVERY_MS = 2_000;

export const say = (tag: string, msg: string) => process.stderr.write(`${tag}: ${msg}\n`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export const MiB = 2 ** 20;

/** Short random run id: names stay plain identifiers and never collide with a parallel run. */
export function runId(): string {
  return `${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${randomBytes(3).toString('hex')}`;
}

export function intParam(name: string, raw: string | undefined, fallback: number): number {
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return n;
}

export function intListParam(name: string, raw: string | undefined, fallback: number[]): number[] {
  if (raw === undefined || raw === '') return fallback;
  return raw.split(',').map((s) => intParam(name, s.trim(), 0));
}

/**
 * BENCH_SLUICE_ENV="SLUICE_X=v,SLUICE_Y=w" → extra variables for sluice. Keys
 * are not checked against sluice's list here: sluice itself refuses unknown
 * ones at start-up, and that message names the key.
 */
/** The parameters every sluice benchmark shares (flags --timeout/--keep, the rest from env). */
export interface CommonParams {
  timeoutS: number;
  keep: boolean;
  sluiceEnv: Record<string, string>;
  sluiceCli: string;
  brokers: string;
  clickhouseUrl: string;
}

export function commonParams(
  values: { timeout?: string | undefined; keep?: boolean | undefined },
  e: NodeJS.ProcessEnv,
  repoRoot: string,
  defaultTimeoutS: number,
): CommonParams {
  return {
    timeoutS: intParam('timeout (BENCH_TIMEOUT_S)', values.timeout ?? e.BENCH_TIMEOUT_S, defaultTimeoutS),
    keep: values.keep ?? (e.BENCH_KEEP === '1' || e.BENCH_KEEP === 'true'),
    sluiceEnv: sluiceEnvParam(e.BENCH_SLUICE_ENV),
    sluiceCli: resolve(e.BENCH_SLUICE_CLI || join(repoRoot, 'dist', 'cli', 'index.js')),
    brokers: e.BENCH_BROKERS || '127.0.0.1:9092',
    clickhouseUrl: e.BENCH_CLICKHOUSE_URL || 'http://127.0.0.1:8123',
  };
}

export function sluiceEnvParam(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = pair.indexOf('=');
    if (i <= 0 || !pair.startsWith('SLUICE_')) throw new Error(`BENCH_SLUICE_ENV: "${pair}" is not SLUICE_KEY=VALUE`);
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}

/**
 * Rows in the table, from the active parts' metadata. count() on 18.16 reads
 * a column (no trivial-count optimisation yet), which at 10M rows every
 * 250 ms would take CPU from the sink being measured; part row counts are
 * free and switch atomically when a merge replaces parts.
 */
export async function tableRows(url: string, table: string): Promise<number> {
  const [n] = await chNumbers(url, `SELECT sum(rows) FROM system.parts WHERE database = currentDatabase() AND table = '${ident(table)}' AND active`);
  return n ?? 0;
}

export interface WaitOutcome {
  /** 'ok', or why not: 'failed: …', 'timeout: …'. */
  status: string;
  /** performance.now() when every id was counted; undefined unless ok. */
  doneAt: number | undefined;
  /** performance.now() of the first poll that saw a row (start-up + group join + first insert). */
  firstRowAt: number | undefined;
  count: number;
}

export async function waitForRows(opts: {
  url: string;
  table: string;
  rows: number;
  deadline: number;
  /** A reason to give up now (e.g. the sink exited), or undefined. */
  failed: () => string | undefined;
}): Promise<WaitOutcome> {
  let count = 0;
  let firstRowAt: number | undefined;
  let lastDistinctAt = 0;
  let pollError: string | undefined;
  for (;;) {
    try {
      count = await tableRows(opts.url, opts.table);
      pollError = undefined;
    } catch (err) {
      pollError = errText(err);
    }
    const now = performance.now();
    if (count > 0) firstRowAt ??= now;
    // Rows counted alone would accept duplicates standing in for missing rows.
    if (count >= opts.rows && pollError === undefined && now - lastDistinctAt >= DISTINCT_EVERY_MS) {
      lastDistinctAt = now;
      const [distinct] = await chNumbers(opts.url, `SELECT uniqExact(id) FROM ${ident(opts.table)}`).catch(() => [0]);
      if ((distinct ?? 0) >= opts.rows) return { status: 'ok', doneAt: now, firstRowAt, count };
    }
    const why = opts.failed();
    if (why) return { status: `failed: ${why} at ${count}/${opts.rows} rows`, doneAt: undefined, firstRowAt, count };
    if (now > opts.deadline) {
      return { status: `timeout: ${count}/${opts.rows} rows${pollError ? ` (last poll failed: ${pollError})` : ''}`, doneAt: undefined, firstRowAt, count };
    }
    await sleep(POLL_MS);
  }
}

/** Rows and distinct ids after the sink stopped: rows re-written during rebalances or shutdown show as duplicates. */
export async function finalCounts(url: string, table: string): Promise<{ rows: number; distinct: number; duplicates: number }> {
  const [rows = 0, distinct = 0] = await chNumbers(url, `SELECT count(), uniqExact(id) FROM ${ident(table)}`);
  return { rows, distinct, duplicates: rows - distinct };
}

export async function cleanup(url: string, brokers: string, prefix: string): Promise<void> {
  const names = (await chQuery(url, `SELECT name FROM system.tables WHERE database = currentDatabase() AND startsWith(name, '${ident(prefix)}')`))
    .split('\n').filter(Boolean);
  for (const name of names) await chQuery(url, `DROP TABLE IF EXISTS ${ident(name)}`);
  const admin = new Kafka({ clientId: 'sluice-bench', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => {});
  } finally {
    await admin.disconnect();
  }
}

/**
 * PIDs of the local Kafka and ClickHouse, from the pid files
 * scripts/services.sh writes; absent when not found (remote services).
 */
export function servicePids(repoRoot: string): { clickhouse?: number; kafka?: number } {
  const state = process.env.LOCAL_SERVICES_DIR ?? join(repoRoot, '.local');
  const read = (file: string) => {
    try {
      const pid = Number(readFileSync(join(state, file), 'utf8').trim());
      return Number.isInteger(pid) && readStat(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  const out: { clickhouse?: number; kafka?: number } = {};
  const ch = read('clickhouse/clickhouse.pid');
  const kafka = read('kafka/kafka.pid');
  if (ch !== undefined) out.clickhouse = ch;
  if (kafka !== undefined) out.kafka = kafka;
  return out;
}

export function cpuOf(pid: number | undefined): number | undefined {
  return pid === undefined ? undefined : readStat(pid)?.cpuS;
}

export interface Environment {
  node: string;
  clickhouse: string;
  kafka: string | undefined;
  cpus: number;
  cpuModel: string | undefined;
  commit: string | undefined;
  /** 1-minute load average when the run started: others' jobs share these cores. */
  loadAvgAtStart: number;
}

/** The checked-out commit, if this is a git work tree. */
export function gitCommit(repoRoot: string): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** The local broker's version, from its jar's name (scripts/services.sh fetches kafka_2.13-<version>.jar into .local/kafka-libs). */
export function kafkaVersion(repoRoot: string): string | undefined {
  try {
    return readdirSync(join(repoRoot, '.local', 'kafka-libs')).map((f) => /^kafka_2\.\d+-(.+)\.jar$/.exec(f)?.[1]).find((v) => v !== undefined);
  } catch {
    return undefined;
  }
}

export async function environment(repoRoot: string, clickhouseUrl?: string): Promise<Environment> {
  const commit = gitCommit(repoRoot);
  const kafka = kafkaVersion(repoRoot);
  const clickhouse = clickhouseUrl ? (await chQuery(clickhouseUrl, 'SELECT version()')).trim() : '';
  return { node: process.version, clickhouse, kafka, cpus: cpus().length, cpuModel: cpus()[0]?.model, commit, loadAvgAtStart: round(loadavg()[0]!, 2) };
}

/** A plain text table: first column left-aligned, the others right-aligned. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function fmt(n: number | undefined, digits?: number): string {
  if (n === undefined || Number.isNaN(n)) return '-';
  if (digits !== undefined) return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2);
}

export function writeJson(dir: string, name: string, startedAt: string, body: unknown): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}-${startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(path, JSON.stringify(body, null, 2) + '\n');
  return path;
}
