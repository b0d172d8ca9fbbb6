/**
 * pipeline + worker: the write path end to end, with an in-memory ClickHouse,
 * a real Committer over a recording commit function, and a fake source that
 * honours pause/resume. These pin the invariants of DESIGN.md:
 *   1. no loss — an offset is committed only once every record below it is in
 *      ClickHouse or acknowledged by the dead-letter topic (checked at the
 *      moment of every commit, not just at the end);
 *   2. per-partition order;
 *   3. bounded memory — asserted on `bufferedBytes` and on pause/resume, never
 *      on time;
 *   4. bad data never blocks good data, transient failures never dead-letter.
 *
 * Backoff sleeps run on fake timers (setTimeout only), advanced by `until`
 * one millisecond at a time, so retries are deterministic and instant.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SourceRecord } from '../../../src/pipeline/batcher.js';
import { recordBytes } from '../../../src/pipeline/batcher.js';
import { Committer, type OffsetCommit } from '../../../src/pipeline/committer.js';
import { RatioGuard } from '../../../src/dlq/dead-letters.js';
import { ClickHouseError } from '../../../src/errors.js';
import { EventTally, silentLogger } from '../../../src/ops/log.js';
import { passthroughEncoder } from '../../../src/formats/batch.js';
import { Wakeup } from '../../../src/retry.js';
import { createMetrics } from '../../../src/ops/metrics.js';
import { Pipeline, type TopicPartition } from '../../../src/pipeline/pipeline.js';
import { compactChunk } from '../../../src/kafka/record.js';
import type { DeadLetter, DeadLetterSink } from '../../../src/pipeline/worker.js';

vi.setConfig({ testTimeout: 10_000 });

const TOPIC = 't';
const TABLE = 'tbl';
const BACKOFF = { initialMs: 1, maxMs: 2 };
/** Every test value is padded to this many bytes, so each record accounts for VALUE_BYTES + overhead. */
const VALUE_BYTES = 40;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** One macrotask turn: every settled promise chain runs. No (fake or real) time passes. */
const settle = () => new Promise<void>((r) => setImmediate(r));

/** Waits, turn by turn and fake millisecond by fake millisecond, until `cond` holds. */
async function until(cond: () => boolean, what: string, maxSteps = 5_000): Promise<void> {
  for (let i = 0; i < maxSteps; i++) {
    if (cond()) return;
    await settle();
    if (cond()) return;
    await vi.advanceTimersByTimeAsync(1);
  }
  throw new Error(`never happened: ${what}`);
}

function value(partition: number, offset: number, kind: 'good' | 'bad' = 'good'): Buffer {
  const body = kind === 'bad' ? `{"bad":1,"p":${partition},"o":${offset}}` : `{"p":${partition},"o":${offset}}`;
  const v = Buffer.alloc(Math.max(VALUE_BYTES, body.length), ' ');
  v.write(body);
  return v;
}

function rec(partition: number, offset: number, v: Buffer | null = value(partition, offset)): SourceRecord {
  return { offset, timestamp: 1_700_000_000_000 + offset, key: null, value: v };
}

function range(partition: number, from: number, to: number): SourceRecord[] {
  return Array.from({ length: to - from }, (_, i) => rec(partition, from + i));
}

const RECORD_BYTES = recordBytes(rec(0, 0));

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * In-memory ClickHouse. Rows are the parsed lines of each accepted body.
 * `blocking`: each insert waits until the test releases it. `failure`: an
 * error to throw for this attempt (checked per call). A line holding "bad"
 * is rejected as a data error naming its row, as the real server does.
 */
class FakeClickHouse {
  readonly rows = new Map<number, number[]>();
  readonly bodies: string[] = [];
  calls = 0;
  blocking = false;
  readonly blocked: Deferred[] = [];
  failure: (() => unknown) | undefined;
  /** The table was fixed: rows marked "bad" are accepted from now on. */
  acceptBad = false;

  readonly insert = async (table: string, chunks: readonly Buffer[]): Promise<void> => {
    expect(table).toBe(TABLE);
    // Copy now: the chunks may be views into buffers the pipeline still holds.
    const body = Buffer.concat(chunks);
    this.calls++;
    const err = this.failure?.();
    if (err) throw err;
    const lines = body.toString().split('\n');
    expect(lines.pop()).toBe('');
    const badAt = this.acceptBad ? -1 : lines.findIndex((l) => l.includes('"bad"'));
    if (badAt !== -1) {
      throw new ClickHouseError('data', `Code: 27, e.displayText() = DB::Exception: Cannot parse input (at row ${badAt + 1})`, 27, badAt + 1);
    }
    if (this.blocking) {
      const d = deferred();
      this.blocked.push(d);
      await d.promise;
    }
    this.bodies.push(body.toString());
    for (const line of lines) {
      const row = JSON.parse(line) as { p: number; o: number };
      const list = this.rows.get(row.p) ?? [];
      list.push(row.o);
      this.rows.set(row.p, list);
    }
  };

