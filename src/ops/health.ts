/**
 * health — what /healthz (liveness) and /readyz (readiness) answer.
 *
 * Contract: `Health` is told what happens (the loop turned, the group was
 * joined or lost, ClickHouse answered or not, the consumer crashed) and
 * derives the two reports from it; the partitions that cannot make progress
 * come from a callback, since the pipeline owns them. Live means the event
 * loop turns (a blocked loop is what a restart cures); ready means the sink
 * is doing its job: a member of the group, ClickHouse answering, no
 * partition stalled for longer than `readyStallMs`. `ready()` also sets the
 * `sluice_ready` gauge.
 *
 * What the reasons may say: /readyz answers anyone who reaches the status
 * port, so a reason names the part (`partition events:3`), how long, and the
 * kind of failure as `code=… class=…` (redact.ts errorTag) — never an
 * error's text, which can quote rows (ClickHouse repeats the value it could
 * not parse), URLs or server internals. That text goes to the JSON log,
 * where the caller writes it. Stall reasons come from the pipeline, which
 * builds them the same way.
 */
import type { Gauge } from 'prom-client';
import { errorTag } from './redact.js';
import type { HealthReport } from './server.js';

/** The event loop counts as blocked after this long without a tick. */
const LIVE_MS = 10_000;

export interface HealthDeps {
  readonly readyStallMs: number;
  readonly stalled: () => ReadonlyMap<string, { reason: string; since: number }>;
  readonly readyGauge: Gauge;
  readonly now?: () => number;
}

export class Health {
  private lastTick: number;
  private joined = false;
  private crashed: string | undefined;
  private clickhouseError: string | undefined;
  private clickhouseSince = 0;
  private readonly now: () => number;

  constructor(private readonly deps: HealthDeps) {
    this.now = deps.now ?? Date.now;
    this.lastTick = this.now();
  }

  tick(): void {
    this.lastTick = this.now();
  }

  groupJoined(joined: boolean): void {
    this.joined = joined;
  }

  /** `error` undefined: the consumer restarts (or recovered); else it stopped for good. */
  consumerCrashed(error: unknown): void {
    this.crashed = error === undefined ? undefined : errorTag(error);
  }

  /** The last ping's failure (undefined: it answered). Returns whether this changed the verdict, for logging once. */
  clickhouse(error: unknown): boolean {
    const tag = error === undefined ? undefined : errorTag(error);
    const changed = tag !== this.clickhouseError;
    if (changed && this.clickhouseError === undefined) this.clickhouseSince = this.now();
    this.clickhouseError = tag;
    return changed;
  }

  live(): HealthReport {
    const age = this.now() - this.lastTick;
    return age < LIVE_MS ? { ok: true, reasons: [] } : { ok: false, reasons: [`event loop has not turned for ${age} ms`] };
  }

  ready(): HealthReport {
    const reasons: string[] = [];
    const now = this.now();
    const secs = (since: number) => `${Math.round((now - since) / 1000)} s`;
    if (this.crashed) reasons.push(`consumer_crashed ${this.crashed}`);
    if (!this.joined) reasons.push('not a member of the consumer group (joining or rebalancing)');
    if (this.clickhouseError !== undefined) reasons.push(`clickhouse_unreachable ${this.clickhouseError} (for ${secs(this.clickhouseSince)})`);
    for (const [key, s] of this.deps.stalled()) {
      if (now - s.since >= this.deps.readyStallMs) reasons.push(`partition ${key} stalled: ${s.reason} (for ${secs(s.since)})`);
    }
    this.deps.readyGauge.set(reasons.length === 0 ? 1 : 0);
    return { ok: reasons.length === 0, reasons };
  }
}
