/**
 * failover — where a consumer group resumes on cluster B (MirrorMaker 2's
 * copy of P) so that nothing is lost and little is read twice; the logic
 * behind `sluice failover` (cli/failover.ts parses and prints). It lives in
 * pipeline/ because it combines the warehouse (clickhouse/landed.ts) with
 * both clusters (kafka/failover.ts, kafka/offsets.ts).
 *
 * Contract: `planFailover` changes nothing. Per partition of each topic it
 * gathers the candidates it can — each a start on B before which every
 * record is known to be in the warehouse:
 *  - warehouse: the last landed record (metadata columns) located on B,
 *  - mm2: MirrorMaker 2's checkpoint for the group (else the offsets it
 *    synced into the group on B),
 *  - committed: the group's committed offset on P (when P answers), its
 *    previous record located on B —
 * and chooses the largest among the `methods` allowed (each loses nothing,
 * so the tightest does not either); with none it chooses B's earliest
 * offset. A method that cannot answer (P down, table without metadata
 * columns, a table several topics share without a topic column) is named
 * in `notes`. `reread` counts, per candidate and for the choice, the
 * records that the warehouse already holds and will be read again (only
 * known when the warehouse answers; lower bounds where its record was found
 * by time alone). `applyFailover` commits the chosen starts on B through
 * kafka/offsets.ts applyReset, which refuses while the group has members.
 */
import { SluiceError, errorMessage } from '../errors.js';
import { lastLanded, type LandedColumns } from '../clickhouse/landed.js';
import type { Writer } from '../clickhouse/writer.js';
import { detectPolicy, locate, readCheckpoints, remoteTopic, type Located, type ReplicationPolicy } from '../kafka/failover.js';
import { applyReset, committedOffsets, peekRecords, requireTopic, watermarks, type OffsetsClient } from '../kafka/offsets.js';

export const METHODS = ['warehouse', 'mm2', 'committed'] as const;
export type Method = (typeof METHODS)[number];

export interface Candidate {
  readonly start: number;
  /** How the start was found: offset / time+key / time (located on B), checkpoint / synced (MirrorMaker 2), start (nothing read yet). */
  readonly via: 'offset' | 'time' | 'time+key' | 'checkpoint' | 'synced' | 'start';
  /** Records the warehouse holds at or after `start` (read twice); null when the warehouse did not answer. */
  reread: number | null;
}

export interface FailoverRow {
  readonly topic: string;
  readonly remote: string;
  readonly partition: number;
  /** B's log: first and end offset. */
  readonly low: number;
  readonly end: number;
  /** The group's committed offset on B now (null: none). */
  readonly current: number | null;
  readonly candidates: Partial<Record<Method, Candidate>>;
  readonly chosen: { readonly start: number; readonly method: Method | 'earliest'; readonly reread: number | null };
  /** The warehouse's record was found by time alone: re-read counts are lower bounds (that millisecond's records come on top). */
  readonly rereadAtLeast: boolean;
}

export interface FailoverPlan {
  readonly group: string;
  readonly alias: string;
  readonly policies: Record<string, ReplicationPolicy>;
  readonly rows: FailoverRow[];
  readonly notes: string[];
  readonly totalReread: number | null;
  readonly totalToRead: number;
}

export interface WarehouseSource {
  readonly writer: Writer;
  readonly database: string;
  /** The table a topic lands in, if known. */
  readonly table: (topic: string) => string | undefined;
  readonly columns: LandedColumns;
}

export interface FailoverOptions {
  readonly group: string;
  readonly topics: readonly string[];
  /** MirrorMaker 2's name for cluster P (the prefix under the default policy, the checkpoints topic's). */
  readonly alias: string;
  /** undefined: detected per topic from the names on B. */
  readonly policy?: ReplicationPolicy;
  readonly target: OffsetsClient;
  /** P, when it answers; otherwise `sourceDown` says why. */
  readonly source?: OffsetsClient;
  readonly sourceDown?: string;
  readonly warehouse?: WarehouseSource;
  /** The methods the choice may take (every available candidate is still gathered and shown). */
  readonly methods: ReadonlySet<Method>;
}