  releaseOne(): void {
    this.blocked.shift()?.resolve();
  }

  releaseAll(): void {
    this.blocking = false;
    while (this.blocked.length > 0) this.releaseOne();
  }

  offsets(partition: number): number[] {
    return this.rows.get(partition) ?? [];
  }
}

class FakeDeadLetters implements DeadLetterSink {
  readonly letters: (DeadLetter & { partition: number })[] = [];
  calls = 0;
  failure: (() => unknown) | undefined;
  async send(source: { topic: string; partition: number; table: string }, letters: readonly DeadLetter[]): Promise<{ truncated: number }> {
    expect(source).toMatchObject({ topic: TOPIC, table: TABLE });
    this.calls++;
    const err = this.failure?.();
    if (err) throw err;
    for (const l of letters) this.letters.push({ ...l, partition: source.partition });
    return { truncated: 0 };
  }
  offsets(partition: number): number[] {
    return this.letters.filter((l) => l.partition === partition).map((l) => l.record.offset);
  }
}

interface Options {
  maxRows?: number;
  maxBytes?: number;
  maxWaitMs?: number;
  maxBufferBytes?: number;
  insertConcurrency?: number;
  dlq?: boolean;
}

function harness(opts: Options = {}) {
  const clock = { now: 1_000_000 };
  const ch = new FakeClickHouse();
  const dlq = opts.dlq ? new FakeDeadLetters() : undefined;
  /** Offsets handed to the pipeline, per partition (what "every record below" means). */
  const delivered = new Map<number, number[]>();
  const commits: { partition: number; next: number; generation: number; metadata?: string }[] = [];
  const violations: string[] = [];
  let commitBlocking = false;
  const commitBlocked: Deferred[] = [];
  let pipeline!: Pipeline;

  const commitFn = async (offsets: OffsetCommit[]) => {
    for (const o of offsets) {
      expect(o.topic).toBe(TOPIC);
      const next = Number(o.offset);
      const durable = new Set([...ch.offsets(o.partition), ...(dlq?.offsets(o.partition) ?? [])]);
      for (const off of delivered.get(o.partition) ?? []) {
        if (off < next && !durable.has(off)) violations.push(`commit ${o.partition}@${next} before offset ${off} was durable`);
      }
      commits.push({ partition: o.partition, next, generation: pipeline.currentGeneration, ...(o.metadata ? { metadata: o.metadata } : {}) });
    }
    if (commitBlocking) {
      const d = deferred();
      commitBlocked.push(d);
      await d.promise;
    }
  };
  const committer = new Committer(commitFn, BACKOFF, silentLogger, undefined, (t, p, next, ts) => pipeline.onCommitted(t, p, next, ts));

  const paused = new Set<number>();
  const pauses: number[][] = [];
  const resumes: { partitions: number[]; bufferedBytes: number }[] = [];
  const metrics = createMetrics({ processMetrics: false });
  const abort = new AbortController();

  pipeline = new Pipeline({
    limits: { maxRows: opts.maxRows ?? 5, maxBytes: opts.maxBytes ?? 1 << 20, maxWaitMs: opts.maxWaitMs ?? 100 },
    maxBufferBytes: opts.maxBufferBytes ?? 1 << 30,
    maxRecordBytes: 1 << 20,
    insertConcurrency: opts.insertConcurrency ?? 2,
    backoff: BACKOFF,
    tables: new Map([[TOPIC, TABLE]]),
    // Passthrough: the fake server below parses the JSON lines itself.
    insert: (table, body) => ch.insert(table, body.chunks),
    encoders: { encoderFor: (table: string) => passthroughEncoder(table), refresh: async () => false },
    unknownFields: () => {},
    committer,
    deadLetters: dlq,
    deadLetterGuard: new RatioGuard(0.25, 60_000, () => clock.now),
    deadLetterGuardRatio: 0.25,
    unmatched: 'deadletter',
    landed: () => {},
    pause: (tps: TopicPartition[]) => {
      for (const tp of tps) expect(tp.topic).toBe(TOPIC);
      pauses.push(tps.map((tp) => tp.partition));
      for (const tp of tps) paused.add(tp.partition);
    },
    resume: (tps: TopicPartition[]) => {
      resumes.push({ partitions: tps.map((tp) => tp.partition), bufferedBytes: pipeline.bufferedBytes });
      for (const tp of tps) paused.delete(tp.partition);
    },
    metrics,
    log: silentLogger,
    deadLetterTally: new EventTally(),
    wake: new Wakeup(),
    signal: abort.signal,
    now: () => clock.now,
  });

  /** The source: hands records to the pipeline as kafkajs' eachBatch would. */
  const deliver = (partition: number, records: SourceRecord[]) => {
    const list = delivered.get(partition) ?? [];
    list.push(...records.map((r) => r.offset));
    delivered.set(partition, list);
    pipeline.onRecords(TOPIC, partition, records);
  };

  const lastCommit = (partition: number) => commits.filter((c) => c.partition === partition).at(-1)?.next;

  return {
    clock,
    ch,
    dlq,
    committer,
    pipeline,
    metrics,
    abort,
    deliver,
    delivered,
    commits,
    violations,
    paused,
    pauses,
    resumes,
    lastCommit,
    setCommitBlocking: (b: boolean) => (commitBlocking = b),
    commitBlocked,
  };
}

