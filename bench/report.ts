/**
 * report — the benchmark's results: their shape, the stdout table, the JSON files.
 *
 * Contract: `printTable` writes one row per contender to stdout, "-" where
 * a figure was not measured (a contender that did not finish has no rate);
 * `writeResults` writes bench/results/<timestamp>.json and overwrites
 * bench/results/latest.json with the same content, returning both paths.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ContenderResult {
  name: string;
  describe: string;
  /** "ok", or why not: "not built: …", "unavailable: …", "timeout: …", "failed: …". */
  status: string;
  wallS?: number;
  firstRowS?: number | undefined;
  rowsPerS?: number;
  /** Message payload (JSON values, no Kafka framing) per second, 1 MB = 10^6 bytes. */
  mbPerS?: number;
  /** rowsPerS / the pipe's rowsPerS in the same run. */
  vsPipe?: number;
  /** CPU seconds of the consumer process tree per million rows. */
  cpuSPerMRows?: number;
  cpuSource?: string;
  /** Sum of each consumer process's peak resident set (VmHWM). */
  peakRssMiB?: number;
  pids?: number;
  rowsInTable?: number | undefined;
  distinctIds?: number | undefined;
  duplicates?: number;
  /** ClickHouse server CPU while this contender ran: parsing and merging its inserts (plus anyone else's queries). */
  clickhouseCpuSPerMRows?: number | undefined;
  kafkaBrokerCpuSPerMRows?: number | undefined;
}

export interface Results {
  runId: string;
  startedAt: string;
  finishedAt?: string;
  params: { rows: number; partitions: number; contenders: string[]; timeoutS: number; sluiceTuned: Record<string, string> };
  environment: { node: string; clickhouse: string; kafka: string | undefined; cpus: number; cpuModel: string | undefined; commit: string | undefined };
  dataset:
    | {
        topic: string;
        rows: number;
        payloadBytes: number;
        avgEventBytes: number;
        produceSeconds: number;
        produceRowsPerS: number;
        perPartition: number[];
      }
    | undefined;
  contenders: ContenderResult[];
}

const COLUMNS: Array<[string, (c: ContenderResult) => string]> = [
  ['contender', (c) => c.name],
  ['rows/s', (c) => fmt(c.rowsPerS)],
  ['MB/s', (c) => fmt(c.mbPerS)],
  ['x pipe', (c) => (c.vsPipe === undefined ? '-' : c.vsPipe.toFixed(2))],
  ['wall s', (c) => (c.status === 'ok' ? fmt(c.wallS) : '-')],
  ['1st row s', (c) => fmt(c.firstRowS)],
  ['CPU s/M rows', (c) => fmt(c.cpuSPerMRows)],
  ['peak RSS MiB', (c) => fmt(c.peakRssMiB)],
  ['CH CPU s/M', (c) => fmt(c.clickhouseCpuSPerMRows)],
  ['dups', (c) => fmt(c.duplicates)],
  ['status', (c) => c.status],
];

export function printTable(results: Results): void {
  const d = results.dataset;
  const out: string[] = [];
  if (d) {
    out.push(`dataset: ${d.rows} events, ${(d.payloadBytes / 1e6).toFixed(1)} MB (${d.avgEventBytes} B/event), ` +
      `${results.params.partitions} partitions, produced in ${d.produceSeconds} s; ` +
      `ClickHouse ${results.environment.clickhouse}, Kafka ${results.environment.kafka ?? '?'}, ` +
      `node ${results.environment.node}, ${results.environment.cpus} CPUs`);
  }
  const rows = results.contenders.map((c) => COLUMNS.map(([, get]) => get(c)));
  const header = COLUMNS.map(([h]) => h);
  // The status column is free text and goes last, unpadded, so long reasons do not widen the table.
  const widths = header.map((h, i) => (i === header.length - 1 ? 0 : Math.max(h.length, ...rows.map((r) => r[i]!.length))));
  const line = (cells: string[]) => cells.map((v, i) => (i === 0 || i === cells.length - 1 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ').trimEnd();
  out.push(line(header), line(widths.map((w, i) => '-'.repeat(i === header.length - 1 ? header[i]!.length : w))), ...rows.map(line));
  out.push('CPU = consumer process tree (kcat + clickhouse-client for the pipe); CH CPU = ClickHouse server during the run, ' +
    'where the Kafka engine consumer runs, and shared with anything else on the machine.');
  process.stdout.write(out.join('\n') + '\n');
}

export function writeResults(dir: string, results: Results): string[] {
  const body = JSON.stringify(results, null, 2) + '\n';
  const stamped = join(dir, `${results.startedAt.replace(/[:.]/g, '-')}.json`);
  const latest = join(dir, 'latest.json');
  writeFileSync(stamped, body);
  writeFileSync(latest, body);
  return [stamped, latest];
}

function fmt(n: number | undefined): string {
  if (n === undefined || Number.isNaN(n)) return '-';
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2);
}
