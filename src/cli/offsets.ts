/**
 * offsets — `sluice offsets lag|find|reset`: arguments in, table or JSON out.
 *
 * Contract: `offsetsCommand` validates every argument before touching Kafka,
 * writes results to `io.out` and diagnostics to `io.err`, and returns the
 * exit code: 0 done, 1 Kafka-side failure (unreachable broker, unknown topic),
 * 2 usage error or a refused reset. It never calls process.exit. `reset`
 * without `--execute` only prints the plan. Each out/err call carries whole
 * lines ending in a newline, ready for process.stdout.write. The logic lives
 * in offsets.ts.
 */
import { redactUserinfo } from '../ops/redact.js';
import { ConfigError, errorMessage } from '../errors.js';
import { readFlags, type FlagSpec } from './args.js';
import { kafkaSecurityFromEnv, type KafkaSecurity } from '../kafka/security.js';
import {
  applyReset,
  connect,
  disconnect,
  explainKafkaError,
  findOffsets,
  GroupActiveError,
  groupLag,
  groupState,
  isActive,
  planReset,
  type FindRow,
  type LagRow,
  type ResetRow,
  type RecordTime,
  type ResetTarget,
} from '../kafka/offsets.js';
import { EnvelopeReader, parseFieldRef, parseJsonEnvelope, type FieldRef, type JsonEnvelope } from '../formats/envelope.js';