const seq = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('Pipeline: order and commit after write', () => {
  it('writes each partition in offset order, exactly once, and commits only what is written', async () => {
    const h = harness({ maxRows: 4, maxWaitMs: 100, insertConcurrency: 2 });
    const N = 18;
    for (let from = 0; from < N; from += 3) for (const p of [0, 1, 2]) h.deliver(p, range(p, from, from + 3));

    // Full batches (16 of 18 records per partition) are written and committed.
    await until(() => [0, 1, 2].every((p) => h.lastCommit(p) === 16), 'full batches committed');
    for (const p of [0, 1, 2]) expect(h.ch.offsets(p)).toEqual(seq(0, 16));

    // The rest waits for its age: not yet...
    h.clock.now += 99;
    h.pipeline.tick();
    await settle();
    await vi.advanceTimersByTimeAsync(5);
    for (const p of [0, 1, 2]) expect(h.ch.offsets(p)).toEqual(seq(0, 16));
    // ...now.
    h.clock.now += 1;
    h.pipeline.tick();
    await until(() => [0, 1, 2].every((p) => h.lastCommit(p) === N), 'all committed');
    await h.committer.flush();

    for (const p of [0, 1, 2]) {
      expect(h.ch.offsets(p)).toEqual(seq(0, N));
      const nexts = h.commits.filter((c) => c.partition === p).map((c) => c.next);
      expect(nexts).toEqual([...nexts].sort((a, b) => a - b));
      // Each offset once as a plain commit; a cut intent repeats the offset before it, with metadata.
      const plain = h.commits.filter((c) => c.partition === p && !c.metadata).map((c) => c.next);
      expect(new Set(plain).size).toBe(plain.length);
      for (const c of h.commits.filter((c) => c.partition === p && c.metadata)) expect(c.metadata).toMatch(new RegExp(`^sluice\\.cut:${c.next}:\\d+$`));
    }
    expect(h.violations).toEqual([]);
    expect(h.pipeline.bufferedBytes).toBe(0);
    expect(h.pauses).toEqual([]);
    const inserted = await h.metrics.registry.getSingleMetricAsString('sluice_records_inserted_total');
    expect(inserted).toContain(`sluice_records_inserted_total{topic="${TOPIC}",table="${TABLE}"} ${3 * N}`);
  });

  it('never commits a partition past a batch that is still being written', async () => {
    const h = harness({ maxRows: 2, insertConcurrency: 4 });
    h.ch.blocking = true;
    h.deliver(0, range(0, 0, 6)); // three batches, written one after another
    await until(() => h.ch.blocked.length === 1, 'first insert in flight');
    await settle();
    expect(h.ch.blocked).toHaveLength(1); // one partition: one insert at a time
    expect(h.commits).toEqual([]);
    h.ch.releaseOne();
    await until(() => h.lastCommit(0) === 2, 'first batch committed');
    await until(() => h.ch.blocked.length === 1, 'second insert in flight');
    expect(h.lastCommit(0)).toBe(2);
    h.ch.releaseAll();
    await until(() => h.lastCommit(0) === 6, 'all committed');
    expect(h.ch.offsets(0)).toEqual(seq(0, 6));
    expect(h.violations).toEqual([]);
  });
});

