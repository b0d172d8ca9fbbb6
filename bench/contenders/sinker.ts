/**
 * sinker — housepower/clickhouse_sinker, the Go peer issue 10's target is set against.
 *
 * Contract: runs the binary named by BENCH_SINKER_BIN (this repo neither
 * contains nor builds it: it is built from the peer's public source; see
 * bench/README.md). `precheck` returns NOT_AVAILABLE when that variable is
 * unset or names no executable file; otherwise it writes the sinker's config
 * to a fresh temp dir before the clock starts. The config points it at the
 * run's topic (from the earliest offset, as its own consumer group), the
 * run's table over ClickHouse's native protocol, with the dataset's columns
 * and the JSON parser, and batches sized like sluice's defaults (below).
 * `start` spawns one process (its pid is the measured tree); `stop` sends
 * SIGTERM, SIGKILL after the grace period, and removes the temp dir.
 *
 * Batching, sluice's defaults mapped onto the sinker's knobs:
 *  - bufferSize 100,000 = SLUICE_BATCH_MAX_ROWS. The sinker polls at most
 *    bufferSize records at a time (all partitions together) and, after
 *    handling a poll, flushes once more than 4/5 of bufferSize are buffered.
 *    Draining a backlog, most polls come full and it inserts 100,000 rows; a
 *    short poll waits for the next one, so some inserts hold up to ~180,000
 *    (its log showed 80,000-145,000 for 1M rows). sluice's limit is per
 *    partition, the sinker's across them.
 *  - flushInterval 1 s = SLUICE_BATCH_MAX_WAIT_MS (the sinker counts whole seconds).
 * Everything else stays the sinker's default (notably maxOpenConns 1: one
 * insert in flight per ClickHouse host; sluice's default is 4).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chQuery } from '../lib/clickhouse.js';
import { COLUMNS } from '../lib/dataset.js';
import { spawnLogged } from '../lib/spawn.js';
import type { Contender, RunContext } from './types.js';

export const NOT_AVAILABLE = 'not available: set BENCH_SINKER_BIN to a clickhouse_sinker binary built from its public source';

/** The harness knows ClickHouse only by its HTTP URL; the native port is the server's default. */
const NATIVE_PORT = 9000;
const BUFFER_SIZE = 100_000;
const FLUSH_INTERVAL_S = 1;

/** BENCH_SINKER_BIN when it names an executable regular file, else undefined. */
export function sinkerBinary(): string | undefined {
  const bin = process.env.BENCH_SINKER_BIN;
  if (!bin) return undefined;
  try {
    if (!statSync(bin).isFile()) return undefined;
    accessSync(bin, constants.X_OK);
    return bin;
  } catch {
    return undefined;
  }
}

export function sinker(): Contender {
  const bin = sinkerBinary();
  let prepared: { dir: string; configFile: string } | undefined;
  return {
    name: 'sinker',
    describe: `clickhouse_sinker ${bin ? versionOf(bin) : '(no binary)'}, native protocol, fastjson, bufferSize ${BUFFER_SIZE}, flushInterval ${FLUSH_INTERVAL_S} s`,
    async precheck(ctx) {
      if (!bin) return process.env.BENCH_SINKER_BIN ? `${NOT_AVAILABLE} (${process.env.BENCH_SINKER_BIN} is not an executable file)` : NOT_AVAILABLE;
      // The dataset's DateTime strings carry no zone; the other contenders
      // let the server read them in its own zone, so the sinker must too.
      const timeZone = (await chQuery(ctx.clickhouseUrl, 'SELECT timezone()')).trim();
      const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-sinker-'));
      const configFile = join(dir, 'clickhouse_sinker.json');
      writeFileSync(configFile, JSON.stringify(sinkerConfig(ctx, timeZone), null, 2));
      prepared = { dir, configFile };
      return undefined;
    },
    async start(ctx) {
      if (!bin || !prepared) throw new Error('sinker: start without a successful precheck');
      const { dir, configFile } = prepared;
      // Only PATH and HOME: the sinker reads every option from an env var of
      // its name too (LOG_LEVEL, NACOS_DATAID, CLICKHOUSE_PASSWORD, …), so the
      // caller's environment must not reconfigure it. The flags keep it on
      // loopback, logging to stdout only (its default also writes a file to
      // the cwd), with its HTTP server off (-http-port 0).
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };
      const args = ['-local-cfg-file', configFile, '-log-paths', 'stdout', '-http-host', '127.0.0.1', '-http-port', '0'];
      const proc = spawnLogged(bin, args, env, ctx, { cwd: dir });
      return {
        ...proc.running,
        async stop() {
          await proc.terminate(ctx.stopGraceMs);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

/** The sinker's config file (hjson, of which JSON is a subset). */
function sinkerConfig(ctx: RunContext, timeZone: string): unknown {
  const url = new URL(ctx.clickhouseUrl);
  return {
    clickhouse: {
      hosts: [[url.hostname]],
      port: NATIVE_PORT,
      db: 'default',
      username: decodeURIComponent(url.username) || 'default',
      password: decodeURIComponent(url.password),
      protocol: 'native',
    },
    kafka: { brokers: ctx.brokers },
    task: {
      name: ctx.group,
      topic: ctx.topic,
      consumerGroup: ctx.group,
      // A new group starts at the earliest offset (otherwise at the end).
      earliest: true,
      parser: 'fastjson', // what its "json" means
      tableName: ctx.table,
      dims: columns(),
      bufferSize: BUFFER_SIZE,
      flushInterval: FLUSH_INTERVAL_S,
      timeZone,
    },
    logLevel: 'info',
  };
}

/** The dataset's columns as the sinker's dims ({name, type}). */
function columns(): Array<{ name: string; type: string }> {
  return COLUMNS.split(',').map((def) => {
    const parts = def.trim().split(/\s+/);
    // Types with arguments (Decimal(9, 2)) would need a real parser; the dataset has none.
    if (parts.length !== 2) throw new Error(`sinker: cannot read column definition "${def.trim()}"`);
    return { name: parts[0]!, type: parts[1]! };
  });
}

/** "3.2.1-17-g8091e25 (commit 8091e256…)" from `-v`, which logs one JSON line and exits. */
function versionOf(bin: string): string {
  try {
    const out = execFileSync(bin, ['-v', '-log-paths', 'stdout'], { env: { PATH: process.env.PATH ?? '' }, cwd: tmpdir(), timeout: 10_000, encoding: 'utf8' });
    const m = /version (\S+), commit ([0-9a-f]+|\S+),/.exec(out);
    return m ? `${m[1]} (commit ${m[2]})` : '(version unknown)';
  } catch {
    return '(version unknown)';
  }
}
