/**
 * batcher — one partition's accumulation of records into batches.
 *
 * Contract: records go in in offset order; sealed batches come out in offset
 * order, each holding a contiguous run of what went in, never empty, never
 * over `maxRows` records, and over `maxBytes` only when a single record is
 * larger than `maxBytes` on its own. A batch is sealed *before* a record
 * that would overflow it is appended (Arroyo's habit: a sealed batch is
 * final, so a retried flush never duplicates or reorders data). Age-based
 * sealing reads an injected clock, so tests need no timers.
 *
 * Row limits are windows of absolute offsets — [k·maxRows, (k+1)·maxRows) —
 * not counts from wherever a batch began. So whoever reads a partition
 * again after a crash or rebalance (from the last commit, which is a batch
 * boundary) cuts the same batches, or falls back in step at the next window
 * after an age- or shutdown-cut one: the re-inserts are byte-identical to
 * the first ones, which ClickHouse's insert deduplication recognises
 * (clickhouse/features.ts says why no token is used instead).
 *
 * Cuts by age or on demand (backpressure, shutdown) depend on timing, so a
 * re-reader cannot reproduce them from the offsets alone. Such a batch is
 * marked `reproducible: false`; the worker records its end in the
 * partition's committed-offset metadata before writing it (cut intent), and
 * a batcher created with `cutAt` — the end a previous owner recorded —
 * seals its first batch exactly there and never by age before it: the
 * re-insert is the same block again (issue #11).
 */
import { headersSize, type SourceRecord } from '../kafka/record.js';

export type { SourceRecord };

export interface Batch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly SourceRecord[];
  readonly firstOffset: number;
  readonly lastOffset: number;
  /** Accounted bytes (see recordBytes), what the buffer cap counts. */
  readonly bytes: number;
  /** false: cut by age or on demand — a re-reader cuts here only if told (the cut intent). */
  readonly reproducible: boolean;
}

export interface BatchLimits {
  readonly maxRows: number;
  readonly maxBytes: number;
  readonly maxWaitMs: number;
}

/**
 * Memory a buffered record costs: its key, value and headers plus a fixed estimate of
 * the JS object around them (a ChunkRecord, its slot in the batch array).
 * The estimate keeps the cap honest for small records.
 */
export const RECORD_OVERHEAD_BYTES = 96;
export function recordBytes(r: SourceRecord): number {
  return (r.byteSize ?? (r.value?.length ?? 0) + (r.key?.length ?? 0) + (r.headers ? headersSize(r.headers) : 0)) + RECORD_OVERHEAD_BYTES;
}

export class Batcher {
  private records: SourceRecord[] = [];
  private bytes = 0;
  private openedAt = 0;

  constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly limits: BatchLimits,
    /** Exclusive end offset a previous owner cut the first batch at (from the committed metadata). */
    private cutAt?: number,
  ) {}

  /** Appends records; returns the batches this sealed (usually none). */
  add(records: readonly SourceRecord[], now: number): Batch[] {
    const sealed: Batch[] = [];
    const { maxRows, maxBytes } = this.limits;
    for (const r of records) {
      const size = recordBytes(r);
      if (this.records.length > 0) {
        // A gap in offsets (compaction, transaction markers) can skip a
        // window's last offset, or the intended cut: these checks catch that.
        const otherWindow = Math.floor(r.offset / maxRows) !== Math.floor(this.records[0]!.offset / maxRows);
        const pastCut = this.cutAt !== undefined && r.offset >= this.cutAt;
        if (otherWindow || pastCut || this.bytes + size > maxBytes) sealed.push(this.seal(true));
      }
      if (this.records.length === 0) {
        this.openedAt = now;
        // Reading starts past the recorded cut (the committed offset moved on): nothing to reproduce.
        if (this.cutAt !== undefined && r.offset >= this.cutAt) this.cutAt = undefined;
      }
      this.records.push(r);
      this.bytes += size;
      const atCut = this.cutAt !== undefined && r.offset + 1 >= this.cutAt;
      if (atCut || (r.offset + 1) % maxRows === 0 || this.records.length >= maxRows || this.bytes >= maxBytes) sealed.push(this.seal(true));
    }
    return sealed;
  }

  /** The open batch, sealed, if its oldest record has waited maxWaitMs. */
  sealIfDue(now: number): Batch | undefined {
    // Waiting for an intended cut: its records are in the log already and
    // arrive with the next fetches; an age cut now would be a new block.
    if (this.records.length === 0 || this.cutAt !== undefined || now - this.openedAt < this.limits.maxWaitMs) return undefined;
    return this.seal(false);
  }

  /** The open batch, sealed, whatever its age (backpressure, shutdown, rebalance). */
  sealNow(): Batch | undefined {
    return this.records.length === 0 ? undefined : this.seal(false);
  }

  /** The intended cut still ahead, if any. */
  get pendingCut(): number | undefined {
    return this.cutAt;
  }

  get bufferedBytes(): number {
    return this.bytes;
  }

  get bufferedRows(): number {
    return this.records.length;
  }

  private seal(reproducible: boolean): Batch {
    const records = this.records;
    // Any cut ends the wait for the intended one: the first batch is done.
    this.cutAt = undefined;
    const batch: Batch = {
      topic: this.topic,
      partition: this.partition,
      records,
      firstOffset: records[0]!.offset,
      lastOffset: records[records.length - 1]!.offset,
      bytes: this.bytes,
      reproducible,
    };
    this.records = [];
    this.bytes = 0;
    return batch;
  }
}