describe('Pipeline: failures are retried, never skipped', () => {
  it('a transient insert failure holds commits back and is retried until it succeeds', async () => {
    const h = harness({ maxRows: 5, dlq: true });
    let failures = 0;
    h.ch.failure = () => {
      failures++;
      return failures % 2 === 0
        ? new ClickHouseError('transient', 'Code: 252, e.displayText() = DB::Exception: Too many parts (300)', 252)
        : new Error('connect ECONNREFUSED 127.0.0.1:8123');
    };
    h.deliver(0, range(0, 0, 10));
    await until(() => h.ch.calls >= 8, 'several failed attempts');
    expect(h.commits).toEqual([]);
    expect(h.ch.offsets(0)).toEqual([]);
    expect(h.dlq!.letters).toEqual([]); // transient failures are never dead-lettered
    expect(h.pipeline.stalled.has(`${TOPIC}:0`)).toBe(true); // visible to readiness
    expect(h.pipeline.bufferedBytes).toBe(10 * RECORD_BYTES); // still held, not dropped

    h.ch.failure = undefined;
    await until(() => h.lastCommit(0) === 10, 'committed after recovery');
    expect(h.ch.offsets(0)).toEqual(seq(0, 10));
    expect(h.dlq!.letters).toEqual([]);
    expect(h.violations).toEqual([]);
    expect(h.pipeline.stalled.size).toBe(0);
    expect(h.pipeline.bufferedBytes).toBe(0);
    const retries = await h.metrics.registry.getSingleMetricAsString('sluice_retries_total');
    expect(retries).toMatch(/sluice_retries_total\{operation="insert",kind="transient"\} \d+/);
  });

  it('a fatal error (missing table) is retried at the slow pace, never dead-lettered, and resumes once fixed', async () => {
    const h = harness({ maxRows: 5, dlq: true });
    h.ch.failure = () => new ClickHouseError('fatal', "Code: 60, e.displayText() = DB::Exception: Table default.tbl doesn't exist.", 60);
    h.deliver(0, range(0, 0, 5));
    await until(() => h.ch.calls >= 4, 'retried');
    expect(h.commits).toEqual([]);
    expect(h.dlq!.letters).toEqual([]);
    // Readiness shows the code and class, not the server's text (it names tables, and can quote rows).
    expect(h.pipeline.stalled.get(`${TOPIC}:0`)?.reason).toBe('insert failing code=60 class=fatal');
    h.ch.failure = undefined;
    await until(() => h.lastCommit(0) === 5, 'committed after the fix');
    expect(h.ch.offsets(0)).toEqual(seq(0, 5));
    expect(h.violations).toEqual([]);
  });

  it('without a dead-letter topic, a rejected batch stalls its partition (nothing skipped, nothing committed) until a fix', async () => {
    const h = harness({ maxRows: 5, dlq: false });
    h.deliver(0, [rec(0, 0), rec(0, 1), rec(0, 2, value(0, 2, 'bad')), rec(0, 3), rec(0, 4)]);
    h.deliver(1, range(1, 0, 5));
    await until(() => h.lastCommit(1) === 5, 'the other partition proceeds');
    await until(() => h.ch.calls >= 5, 'the stalled batch is retried');
    expect(h.lastCommit(0)).toBeUndefined();
    expect(h.ch.offsets(0)).toEqual([]);
    expect(h.pipeline.stalled.get(`${TOPIC}:0`)?.reason).toBe(
      'insert rejected code=27 class=data; no dead-letter topic (SLUICE_DLQ_TOPIC=none), the batch is held and retried, nothing is skipped',
    );
    // The table is migrated: the same batch lands, whole and in order.
    h.ch.acceptBad = true;
    await until(() => h.lastCommit(0) === 5, 'committed after the fix');
    expect(h.ch.offsets(0)).toEqual(seq(0, 5));
    expect(h.pipeline.stalled.size).toBe(0);
    expect(h.violations).toEqual([]);
  });
});

describe('Pipeline: deliveries held for cut intents', () => {
  it('count against the cap and pause their partition while held, then go on in order', async () => {
    const CAP = 10 * RECORD_BYTES;
    const h = harness({ maxRows: 100, maxBufferBytes: CAP, insertConcurrency: 1 });
    let release!: () => void;
    h.pipeline.holdUntil(h.pipeline.currentGeneration, new Promise<void>((r) => (release = r)));
    h.deliver(0, seq(0, 6).map((o) => rec(0, o)));
    expect(h.pauses).toEqual([]);
    h.deliver(0, seq(6, 12).map((o) => rec(0, o)));
    // 12 records held: over the cap, so partition 0 is paused although no worker has them yet.
    expect(h.pipeline.bufferedBytes).toBe(12 * RECORD_BYTES);
    expect(h.pauses).toEqual([[0]]);
    release();
    await until(() => h.pipeline.bufferedBytes === 12 * RECORD_BYTES && h.delivered.get(0)?.length === 12, 'handed to the worker');
    await new Promise((r) => setImmediate(r));
    h.clock.now += 1000; // the batch's age: it seals
    h.pipeline.tick();
    await until(() => h.ch.offsets(0).length === 12, 'the held records written');
    expect(h.ch.offsets(0)).toEqual(seq(0, 12));
  });
});

