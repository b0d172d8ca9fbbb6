/**
 * failover — `sluice failover`: arguments in, the per-partition plan (table
 * or JSON) out; the logic lives in pipeline/failover.ts.
 *
 * Contract: every argument is validated before any connection. Cluster B
 * (--to) and ClickHouse must answer; cluster P (--from) may be down — the
 * plan then says so and goes without its candidate. Without `--execute`
 * nothing changes; with it the chosen starts are committed for the group on
 * B, refused while the group has members there. Writes the result to
 * `io.out`, diagnostics to `io.err`, returns the exit code (0 done, 1
 * runtime failure, 2 usage error or refused); never calls process.exit.
 */
import { clickhouseConnectionFromEnv, metadataColumnsFromEnv } from '../config.js';
import { ConfigError, SluiceError, errorMessage } from '../errors.js';
import { createWriter, type Writer } from '../clickhouse/writer.js';
import { kafkaSecurityFromEnv, type KafkaSecurity } from '../kafka/security.js';
import { connect, disconnect, explainKafkaError, GroupActiveError, groupState, isActive, type OffsetsClient } from '../kafka/offsets.js';
import type { ReplicationPolicy } from '../kafka/failover.js';
import { applyFailover, planFailover, METHODS, type Candidate, type FailoverPlan, type Method } from '../pipeline/failover.js';
import { readFlags, type FlagSpec } from './args.js';
import { parseBrokers, table } from './offsets.js';

export interface FailoverIo {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
}

export const USAGE = `usage: sluice failover --to B-host:port,... --source-alias ALIAS --group G [options]

Positions consumer group G on cluster B (MirrorMaker 2's copy of cluster P)
at, per partition, the tightest start that loses nothing, from:
  warehouse  the last record the table holds (_partition, _offset, _timestamp
             [, _key, _topic] metadata columns), found on B by offset (checked
             by timestamp and key) or else by timestamp
  mm2        MirrorMaker 2's checkpoint for G (else the offsets it synced on B)
  committed  G's committed offset on P (when --from answers), found on B
Prints each candidate, the choice and the records that will be read again.

  --to BROKERS           cluster B (required)
  --from BROKERS         cluster P, if it still answers (default: not asked)
  --source-alias ALIAS   MirrorMaker 2's name for P (required)
  --group G              the sink's SLUICE_GROUP_ID (default: $SLUICE_GROUP_ID)
  --topic T              P's topic name, repeatable (default: $SLUICE_TOPICS)
  --policy default|identity   how B names P's topics (default: detected:
                         ALIAS.T if B has it, else T)
  --table TABLE          where the topics land (default: $SLUICE_TABLE; topic:table,... maps)
  --clickhouse-url URL   default $SLUICE_CLICKHOUSE_URL (user, password, database from SLUICE_CLICKHOUSE_*)
  --using M,...          choose only among these methods (warehouse, mm2, committed;
                         default all); every candidate is still shown
  --execute              commit the chosen starts for G on B (refused while G has members there)
  --json                 the plan as JSON
Metadata column names come from SLUICE_METADATA_COLUMNS; TLS and SASL for
both clusters from SLUICE_KAFKA_SECURITY_PROTOCOL, _SASL_* and _SSL_CA_FILE.`;

const FLAGS: FlagSpec = {
  '--to': 'value',
  '--from': 'value',
  '--source-alias': 'value',
  '--group': 'value',
  '--topic': 'list',
  '--policy': 'value',
  '--table': 'value',
  '--clickhouse-url': 'value',
  '--using': 'value',
  '--execute': 'switch',
  '--json': 'switch',
};

export interface FailoverArgs {
  to: string[];
  from: string[] | undefined;
  alias: string;
  group: string;
  topics: string[];
  policy: ReplicationPolicy | undefined;
  tables: (topic: string) => string | undefined;
  clickhouseUrl: string | undefined;
  methods: Set<Method>;
  execute: boolean;
  json: boolean;
}

