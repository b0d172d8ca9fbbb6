/**
 * failover — the Kafka side of moving a consumer group from cluster P to its
 * MirrorMaker 2 copy B (the logic behind `sluice failover`; the warehouse
 * side is clickhouse/landed.ts, the choice pipeline/failover.ts).
 *
 * Contract: nothing here prints, exits or commits. Every function answers
 * "where on B does reading have to start so that nothing after a known
 * position is lost":
 *  - `remoteTopic` / `detectPolicy`: the name P's topic has on B
 *    (MirrorMaker 2's DefaultReplicationPolicy prefixes `<alias>.`,
 *    IdentityReplicationPolicy keeps it).
 *  - `readCheckpoints`: MirrorMaker 2's latest checkpoint per partition of
 *    one group, from `<alias>.checkpoints.internal` on B (its translated,
 *    conservative downstream offset).
 *  - `locate`: where a record known from P (offset, timestamp, key) is on B.
 *    By offset when the record at that offset on B has the same timestamp
 *    (at the given precision) and key — B preserved offsets — then the start
 *    is the next offset; otherwise by time: the first offset on B whose
 *    timestamp is at or after the record's (MirrorMaker 2 keeps record
 *    timestamps), which is at or before the record's copy, so nothing after
 *    it is skipped; from there, the first record of the same timestamp and
 *    key is the copy (or an earlier twin, which landed too): the start is
 *    after it. Without a key, or not found within 20,000 records, the start
 *    stays at the time's first offset (that millisecond's records re-read).
 * Failures are the SluiceErrors of kafka/offsets.ts.
 */
import { SluiceError } from '../errors.js';
import { peekRecords, watermarks, type OffsetsClient } from './offsets.js';
import { throwawayRead } from './throwaway.js';

export type ReplicationPolicy = 'default' | 'identity';

/** A record as P knew it: enough to find it again on B. */
export interface Position {
  readonly partition: number;
  readonly offset: number;
  /** Milliseconds, truncated to `precisionMs` where the source stores less. */
  readonly timestamp: number;
  /** The key's bytes as latin1 text; null: no key; undefined: not known (not compared). */
  readonly key?: string | null;
}

export interface Located {
  readonly partition: number;
  /** First offset on B to read. */
  readonly start: number;
  /** offset: B holds the same record at the same offset; time+key: the first record of its time and key from the first offset of its time; time: that first offset. */
  readonly via: 'offset' | 'time' | 'time+key';
}

export interface Checkpoint {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly upstream: number;
  readonly downstream: number;
}

export function remoteTopic(topic: string, alias: string, policy: ReplicationPolicy): string {
  return policy === 'identity' ? topic : `${alias}.${topic}`;
}

/** The topic on P whose copy `remote` is, under the default policy's `<alias>.` prefix; `remote` itself otherwise. */
export function sourceTopic(remote: string, alias: string): string {
  return alias !== '' && remote.startsWith(`${alias}.`) ? remote.slice(alias.length + 1) : remote;
}

/** The policy under which `topic` from cluster `alias` exists on B (the prefixed name wins), or undefined. */
export function detectPolicy(topicsOnB: ReadonlySet<string>, topic: string, alias: string): ReplicationPolicy | undefined {
  if (topicsOnB.has(`${alias}.${topic}`)) return 'default';
  if (topicsOnB.has(topic)) return 'identity';
  return undefined;
}

/**
 * One checkpoint record (org.apache.kafka.connect.mirror.Checkpoint): key
 * = group, topic (int16-length strings), partition (int32); value = version
 * (int16), upstream offset, downstream offset (int64), metadata (string).
 * Undefined for anything else.
 */
export function decodeCheckpoint(key: Buffer | null, value: Buffer | null): Checkpoint | undefined {
  if (!key || !value) return undefined;
  try {
    let at = 0;
    const str = () => {
      const n = key.readInt16BE(at);
      const s = key.toString('utf8', at + 2, at + 2 + n);
      at += 2 + n;
      return s;
    };
    const group = str();
    const topic = str();
    const partition = key.readInt32BE(at);
    if (at + 4 !== key.length || value.readInt16BE(0) !== 0) return undefined;
    const upstream = Number(value.readBigInt64BE(2));
    const downstream = Number(value.readBigInt64BE(10));
    return { group, topic, partition, upstream, downstream };
  } catch {
    return undefined;
  }
}

/** Every record of `topic` from its beginning up to the end it had when asked (a throwaway group). */
async function readToEnd(client: OffsetsClient, topic: string, onRecord: (key: Buffer | null, value: Buffer | null) => void, timeoutMs = 30_000): Promise<void> {
  const marks = await watermarks(client.admin, topic);
  const left = new Map([...marks].filter(([, m]) => m.high > m.low).map(([p, m]) => [p, m.high]));
  if (left.size === 0) return;
  let done = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  const reached = await throwawayRead(client.kafka, client.admin, {
    groupPrefix: 'sluice-failover-read',
    topics: [topic],
    eachBatch: (batch) => {
      for (const m of batch.messages) if (Number(m.offset) < (left.get(batch.partition) ?? 0)) onRecord(m.key, m.value);
      const high = left.get(batch.partition);
      if (high !== undefined && Number(batch.lastOffset()) >= high - 1) left.delete(batch.partition);
      if (left.size === 0) done();
    },
    timeoutMs,
  }, finished);
  if (!reached) throw new SluiceError('transient', `reading ${topic} on ${client.brokers.join(',')} did not reach its end within ${timeoutMs / 1000} s`);
}