describe('Pipeline: backpressure', () => {
  it('pauses at the cap, holds at most one delivered chunk over it, and resumes after the insert is released', async () => {
    const CAP = 10 * RECORD_BYTES;
    const CHUNK = 4;
    const h = harness({ maxRows: 5, maxBufferBytes: CAP, insertConcurrency: 1 });
    h.ch.blocking = true;
    const N = 80;
    let next = 0;
    let maxHeld = 0;
    const deliverChunk = () => {
      expect(h.paused.has(0)).toBe(false); // the source honours pause
      h.deliver(0, range(0, next, Math.min(N, next + CHUNK)));
      next = Math.min(N, next + CHUNK);
      maxHeld = Math.max(maxHeld, h.pipeline.bufferedBytes);
      expect(h.pipeline.bufferedBytes).toBeLessThanOrEqual(CAP + CHUNK * RECORD_BYTES);
    };

    // Deliver until the pipeline pushes back; ClickHouse answers nothing meanwhile.
    while (!h.paused.has(0)) {
      deliverChunk();
      await settle();
    }
    expect(h.pauses).toEqual([[0]]);
    expect(h.resumes).toEqual([]);
    expect(h.pipeline.bufferedBytes).toBeGreaterThanOrEqual(CAP);
    expect(h.pipeline.pausedCount).toBe(1);
    expect(await h.metrics.registry.getSingleMetricAsString('sluice_paused_partitions')).toMatch(/sluice_paused_partitions 1/);
    const heldAtPause = h.pipeline.bufferedBytes;

    // Nothing resumes while the insert is stuck.
    await vi.advanceTimersByTimeAsync(1_000);
    await settle();
    expect(h.resumes).toEqual([]);
    expect(h.pipeline.bufferedBytes).toBe(heldAtPause);

    // Release inserts one at a time until the pipeline resumes; it resumes below 75% of the cap.
    while (h.resumes.length === 0) {
      await until(() => h.ch.blocked.length > 0, 'an insert waiting');
      h.ch.releaseOne();
      await settle();
    }
    expect(h.resumes[0]!.partitions).toEqual([0]);
    expect(h.resumes[0]!.bufferedBytes).toBeLessThan(CAP * 0.75);

    // Keep going: deliver whenever allowed, release one insert whenever paused.
    while (next < N) {
      if (!h.paused.has(0)) deliverChunk();
      else {
        await until(() => h.ch.blocked.length > 0, 'an insert waiting');
        h.ch.releaseOne();
      }
      await settle();
    }
    expect(h.pauses.length).toBeGreaterThanOrEqual(3);
    expect(maxHeld).toBeLessThanOrEqual(CAP + CHUNK * RECORD_BYTES);
    for (const r of h.resumes) expect(r.bufferedBytes).toBeLessThan(CAP * 0.75);

    h.ch.releaseAll();
    await h.pipeline.drain();
    await h.committer.flush();
    expect(h.ch.offsets(0)).toEqual(seq(0, N));
    expect(h.lastCommit(0)).toBe(N);
    expect(h.violations).toEqual([]);
    expect(h.pipeline.bufferedBytes).toBe(0);
  });

  it('pauses every partition that delivers at the cap and resumes them together', async () => {
    const CAP = 10 * RECORD_BYTES;
    const CHUNK = 3;
    const h = harness({ maxRows: 100, maxBufferBytes: CAP, insertConcurrency: 1 });
    h.ch.blocking = true;
    const next = [0, 0];
    const bound = CAP + 2 * CHUNK * RECORD_BYTES; // one chunk over the cap per partition
    for (let round = 0; round < 10 && !(h.paused.has(0) && h.paused.has(1)); round++) {
      for (const p of [0, 1]) {
        if (h.paused.has(p)) continue;
        h.deliver(p, range(p, next[p]!, next[p]! + CHUNK));
        next[p] = next[p]! + CHUNK;
        expect(h.pipeline.bufferedBytes).toBeLessThanOrEqual(bound);
      }
      await settle();
    }
    expect([...h.paused].sort()).toEqual([0, 1]);
    expect(h.pauses.flat().sort()).toEqual([0, 1]);
    h.ch.releaseAll();
    await until(() => h.resumes.length > 0, 'resume');
    expect(h.resumes).toHaveLength(1);
    expect(h.resumes[0]!.partitions.sort()).toEqual([0, 1]);
    await h.pipeline.drain();
    await h.committer.flush();
    for (const p of [0, 1]) {
      expect(h.ch.offsets(p)).toEqual(seq(0, next[p]!));
      expect(h.lastCommit(p)).toBe(next[p]);
    }
    expect(h.violations).toEqual([]);
  });

  it('counts keys and per-record overhead, so many small records also hit the cap', async () => {
    const CAP = 4_096;
    const h = harness({ maxRows: 1_000, maxBufferBytes: CAP });
    h.ch.blocking = true;
    const tiny = (o: number): SourceRecord => ({ offset: o, timestamp: 0, key: Buffer.from('k'), value: Buffer.from(`{"p":0,"o":${o}}`) });
    let o = 0;
    let payload = 0;
    while (!h.paused.has(0) && o < 1_000) {
      const r = tiny(o++);
      payload += r.key!.length + r.value!.length;
      h.deliver(0, [r]);
    }
    expect(h.paused.has(0)).toBe(true);
    // Paused long before the payload alone would reach the cap: the per-record overhead counts.
    expect(payload).toBeLessThan(CAP / 2);
    expect(h.pipeline.bufferedBytes).toBeGreaterThanOrEqual(CAP);
    h.ch.releaseAll();
    await h.pipeline.drain();
  });
});