export interface OffsetsIo {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

export const USAGE = `usage: sluice offsets <command> [--brokers host:port,...] [--json]

  lag   --group G [--topic T ...] [--accepted-at FIELD]
                                       committed vs end offset and time lag per partition
  find  --topic T --time TIME          first offset at or after TIME per partition
  reset --group G --topic T (--to-time TIME | --to-earliest | --to-latest | --to-offset P:O,...)
        [--execute]                    print the plan; change offsets only with --execute

The time lag counts from FIELD of the last committed record (header.<name>,
envelope.<path>, kafka.timestamp), default $SLUICE_ACCEPTED_AT, as the sink's
end-to-end latency does. TIME is ISO-8601 with a zone (2024-05-01T22:00:00Z, 2024-05-01T23:00:00+01:00)
or epoch milliseconds. Brokers default to $SLUICE_KAFKA_BROKERS, else 127.0.0.1:9092;
TLS and SASL come from the sink's SLUICE_KAFKA_SECURITY_PROTOCOL, _SASL_* and _SSL_CA_FILE.`;

export type OffsetsArgs =
  | { command: 'help' }
  | { command: 'lag'; brokers: string[]; group: string; topics: string[]; json: boolean; acceptedAt: { ref: FieldRef; json: JsonEnvelope | undefined } }
  | { command: 'find'; brokers: string[]; topic: string; time: number; json: boolean }
  | { command: 'reset'; brokers: string[]; group: string; topic: string; target: ResetTarget; execute: boolean; json: boolean };

const COMMON: FlagSpec = { '--brokers': 'value', '--json': 'switch' };
const FLAGS: Record<'lag' | 'find' | 'reset', FlagSpec> = {
  lag: { ...COMMON, '--group': 'value', '--topic': 'list', '--accepted-at': 'value' },
  find: { ...COMMON, '--topic': 'value', '--time': 'value' },
  reset: {
    ...COMMON,
    '--group': 'value',
    '--topic': 'value',
    '--to-time': 'value',
    '--to-earliest': 'switch',
    '--to-latest': 'switch',
    '--to-offset': 'value',
    '--execute': 'switch',
  },
};

/** Parses and validates; throws ConfigError naming the offending flag. */
export function parseOffsetsArgs(args: string[], env: NodeJS.ProcessEnv): OffsetsArgs {
  const [command, ...rest] = args;
  if (command === undefined) throw new ConfigError('command', 'missing (expected lag, find or reset)');
  if (command === 'help' || command === '--help' || command === '-h') return { command: 'help' };
  if (command !== 'lag' && command !== 'find' && command !== 'reset') {
    throw new ConfigError(command, 'unknown command (expected lag, find or reset)');
  }
  const values = readFlags(rest, FLAGS[command], `offsets ${command}`);
  if (values === 'help') return { command: 'help' };

  const one = (flag: string) => values.get(flag)?.[0];
  const required = (flag: string) => {
    const v = one(flag);
    if (v === undefined) throw new ConfigError(flag, `required for "offsets ${command}"`);
    return v;
  };
  const brokers = parseBrokers(one('--brokers'), env);
  const json = values.has('--json');

  switch (command) {
    case 'lag':
      return { command, brokers, group: required('--group'), topics: [...new Set(values.get('--topic') ?? [])], json, acceptedAt: acceptedAt(one('--accepted-at'), env) };
    case 'find':
      return { command, brokers, topic: required('--topic'), time: parseTime('--time', required('--time')), json };
    case 'reset': {
      const given = ['--to-time', '--to-earliest', '--to-latest', '--to-offset'].filter((f) => values.has(f));
      if (given.length !== 1) {
        throw new ConfigError(given[1] ?? '--to-time', 'give exactly one of --to-time, --to-earliest, --to-latest, --to-offset');
      }
      const target: ResetTarget =
        given[0] === '--to-time' ? { kind: 'time', time: parseTime('--to-time', one('--to-time')!) }
        : given[0] === '--to-earliest' ? { kind: 'earliest' }
        : given[0] === '--to-latest' ? { kind: 'latest' }
        : { kind: 'offsets', offsets: parsePartitionOffsets(one('--to-offset')!) };
      return { command, brokers, group: required('--group'), topic: required('--topic'), target, execute: values.has('--execute'), json };
    }
  }
}

/** --accepted-at, else SLUICE_ACCEPTED_AT (with SLUICE_ENVELOPE_JSON for envelope fields), else the Kafka timestamp. */
function acceptedAt(flag: string | undefined, env: NodeJS.ProcessEnv): { ref: FieldRef; json: JsonEnvelope | undefined } {
  const name = flag !== undefined ? '--accepted-at' : 'SLUICE_ACCEPTED_AT';
  try {
    const ref = parseFieldRef(flag ?? (env.SLUICE_ACCEPTED_AT?.trim() || 'kafka.timestamp'), ['kafka', 'header', 'envelope']);
    const json = parseJsonEnvelope(env.SLUICE_ENVELOPE_JSON ?? '');
    if (ref.source === 'envelope' && !json) throw new Error(`reads ${ref.text}, but SLUICE_ENVELOPE_JSON is not set`);
    return { ref, json };
  } catch (err) {
    throw new ConfigError(name, (err as Error).message);
  }
}

export function parseBrokers(flag: string | undefined, env: NodeJS.ProcessEnv): string[] {
  const setting = flag !== undefined ? '--brokers' : 'SLUICE_KAFKA_BROKERS';
  const raw = flag ?? env.SLUICE_KAFKA_BROKERS ?? '127.0.0.1:9092';
  const list = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) throw new ConfigError(setting, 'no brokers given (expected host:port,...)');
  for (const b of list) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:@[\]]+):(\d{1,5})$/.exec(b);
    const port = m ? Number(m[2]) : 0;
    // Quoted without anything up to an @: someone may have written user:password@host:port.
    if (!m || port < 1 || port > 65535) {
      throw new ConfigError(setting, `"${redactUserinfo(b)}" is not host:port${b.includes('@') ? ' (credentials go in SLUICE_KAFKA_SASL_*)' : ''}`);
    }
  }
  return list;
}

