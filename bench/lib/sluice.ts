/**
 * sluice — start `node dist/cli/index.js run` as a measured child process, and read
 * its /metrics.
 *
 * Contract: `startSluice(opts)` spawns one sluice in its own process group
 * with exactly the SLUICE_* variables given (none inherited: sluice refuses
 * unknown ones, and a stray one in the caller's shell would make the run
 * measure something else), logs its output to `opts.logFile`, and returns a
 * handle whose `stop()` sends SIGTERM, then SIGKILL after the grace period,
 * and always resolves. `scrapeMetrics(port)` fetches /metrics and sums each
 * metric's samples over their labels (per-label values are in `labelled`).
 * `freePort()` asks the kernel for a port nobody listens on, so parallel
 * replicas (and parallel benchmark runs) never clash on the default 9464.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';

export interface SluiceOptions {
  cli: string;
  cwd: string;
  /** Every SLUICE_* variable the process gets. */
  env: Record<string, string>;
  logFile: string;
}

export interface SluiceProcess {
  pid: number;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string>;
  /** True once `exited` has resolved. */
  readonly done: boolean;
  /** Last few KB of its stderr/stdout, for failure reports. */
  tail(): string;
  stop(graceMs?: number): Promise<void>;
}

const TAIL_CHARS = 4_000;

export function startSluice(opts: SluiceOptions): SluiceProcess {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SLUICE_')) env[k] = v;
  Object.assign(env, opts.env);
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  // `node` directly, not via npx or a shell: the measured pid is sluice itself.
  const child = spawn(process.execPath, [opts.cli, 'run'], { cwd: opts.cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not spawn ${opts.cli}`);
  let tail = '';
  const keep = (chunk: Buffer) => {
    log.write(chunk);
    tail = (tail + chunk.toString()).slice(-TAIL_CHARS);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let done = false;
  const exited = new Promise<number | string>((resolve) => {
    child.on('error', (err) => { keep(Buffer.from(`spawn: ${err.message}\n`)); done = true; resolve(-1); });
    child.on('close', (code, signal) => { log.end(); done = true; resolve(code ?? signal ?? -1); });
  });
  const pid = child.pid;
  const signal = (s: NodeJS.Signals) => {
    if (done) return;
    try {
      process.kill(-pid, s);
    } catch {
      // Already gone.
    }
  };
  const waitExit = (ms: number) =>
    Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
  return {
    pid,
    exited,
    get done() {
      return done;
    },
    tail: () => tail,
    async stop(graceMs = 15_000) {
      // Marks the log, so errors logged during shutdown are told from errors while running.
      if (!done) log.write(`{"time":"${new Date().toISOString()}","event":"bench.sigterm"}\n`);
      signal('SIGTERM');
      if (await waitExit(graceMs)) return;
      signal('SIGKILL');
      await waitExit(5_000);
    },
  };
}

export interface Scrape {
  /** Metric name → sum of its samples over all label sets. */
  total: Map<string, number>;
  /** Metric name → [labels text, value] per sample. */
  labelled: Map<string, Array<[string, number]>>;
}

export async function scrapeMetrics(port: number, timeoutMs = 2_000): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  const total = new Map<string, number>();
  const labelled = new Map<string, Array<[string, number]>>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    total.set(m[1]!, (total.get(m[1]!) ?? 0) + value);
    const list = labelled.get(m[1]!) ?? [];
    list.push([m[2] ?? '', value]);
    labelled.set(m[1]!, list);
  }
  return { total, labelled };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

/**
 * Calls `fn` every `everyMs` until stopped, never overlapping itself (a slow
 * scrape is skipped, not queued). Errors are the caller's to swallow.
 */
export function every(everyMs: number, fn: () => Promise<void>): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = fn().catch(() => {}).finally(() => { running = undefined; });
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