describe('Pipeline: rebalance (newGeneration)', () => {
  it('abandons in-flight and queued work: nothing of the old generation is committed', async () => {
    const h = harness({ maxRows: 5, insertConcurrency: 2 });
    h.ch.blocking = true;
    h.deliver(0, range(0, 0, 10)); // two batches: one in flight, one queued
    h.deliver(1, range(1, 0, 3)); // an open batch
    await until(() => h.ch.blocked.length === 1, 'insert in flight');

    const gen = h.pipeline.newGeneration();
    expect(gen).toBe(1);
    expect(h.pipeline.currentGeneration).toBe(1);
    expect(h.pipeline.bufferedBytes).toBe(0);

    // The old insert may still land — it is never acknowledged.
    h.ch.releaseAll();
    await until(() => h.ch.offsets(0).length === 5, 'old insert landed');
    h.clock.now += 1_000;
    h.pipeline.tick();
    await vi.advanceTimersByTimeAsync(10);
    await settle();
    await h.committer.flush();
    expect(h.commits).toEqual([]);
    expect(h.ch.offsets(0)).toEqual(seq(0, 5)); // the queued batch was dropped, not written
    expect(h.ch.offsets(1)).toEqual([]);

    // The partition comes back: re-read from the last commit (here: 0).
    h.deliver(0, range(0, 0, 10));
    await until(() => h.lastCommit(0) === 10, 'new generation committed');
    expect(h.commits.every((c) => c.generation === 1)).toBe(true);
    // Duplicates, never loss.
    expect(h.ch.offsets(0)).toEqual([...seq(0, 5), ...seq(0, 10)]);
  });

  it('drops acks waiting behind an in-flight commit when the generation changes', async () => {
    const h = harness({ maxRows: 5 });
    h.setCommitBlocking(true);
    h.deliver(0, range(0, 0, 5));
    await until(() => h.commitBlocked.length === 1, 'first commit in flight');
    h.deliver(0, range(0, 5, 10));
    await until(() => h.ch.offsets(0).length === 10, 'second batch written');
    await settle();
    h.pipeline.newGeneration();
    h.setCommitBlocking(false);
    h.commitBlocked.shift()!.resolve();
    await h.committer.flush();
    expect(h.commits.map((c) => c.next)).toEqual([5]); // 10 was acked under generation 0: never committed
  });

  it('resumes partitions it had paused, since the new generation starts unpaused', async () => {
    const h = harness({ maxRows: 5, maxBufferBytes: 4 * RECORD_BYTES });
    h.ch.blocking = true;
    h.deliver(0, range(0, 0, 4));
    expect(h.paused.has(0)).toBe(true);
    h.pipeline.newGeneration();
    expect(h.paused.has(0)).toBe(false);
    expect(h.pipeline.pausedCount).toBe(0);
    h.ch.releaseAll();
  });

  // Regression (open bug): an abandoned worker stalled on a rejected batch
  // (no dead-letter topic) keeps retrying it forever (pipeline/worker.ts writeOrStall
  // never checks `abandoned`) and keeps writing its stall into
  // pipeline.stalled, so /readyz stays false for a partition this member no
  // longer owns, and the zombie loop outlives every rebalance.
  it('an abandoned worker stops retrying and stops reporting a stall for a partition it no longer owns', async () => {
    const h = harness({ maxRows: 5, dlq: false });
    h.deliver(0, [rec(0, 0), rec(0, 1, value(0, 1, 'bad'))]);
    h.pipeline.tick();
    h.clock.now += 100;
    h.pipeline.tick();
    await until(() => h.pipeline.stalled.has(`${TOPIC}:0`), 'stalled');
    h.pipeline.newGeneration();
    expect(h.pipeline.stalled.size).toBe(0);
    const callsAtAbandon = h.ch.calls;
    await vi.advanceTimersByTimeAsync(50);
    await settle();
    expect(h.pipeline.stalled.size).toBe(0);
    // At most the attempt already under way; no retry loop for work nobody will commit.
    expect(h.ch.calls - callsAtAbandon).toBeLessThanOrEqual(1);
    h.abort.abort();
  });
});