export async function planFailover(o: FailoverOptions): Promise<FailoverPlan> {
  const notes: string[] = [];
  if (!o.source) notes.push(`committed: cluster P not used (${o.sourceDown ?? 'not given'})`);
  if (!o.warehouse) notes.push('warehouse: no ClickHouse table given');
  const onB = new Set(await o.target.admin.listTopics());
  const checkpoints = await readCheckpoints(o.target, o.alias, o.group);
  const policies: Record<string, ReplicationPolicy> = {};
  const rows: FailoverRow[] = [];

  for (const topic of o.topics) {
    const policy = o.policy ?? detectPolicy(onB, topic, o.alias);
    if (!policy) throw new SluiceError('fatal', `topic "${topic}" is on cluster B neither as "${o.alias}.${topic}" nor as "${topic}"; check --source-alias, or pass --policy`);
    policies[topic] = policy;
    const remote = remoteTopic(topic, o.alias, policy);
    await requireTopic(o.target.admin, [remote]);
    const marks = await watermarks(o.target.admin, remote);
    const current = await committedOffsets(o.target.admin, o.group, remote);
    const found = new Map<number, Partial<Record<Method, Candidate>>>([...marks.keys()].map((p) => [p, {}]));
    const put = (m: Method, partition: number, c: Omit<Candidate, 'reread'>) => {
      const at = found.get(partition);
      if (at) at[m] = { ...c, reread: null };
    };

    {
      for (const p of marks.keys()) {
        const cp = checkpoints.get(`${remote}:${p}`);
        if (cp) put('mm2', p, { start: cp.downstream, via: 'checkpoint' });
        else if ((current.get(p) ?? null) !== null) put('mm2', p, { start: current.get(p)!, via: 'synced' });
      }
    }

    if (o.source) {
      try {
        const onP = await committedOffsets(o.source.admin, o.group, topic);
        const prev = [...onP].flatMap(([partition, c]) => (c !== null && c > 0 ? [{ topic, partition, offset: c - 1 }] : []));
        for (const [p, c] of onP) if (c === 0) put('committed', p, { start: marks.get(p)?.low ?? 0, via: 'start' });
        const seen = await peekRecords(o.source, prev);
        const positions = prev.flatMap((x) => {
          const r = seen.get(`${topic}:${x.partition}`);
          return r ? [{ partition: x.partition, offset: x.offset, timestamp: r.timestamp, key: r.key }] : [];
        });
        for (const l of await locate(o.target, remote, positions)) put('committed', l.partition, l);
      } catch (err) {
        notes.push(`committed: ${topic} on cluster P: ${errorMessage(err)}`);
      }
    }

    let landedNext: Map<number, number> | undefined;
    const table = o.warehouse?.table(topic);
    if (o.warehouse) {
      if (!table) {
        notes.push(`warehouse: no table given for ${topic}`);
      } else {
        const answer = await lastLanded(o.warehouse.writer, o.warehouse.database, table, o.warehouse.columns, topic);
        const sharing = o.topics.filter((t) => o.warehouse!.table(t) === table);
        if ('missing' in answer) {
          notes.push(answer.missing[0]!.startsWith('table ') ? `warehouse: ${answer.missing[0]} not found` : `warehouse: ${table} lacks ${answer.missing.join(', ')} (SLUICE_METADATA_COLUMNS)`);
        } else if (!answer.byTopic && sharing.length > 1) {
          // Offsets of one topic's partition would be taken for another's.
          notes.push(`warehouse: ${table} holds ${sharing.join(', ')} but has no topic column; not used`);
        } else {
          const located: Located[] = await locate(o.target, remote, answer.partitions, answer.precisionMs);
          for (const l of located) put('warehouse', l.partition, l);
          landedNext = new Map(located.map((l) => [l.partition, l.start]));
          // A partition with no row landed nothing: everything from B's start is new.
          for (const p of marks.keys()) if (!landedNext.has(p)) { landedNext.set(p, marks.get(p)!.low); put('warehouse', p, { start: marks.get(p)!.low, via: 'start' }); }
        }
      }
    }

    for (const [partition, candidates] of [...found].sort((a, b) => a[0] - b[0])) {
      const { low, high } = marks.get(partition)!;
      const allowed = Object.fromEntries(Object.entries(candidates).filter(([m]) => o.methods.has(m as Method)));
      const chosen = choose(candidates, allowed, low, high, landedNext?.get(partition));
      const rereadAtLeast = candidates.warehouse?.via === 'time';
      rows.push({ topic, remote, partition, low, end: high, current: current.get(partition) ?? null, candidates, chosen, rereadAtLeast });
    }
  }
  const known = rows.every((r) => r.chosen.reread !== null);
  return {
    group: o.group,
    alias: o.alias,
    policies,
    rows,
    notes,
    totalReread: known ? rows.reduce((s, r) => s + (r.chosen.reread ?? 0), 0) : null,
    totalToRead: rows.reduce((s, r) => s + (r.end - r.chosen.start), 0),
  };
}

/**
 * The largest start among the `allowed` candidates, within B's log [low,
 * high] (each loses nothing, so the largest does not either; ties go to the
 * earlier method of METHODS), or `low` ('earliest') without one. Fills every
 * candidate's `reread` from `next`, the warehouse's start (undefined: unknown).
 */
export function choose(
  candidates: Partial<Record<Method, Candidate>>,
  allowed: Partial<Record<Method, Candidate>>,
  low: number,
  high: number,
  next: number | undefined,
): FailoverRow['chosen'] {
  const reread = (start: number) => (next === undefined ? null : Math.max(0, next - start));
  for (const c of Object.values(candidates)) c.reread = reread(c.start);
  let chosen: FailoverRow['chosen'] = { start: low, method: 'earliest', reread: reread(low) };
  for (const m of METHODS) {
    const c = allowed[m];
    if (c && c.start > chosen.start) chosen = { start: Math.min(c.start, high), method: m, reread: reread(Math.min(c.start, high)) };
  }
  return chosen;
}

/** Commits the plan's chosen starts for the group on B; refused (GroupActiveError) while the group has members there. */
export async function applyFailover(target: OffsetsClient, plan: FailoverPlan): Promise<void> {
  for (const remote of [...new Set(plan.rows.map((r) => r.remote))]) {
    const mine = plan.rows.filter((r) => r.remote === remote);
    await applyReset(target, plan.group, remote, mine.map((r) => ({ partition: r.partition, from: r.current, to: r.chosen.start })));
  }
}