// Timezone-less ISO times are parsed as the machine's local time by JS; on a
// server that is usually UTC and on a laptop it is not, so a zone is required.
const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/** Epoch milliseconds from ISO-8601 with a zone, or from epoch milliseconds. */
export function parseTime(flag: string, value: string): number {
  if (/^\d+$/.test(value)) {
    const ms = Number(value);
    // 10 digits is epoch seconds, a common slip that would land in 1970.
    if (ms < 1e11) throw new ConfigError(flag, `"${value}" looks like epoch seconds; give milliseconds (${value}000)`);
    if (!Number.isSafeInteger(ms) || ms > 8.64e15) throw new ConfigError(flag, `"${value}" is out of range`);
    return ms;
  }
  const m = ISO.exec(value);
  const ms = m ? Date.parse(value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2')) : NaN;
  // Date.parse rolls 2024-02-30 over to March; round-tripping the date catches it.
  const [, y, mo, d, h, mi, s] = m ?? [];
  const valid =
    m !== null && !Number.isNaN(ms) && Number(mo) >= 1 && Number(mo) <= 12 && Number(d) >= 1 &&
    Number(d) <= new Date(Date.UTC(Number(y), Number(mo), 0)).getUTCDate() && Number(h) < 24 && Number(mi) < 60 && Number(s ?? 0) < 60;
  if (!valid) {
    throw new ConfigError(flag, `"${value}" is not a time: use ISO-8601 with a zone (2024-05-01T22:00:00Z) or epoch milliseconds`);
  }
  return ms;
}

export function parsePartitionOffsets(value: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const pair of value.split(',')) {
    const m = /^\s*(\d+):(\d+)\s*$/.exec(pair);
    if (!m) throw new ConfigError('--to-offset', `"${pair}" is not partition:offset (e.g. 0:1200,1:980)`);
    const partition = Number(m[1]);
    if (out.has(partition)) throw new ConfigError('--to-offset', `partition ${partition} given twice`);
    out.set(partition, Number(m[2]));
  }
  return out;
}

export function formatDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const a = Math.abs(ms);
  const s = Math.floor(a / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (a < 1000) return `${sign}${a}ms`;
  if (s < 60) return `${sign}${(a / 1000).toFixed(1)}s`;
  if (s < 3600) return `${sign}${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${sign}${Math.floor(s / 3600)}h${pad(Math.floor(s / 60) % 60)}m`;
  return `${sign}${Math.floor(s / 86400)}d${pad(Math.floor(s / 3600) % 24)}h`;
}