/** The newest checkpoint of `group` per `topic:partition` (B's topic names), from `<alias>.checkpoints.internal` on B. */
export async function readCheckpoints(client: OffsetsClient, alias: string, group: string): Promise<Map<string, Checkpoint>> {
  const topic = `${alias}.checkpoints.internal`;
  const out = new Map<string, Checkpoint>();
  if (!(await client.admin.listTopics()).includes(topic)) return out;
  // One partition in practice; records of one key arrive in order, so the last one read wins.
  await readToEnd(client, topic, (key, value) => {
    const c = decodeCheckpoint(key, value);
    if (c && c.group === group) out.set(`${c.topic}:${c.partition}`, c);
  });
  return out;
}

const sameKey = (want: string | null | undefined, got: string | null) => want === undefined || got === want || (want === '' && got === null);

/**
 * Per target, the first offset at or after `from` holding a record of the
 * target's timestamp (at `precisionMs`) and key; a target is given up
 * (absent from the answer) at a later timestamp, after `limit` records, at
 * the end of the log or after `timeoutMs`. A throwaway consumer group.
 */
async function scanFor(
  client: OffsetsClient,
  topic: string,
  targets: ReadonlyArray<{ partition: number; from: number; timestamp: number; key: string | null }>,
  precisionMs: number,
  limit = 20_000,
  timeoutMs = 15_000,
): Promise<Map<number, number>> {
  const found = new Map<number, number>();
  const open = new Map(targets.map((t) => [t.partition, t]));
  if (open.size === 0) return found;
  let done = () => {};
  const finished = new Promise<void>((resolve) => (done = resolve));
  await throwawayRead(client.kafka, client.admin, {
    groupPrefix: 'sluice-failover-scan',
    topics: [topic],
    seeks: targets.map((t) => ({ topic, partition: t.partition, offset: t.from })),
    eachBatch: (batch) => {
      const t = open.get(batch.partition);
      if (!t) return;
      for (const m of batch.messages) {
        const offset = Number(m.offset);
        if (offset < t.from) continue;
        const ts = Math.floor(Number(m.timestamp) / precisionMs) * precisionMs;
        if (ts === t.timestamp && sameKey(t.key, m.key ? m.key.toString('latin1') : null)) found.set(t.partition, offset);
        if (found.has(t.partition) || ts > t.timestamp || offset - t.from >= limit) {
          open.delete(t.partition);
          break;
        }
      }
      if (open.has(t.partition) && Number(batch.lastOffset()) >= Number(batch.highWatermark) - 1) open.delete(t.partition);
      if (open.size === 0) done();
    },
    timeoutMs,
  }, finished);
  return found;
}

/** Where each position is on B's `topic` (see the module contract); `precisionMs` is how finely the timestamps were kept. */
export async function locate(client: OffsetsClient, topic: string, positions: readonly Position[], precisionMs = 1): Promise<Located[]> {
  const marks = await watermarks(client.admin, topic);
  const inLog = positions.filter((p) => {
    const m = marks.get(p.partition);
    return m !== undefined && p.offset >= m.low && p.offset < m.high;
  });
  const seen = await peekRecords(client, inLog.map((p) => ({ topic, partition: p.partition, offset: p.offset })));
  const out: Located[] = [];
  const byTime: Array<{ partition: number; from: number; timestamp: number; key: string | null }> = [];
  for (const p of positions) {
    const r = seen.get(`${topic}:${p.partition}`);
    // (A plain String key column stores '' for a record without key.)
    if (r && Math.floor(r.timestamp / precisionMs) * precisionMs === p.timestamp && sameKey(p.key, r.key)) {
      out.push({ partition: p.partition, start: p.offset + 1, via: 'offset' });
      continue;
    }
    const hit = (await client.admin.fetchTopicOffsetsByTimestamp(topic, p.timestamp)).find((x) => x.partition === p.partition);
    // No record at or after that time: B has not got the record (yet); its end loses nothing B holds.
    const high = marks.get(p.partition)?.high ?? 0;
    const start = hit && Number(hit.offset) >= 0 ? Number(hit.offset) : high;
    if (p.key !== undefined && start < high) byTime.push({ partition: p.partition, from: start, timestamp: p.timestamp, key: p.key });
    else out.push({ partition: p.partition, start, via: 'time' });
  }
  // The first record of that time and key from there is the record itself
  // (or an earlier one just like it, which landed too): start after it.
  const exact = await scanFor(client, topic, byTime, precisionMs);
  for (const t of byTime) {
    const at = exact.get(t.partition);
    out.push(at === undefined ? { partition: t.partition, start: t.from, via: 'time' } : { partition: t.partition, start: at + 1, via: 'time+key' });
  }
  return out.sort((a, b) => a.partition - b.partition);
}