describe('Pipeline: drain (shutdown)', () => {
  it('writes and acknowledges everything taken, including open batches', async () => {
    const h = harness({ maxRows: 100, maxWaitMs: 1_000_000 });
    h.deliver(0, range(0, 0, 7));
    h.deliver(1, range(1, 0, 3));
    await settle();
    expect(h.ch.calls).toBe(0); // nothing due yet
    await h.pipeline.drain();
    await h.committer.flush();
    expect(h.ch.offsets(0)).toEqual(seq(0, 7));
    expect(h.ch.offsets(1)).toEqual(seq(0, 3));
    expect([h.lastCommit(0), h.lastCommit(1)]).toEqual([7, 3]);
    expect(h.violations).toEqual([]);
    expect(h.pipeline.bufferedBytes).toBe(0);
  });

  it('waits for an in-flight insert before resolving', async () => {
    const h = harness({ maxRows: 5 });
    h.ch.blocking = true;
    h.deliver(0, range(0, 0, 7));
    await until(() => h.ch.blocked.length === 1, 'insert in flight');
    let drained = false;
    const draining = h.pipeline.drain().then(() => (drained = true));
    await settle();
    expect(drained).toBe(false);
    h.ch.releaseAll();
    await draining;
    await h.committer.flush();
    expect(h.ch.offsets(0)).toEqual(seq(0, 7));
    expect(h.lastCommit(0)).toBe(7);
  });

  it('takes no new records once draining', async () => {
    const h = harness({ maxRows: 100 });
    h.deliver(0, range(0, 0, 2));
    await h.pipeline.drain();
    h.pipeline.onRecords(TOPIC, 0, range(0, 2, 4));
    await h.pipeline.drain();
    await h.committer.flush();
    expect(h.ch.offsets(0)).toEqual([0, 1]);
    expect(h.lastCommit(0)).toBe(2);
    expect(h.pipeline.bufferedBytes).toBe(0);
  });
});