/** Columns padded to their widest cell; numeric columns right-aligned. */
export function table(header: string[], rows: string[][], right: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const dash = (n: number | null) => (n === null ? '-' : String(n));

export function formatLag(group: string, rows: LagRow[], timeFrom = 'kafka.timestamp'): string {
  const totalLag = rows.reduce((sum, r) => sum + r.lag, 0);
  const ages = rows.flatMap((r) => (r.timeLagMs === null ? [] : [r.timeLagMs]));
  const body = rows.map((r) => [
    r.topic,
    String(r.partition),
    dash(r.committed),
    String(r.end),
    String(r.lag),
    r.timeLagMs === null ? '-' : formatDuration(r.timeLagMs),
  ]);
  const total = ['TOTAL', '', '', '', String(totalLag), ages.length ? `${formatDuration(Math.max(...ages))} max` : '-'];
  return `group ${group}${timeFrom === 'kafka.timestamp' ? '' : ` (time lag from ${timeFrom})`}\n` + table(['TOPIC', 'PARTITION', 'COMMITTED', 'END', 'LAG', 'TIME LAG'], [...body, total], [false, true, true, true, true, true]);
}

export function lagJson(group: string, rows: LagRow[]): object {
  const ages = rows.flatMap((r) => (r.timeLagMs === null ? [] : [r.timeLagMs]));
  return { group, partitions: rows, totalLag: rows.reduce((s, r) => s + r.lag, 0), maxTimeLagMs: ages.length ? Math.max(...ages) : null };
}

export function formatFind(topic: string, time: number, rows: FindRow[]): string {
  return (
    `topic ${topic}: first offset at or after ${new Date(time).toISOString()} (${time})\n` +
    table(['PARTITION', 'OFFSET', ''], rows.map((r) => [String(r.partition), String(r.offset), r.atEnd ? 'end (no record at or after that time)' : '']), [true, true, false])
  );
}

export function describeTarget(t: ResetTarget): string {
  switch (t.kind) {
    case 'time':
      return `time ${new Date(t.time).toISOString()}`;
    case 'earliest':
    case 'latest':
      return t.kind;
    case 'offsets':
      return `offsets ${[...t.offsets].map(([p, o]) => `${p}:${o}`).join(',')}`;
  }
}

export function formatReset(group: string, topic: string, target: ResetTarget, rows: ResetRow[], executed: boolean): string {
  const status = executed ? 'APPLIED' : 'DRY RUN, nothing changed; add --execute to apply';
  const width = Math.max(0, ...rows.map((r) => String(r.partition).length));
  const lines = rows.map((r) => `  partition ${String(r.partition).padStart(width)}: ${dash(r.from)} → ${r.to}`);
  return [`group ${group}, topic ${topic}, reset to ${describeTarget(target)} (${status})`, ...lines].join('\n');
}

/** Runs `sluice offsets <sub> ...args`; writes the result to `out`, diagnostics to `err`; returns the process exit code (never calls process.exit). */
export async function offsetsCommand(
  args: string[],
  io: OffsetsIo,
): Promise<number> {
  let parsed: OffsetsArgs;
  let security: KafkaSecurity;
  try {
    parsed = parseOffsetsArgs(args, io.env);
    security = kafkaSecurityFromEnv(io.env);
  } catch (err) {
    io.err(`sluice offsets: ${errorMessage(err)}\n${args.length === 0 ? USAGE : 'run "sluice offsets --help" for usage'}\n`);
    return 2;
  }
  if (parsed.command === 'help') {
    io.out(USAGE + '\n');
    return 0;
  }

  const a = parsed;
  let client: Awaited<ReturnType<typeof connect>> | undefined;
  try {
    client = await connect(a.brokers, security);
    const print = (json: object, text: string) => io.out((a.json ? JSON.stringify(json, null, 2) : text) + '\n');
    switch (a.command) {
      case 'lag': {
        const reader = new EnvelopeReader(a.acceptedAt.json);
        const ref = a.acceptedAt.ref;
        const timeOf: RecordTime | undefined = ref.source === 'kafka' ? undefined : (m) => reader.time(ref, { offset: 0, timestamp: Number(m.timestamp), key: null, value: m.value, headers: m.headers });
        const rows = await groupLag(client, a.group, a.topics, Date.now, timeOf);
        print({ ...lagJson(a.group, rows), timeLagFrom: ref.text }, formatLag(a.group, rows, ref.text));
        break;
      }
      case 'find': {
        const rows = await findOffsets(client, a.topic, a.time);
        print({ topic: a.topic, time: a.time, timeIso: new Date(a.time).toISOString(), partitions: rows }, formatFind(a.topic, a.time, rows));
        break;
      }
      case 'reset': {
        const plan = await planReset(client, a.group, a.topic, a.target);
        let rows = plan;
        if (a.execute) {
          rows = await applyReset(client, a.group, a.topic, plan);
        } else {
          // The plan is still worth seeing while consumers run; say up front that applying it must wait.
          const state = await groupState(client.admin, a.group);
          if (isActive(state)) io.err(`warning: ${new GroupActiveError(a.group, state.state, state.members).message}; --execute will be refused until then\n`);
        }
        const json = { group: a.group, topic: a.topic, target: describeTarget(a.target), executed: a.execute, partitions: rows };
        print(json, formatReset(a.group, a.topic, a.target, rows, a.execute));
        break;
      }
    }
    return 0;
  } catch (err) {
    const e = explainKafkaError(err, a.brokers);
    io.err(`sluice offsets ${a.command}: ${e.message}\n`);
    return e instanceof ConfigError || e instanceof GroupActiveError ? 2 : 1;
  } finally {
    if (client) await disconnect(client);
  }
}