export function parseFailoverArgs(args: string[], env: NodeJS.ProcessEnv): FailoverArgs | 'help' {
  const values = readFlags(args, FLAGS, 'failover');
  if (values === 'help') return 'help';
  const one = (flag: string) => values.get(flag)?.[0];
  const brokers = (flag: string) => {
    try {
      return parseBrokers(one(flag), {});
    } catch (err) {
      throw new ConfigError(flag, errorMessage(err).replace(/^--brokers: /, ''));
    }
  };
  if (one('--to') === undefined) throw new ConfigError('--to', 'required: the brokers of cluster B');
  const alias = one('--source-alias');
  if (!alias) throw new ConfigError('--source-alias', "required: MirrorMaker 2's alias of cluster P (as in its clusters= setting)");
  const group = one('--group') ?? env.SLUICE_GROUP_ID?.trim();
  if (!group) throw new ConfigError('--group', 'required (or set SLUICE_GROUP_ID)');
  const topics = values.get('--topic') ?? (env.SLUICE_TOPICS ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (topics.length === 0) throw new ConfigError('--topic', 'required (or set SLUICE_TOPICS)');
  const policy = one('--policy');
  if (policy !== undefined && policy !== 'default' && policy !== 'identity') throw new ConfigError('--policy', `"${policy}" is not default or identity`);
  const methods = new Set<Method>();
  for (const m of (one('--using') ?? METHODS.join(',')).split(',').map((s) => s.trim())) {
    if (!(METHODS as readonly string[]).includes(m)) throw new ConfigError('--using', `"${m}" is not one of ${METHODS.join(', ')}`);
    methods.add(m as Method);
  }
  const rawTable = (one('--table') ?? env.SLUICE_TABLE ?? '').trim();
  const map = new Map(rawTable.includes(':') ? rawTable.split(',').map((p) => p.split(':').map((s) => s.trim()) as [string, string]) : []);
  return {
    to: brokers('--to'),
    from: one('--from') === undefined ? undefined : brokers('--from'),
    alias,
    group,
    topics: [...new Set(topics)],
    policy,
    tables: (topic) => (rawTable === '' ? undefined : rawTable.includes(':') ? map.get(topic) : rawTable),
    clickhouseUrl: one('--clickhouse-url'),
    methods,
    execute: values.has('--execute'),
    json: values.has('--json'),
  };
}

const cell = (c: Candidate | undefined, atLeast: boolean) => (c ? `${c.start} ${c.via}${c.reread === null ? '' : ` +${atLeast ? '≥' : ''}${c.reread}`}` : '-');

/** `target`: how to name the cluster the group moves to (the CLI gives its brokers). */
export function formatPlan(plan: FailoverPlan, executed: boolean, target = 'cluster B'): string {
  const status = executed ? 'APPLIED' : 'DRY RUN, nothing changed; add --execute to apply';
  const out = [`group ${plan.group}: failover to ${target} (${status})`];
  for (const topic of Object.keys(plan.policies)) {
    const rows = plan.rows.filter((r) => r.topic === topic);
    const remote = rows[0]?.remote ?? topic;
    out.push(`topic ${topic} → ${remote} there (${plan.policies[topic]} replication policy)`);
    const body = rows.map((r) => [
      String(r.partition),
      `${r.low}..${r.end}`,
      r.current === null ? '-' : String(r.current),
      cell(r.candidates.warehouse, r.rereadAtLeast),
      cell(r.candidates.mm2, r.rereadAtLeast),
      cell(r.candidates.committed, r.rereadAtLeast),
      `${r.chosen.start} ${r.chosen.method}`,
      r.chosen.reread === null ? '-' : `${r.rereadAtLeast ? '≥' : ''}${r.chosen.reread}`,
      String(r.end - r.chosen.start),
    ]);
    out.push(table(['PARTITION', 'LOG', 'GROUP NOW', 'WAREHOUSE', 'MM2', 'SOURCE COMMITTED', 'CHOSEN START', 'RE-READ', 'TO READ'], body, [true, true, true, false, false, false, false, true, true]));
  }
  const atLeast = plan.rows.some((r) => r.rereadAtLeast) ? '≥' : '';
  out.push(`total: ${plan.totalReread === null ? 'unknown (no warehouse answer)' : atLeast + plan.totalReread} records re-read, ${plan.totalToRead} to read`);
  out.push('(each candidate: start there, how it was found, +records the warehouse holds from there on = re-read)');
  for (const n of plan.notes) out.push(`note: ${n}`);
  return out.join('\n');
}

export async function failoverCommand(args: string[], io: FailoverIo): Promise<number> {
  let a: FailoverArgs;
  let security: KafkaSecurity;
  let writer: Writer | undefined;
  let database = '';
  try {
    const parsed = parseFailoverArgs(args, io.env);
    if (parsed === 'help') {
      io.out(USAGE + '\n');
      return 0;
    }
    a = parsed;
    security = kafkaSecurityFromEnv(io.env);
    if (a.topics.some((t) => a.tables(t) !== undefined)) {
      const ch = clickhouseConnectionFromEnv(io.env, a.clickhouseUrl);
      database = ch.database;
      writer = createWriter({ ...ch, requestTimeoutMs: 60_000, maxOpenConnections: 2 });
    }
  } catch (err) {
    io.err(`sluice failover: ${errorMessage(err)}\n${args.length === 0 ? USAGE : 'run "sluice failover --help" for usage'}\n`);
    return 2;
  }

  let target: OffsetsClient | undefined;
  let source: OffsetsClient | undefined;
  let sourceDown: string | undefined;
  try {
    target = await connect(a.to, security);
    if (a.from) {
      try {
        // One attempt: P is expected to be down, and the plan does without it.
        source = await connect(a.from, security, 0);
        await source.admin.listTopics();
      } catch (err) {
        sourceDown = explainKafkaError(err, a.from).message;
        if (source) await disconnect(source);
        source = undefined;
      }
    }
    const columns = metadataColumnsFromEnv(io.env);
    const plan = await planFailover({
      group: a.group,
      topics: a.topics,
      alias: a.alias,
      policy: a.policy,
      target,
      source,
      sourceDown: sourceDown ?? (a.from ? undefined : 'no --from given'),
      warehouse: writer
        ? { writer, database, table: a.tables, columns: { topic: columns.get('topic'), partition: columns.get('partition'), offset: columns.get('offset'), timestamp: columns.get('timestamp'), key: columns.get('key') } }
        : undefined,
      methods: a.methods,
    });
    if (a.execute) {
      await applyFailover(target, plan);
    } else {
      const state = await groupState(target.admin, a.group);
      if (isActive(state)) io.err(`warning: ${new GroupActiveError(a.group, state.state, state.members).message}; --execute will be refused until then\n`);
    }
    io.out((a.json ? JSON.stringify({ ...plan, executed: a.execute }, null, 2) : formatPlan(plan, a.execute, a.to.join(','))) + '\n');
    return 0;
  } catch (err) {
    const e = err instanceof SluiceError ? err : explainKafkaError(err, a.to);
    io.err(`sluice failover: ${e.message}\n`);
    return e instanceof ConfigError || e instanceof GroupActiveError ? 2 : 1;
  } finally {
    if (target) await disconnect(target);
    if (source) await disconnect(source);
    await writer?.close();
  }
}