describe('Pipeline: dead letters', () => {
  it('a data error on one record dead-letters exactly that record and commits past it', async () => {
    const h = harness({ maxRows: 10, dlq: true });
    const records = range(0, 0, 10);
    records[3] = rec(0, 3, value(0, 3, 'bad'));
    h.deliver(0, records);
    await until(() => h.lastCommit(0) === 10, 'committed past the bad record');
    expect(h.dlq!.offsets(0)).toEqual([3]);
    const letter = h.dlq!.letters[0]!;
    expect(letter.reason).toBe('rejected');
    expect(letter.code).toBe(27);
    expect(letter.message).toContain('Code: 27');
    expect(letter.record).toBe(records[3]); // the original bytes
    expect(h.ch.offsets(0)).toEqual([0, 1, 2, 4, 5, 6, 7, 8, 9]);
    expect(h.violations).toEqual([]);
  });

  it('dead-letters records that can never be a row without an insert, and writes the rest', async () => {
    const h = harness({ maxRows: 6, dlq: true });
    h.deliver(0, [rec(0, 0), rec(0, 1, null), rec(0, 2), rec(0, 3, Buffer.from('[1,2]')), rec(0, 4, Buffer.from([0x7b, 0xff, 0x7d])), rec(0, 5)]);
    await until(() => h.lastCommit(0) === 6, 'committed');
    expect(h.dlq!.letters.map((l) => [l.record.offset, l.reason])).toEqual([
      [1, 'null_value'],
      [3, 'not_json_object'],
      [4, 'invalid_utf8'],
    ]);
    expect(h.ch.offsets(0)).toEqual([0, 2, 5]);
    expect(h.violations).toEqual([]);
  });

  it('holds the commit until the dead-letter topic acknowledged, retrying its failures', async () => {
    const h = harness({ maxRows: 5, dlq: true });
    let failures = 0;
    h.dlq!.failure = () => (failures++ < 3 ? Object.assign(new Error('There is no leader for this topic-partition'), { retriable: true }) : undefined);
    const records = range(0, 0, 5);
    records[2] = rec(0, 2, value(0, 2, 'bad'));
    h.deliver(0, records);
    await until(() => h.dlq!.calls >= 2, 'a failed dead-letter send');
    expect(h.commits).toEqual([]);
    await until(() => h.lastCommit(0) === 5, 'committed');
    expect(h.dlq!.calls).toBe(4);
    expect(h.dlq!.offsets(0)).toEqual([2]);
    expect(h.violations).toEqual([]);
  });

  it('a flood of rejections (a missing migration) is held, not dead-lettered, and lands once the table is fixed', async () => {
    const N = 1_000; // the guard judges from 1,000 records on (DLQ_MIN_SAMPLE)
    const h = harness({ maxRows: N, dlq: true });
    h.deliver(0, Array.from({ length: N }, (_, i) => rec(0, i, value(0, i, 'bad'))));
    await until(() => h.pipeline.stalled.has(`${TOPIC}:0`), 'stalled on the flood');
    await until(() => h.ch.calls > 400, 'held rows retried');
    expect(h.dlq!.letters).toEqual([]);
    expect(h.commits).toEqual([]);
    expect(h.pipeline.stalled.get(`${TOPIC}:0`)!.reason).toMatch(/SLUICE_DLQ_MAX_RATIO/);
    h.ch.acceptBad = true;
    await until(() => h.lastCommit(0) === N, 'committed after the fix');
    expect(h.dlq!.letters).toEqual([]);
    expect([...h.ch.offsets(0)].sort((a, b) => a - b)).toEqual(seq(0, N));
    expect(new Set(h.ch.offsets(0)).size).toBe(N);
    expect(h.pipeline.stalled.size).toBe(0);
    expect(h.violations).toEqual([]);
  });

  it('records compacted from fetched chunks (the real source path): bad and malformed rows out, the rest in, in order', async () => {
    const h = harness({ maxRows: 7, dlq: true });
    const kinds = (o: number) => (o === 4 || o === 11 ? 'bad' : o === 6 ? 'tombstone' : o === 9 ? 'pretty' : o === 13 ? 'array' : 'good');
    const raw = (o: number) => {
      const k = kinds(o);
      if (k === 'tombstone') return null;
      if (k === 'pretty') return Buffer.from(`{\n  "p": 0,\n  "o": ${o}\n}`);
      if (k === 'array') return Buffer.from('[1]');
      return value(0, o, k === 'bad' ? 'bad' : 'good');
    };
    // Two fetched chunks whose boundary falls inside a batch.
    for (const [from, to] of [[0, 10], [10, 20]] as const) {
      const records = compactChunk(seq(from, to).map((o) => ({ offset: String(o), timestamp: String(o), key: null, value: raw(o) })));
      h.deliver(0, records);
    }
    h.clock.now += 1_000;
    h.pipeline.tick();
    await until(() => h.lastCommit(0) === 20, 'committed');
    expect(h.dlq!.letters.map((l) => [l.record.offset, l.reason])).toEqual([
      [4, 'rejected'],
      [6, 'null_value'],
      [11, 'rejected'],
      [13, 'not_json_object'],
    ]);
    expect(h.ch.offsets(0)).toEqual(seq(0, 20).filter((o) => ![4, 6, 11, 13].includes(o)));
    // A dead letter carries the original bytes, not a flattened or shifted view.
    expect(h.dlq!.letters[0]!.record.value!.toString()).toBe(value(0, 4, 'bad').toString());
    expect(h.violations).toEqual([]);
  });

  it('keeps partitions independent: a bad record in one does not hold another', async () => {
    const h = harness({ maxRows: 4, dlq: true });
    h.deliver(0, [rec(0, 0), rec(0, 1, value(0, 1, 'bad')), rec(0, 2), rec(0, 3)]);
    h.deliver(1, range(1, 0, 4));
    await until(() => h.lastCommit(0) === 4 && h.lastCommit(1) === 4, 'both committed');
    expect(h.ch.offsets(1)).toEqual(seq(0, 4));
    expect(h.dlq!.offsets(0)).toEqual([1]);
    expect(h.dlq!.offsets(1)).toEqual([]);
  });
});
