/**
 * proc — CPU and memory of a process tree, read from Linux /proc.
 *
 * Contract: `createTreeSampler(rootPid)` follows the root and every
 * descendant it sees; `sample()` refreshes the figures and returns the tree's
 * CPU seconds (utime + stime of every process seen, each at its last reading,
 * so a child that exited still counts up to its last sample) and peak RSS
 * (sum of each process's VmHWM, the kernel's own high-water mark, so peaks
 * between samples are not missed). Linux only; on a read error a process is
 * treated as gone.
 */
import { readFileSync, readdirSync } from 'node:fs';

// USER_HZ: the unit of utime/stime in /proc/<pid>/stat. It is 100 on every
// Linux ABI Node runs on (sysconf(_SC_CLK_TCK), not exposed to Node).
const CLK_TCK = 100;

export interface ProcStat {
  ppid: number;
  /** Own CPU seconds (utime + stime). */
  cpuS: number;
  /** CPU seconds of reaped children (cutime + cstime). */
  childCpuS: number;
}

export function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2 (comm) may contain spaces and parentheses; fields after the last ')' are fixed.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After comm: [0]=state [1]=ppid ... [11]=utime [12]=stime [13]=cutime [14]=cstime
  return {
    ppid: Number(f[1]),
    cpuS: (Number(f[11]) + Number(f[12])) / CLK_TCK,
    childCpuS: (Number(f[13]) + Number(f[14])) / CLK_TCK,
  };
}

/** VmHWM (peak resident set) in bytes, or undefined when the process is gone or a zombie. */
export function readPeakRss(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

function descendants(rootPid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const st = readStat(pid);
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(pid);
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const queue = [rootPid];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

export interface TreeSample {
  cpuS: number;
  peakRssBytes: number;
  pids: number[];
}

export interface TreeSampler {
  sample(): TreeSample;
}

export function createTreeSampler(rootPid: number): TreeSampler {
  const cpu = new Map<number, number>();
  const hwm = new Map<number, number>();
  return {
    sample() {
      for (const pid of [rootPid, ...descendants(rootPid)]) {
        const st = readStat(pid);
        if (st) cpu.set(pid, st.cpuS);
        const peak = readPeakRss(pid);
        if (peak !== undefined) hwm.set(pid, Math.max(peak, hwm.get(pid) ?? 0));
      }
      let cpuS = 0;
      for (const v of cpu.values()) cpuS += v;
      let peakRssBytes = 0;
      for (const v of hwm.values()) peakRssBytes += v;
      return { cpuS, peakRssBytes, pids: [...cpu.keys()] };
    },
  };
}
