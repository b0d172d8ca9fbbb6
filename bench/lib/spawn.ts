/**
 * spawn — starting a contender's process the way the harness can measure and stop it.
 *
 * Contract: `spawnLogged` starts the command in its own process group (so
 * stopping it reaches every child, e.g. both pipe stages), appends its
 * stdout and stderr to ctx.logFile and keeps the last few KB for failure
 * reports. `terminate` sends SIGTERM to the group, then SIGKILL after the
 * grace period; `stopAfter` first waits that long for a natural exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import type { Exit, RunContext, Running } from '../contenders/types.js';

export interface Logged {
  running: Omit<Running, 'stop'>;
  stdout(): string;
  /** SIGTERM, then SIGKILL to the whole process group after graceMs. */
  terminate(graceMs: number): Promise<void>;
  /** Wait up to graceMs for a natural exit, then terminate. */
  stopAfter(graceMs: number): Promise<void>;
}

const TAIL_CHARS = 4_000;

/**
 * Spawns a contender in its own process group (so stopping it reaches every
 * child, e.g. both pipe stages), appends its output to ctx.logFile and keeps
 * the last few KB for failure reports.
 */
export function spawnLogged(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ctx: RunContext,
  opts: { captureStdout?: boolean; cwd?: string } = {},
): Logged {
  const log = createWriteStream(ctx.logFile, { flags: 'a' });
  const child: ChildProcess = spawn(cmd, args, { env, cwd: opts.cwd ?? ctx.repoRoot, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  let out = '';
  const keep = (chunk: Buffer) => {
    log.write(chunk);
    tail = (tail + chunk.toString()).slice(-TAIL_CHARS);
  };
  child.stdout!.on('data', (chunk: Buffer) => {
    keep(chunk);
    if (opts.captureStdout) out = (out + chunk.toString()).slice(-TAIL_CHARS);
  });
  child.stderr!.on('data', keep);
  const exited = new Promise<Exit>((resolve) => {
    child.on('error', (err) => { keep(Buffer.from(`spawn ${cmd}: ${err.message}\n`)); resolve({ code: -1, signal: null }); });
    // 'close' (not 'exit') so the last output is read before anyone looks at it.
    child.on('close', (code, signal) => { log.end(); resolve({ code, signal }); });
  });
  let done = false;
  void exited.then(() => { done = true; });

  const signalGroup = (signal: NodeJS.Signals) => {
    if (done || child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone: nothing to stop.
    }
  };
  const waitExit = (ms: number) =>
    Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
  const terminate = async (graceMs: number) => {
    signalGroup('SIGTERM');
    if (await waitExit(graceMs)) return;
    signalGroup('SIGKILL');
    await waitExit(5_000);
  };
  return {
    running: { ...(child.pid !== undefined ? { pid: child.pid } : {}), exited, tail: () => tail },
    stdout: () => out,
    terminate,
    async stopAfter(graceMs) {
      if (!(await waitExit(graceMs))) await terminate(graceMs);
    },
  };
}
