/**
 * types — what every contender and the harness share: the run's context,
 * a running contender, and the contender itself. Its own module so that
 * contenders in their own files and the spawn helper need not import the
 * contender list (which imports them).
 */
export interface RunContext {
  repoRoot: string;
  benchDist: string;
  /** sluice's CLI entry, <repo>/dist/cli/index.js unless BENCH_SLUICE_CLI points elsewhere. */
  sluiceCli: string;
  brokers: string;
  clickhouseUrl: string;
  topic: string;
  partitions: number;
  table: string;
  group: string;
  logFile: string;
  stopGraceMs: number;
}

export interface Running {
  /** Root of the consumer's process tree; absent when the consumer runs inside ClickHouse. */
  pid?: number;
  /** Resolves when the root process exits (never, for in-server consumers). */
  exited: Promise<Exit>;
  /** Last lines the process wrote, for failure reports. */
  tail(): string;
  /** CPU seconds measured exactly by the contender itself, if it can (the pipe can). */
  exactCpuS?(): number | undefined;
  stop(): Promise<void>;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Contender {
  name: string;
  describe: string;
  /** Undefined when runnable; otherwise the status to record, e.g. "not built: …". */
  precheck(ctx: RunContext): Promise<string | undefined>;
  start(ctx: RunContext): Promise<Running>;
}
