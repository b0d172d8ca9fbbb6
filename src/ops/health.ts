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
 */
import type { Gauge } from 'prom-client';
import type { HealthReport } from './server.js';

/** The event loop counts as blocked after this long without a tick. */
const LIVE_MS = 10_000;

export interface HealthDeps {
  readonly readyStallMs: number;
  /** Shown in the not-ready reason, so on-call sees which endpoint. */
  readonly clickhouseUrl: string;
  readonly stalled: () => ReadonlyMap<string, { reason: string; since: number }>;
  readonly readyGauge: Gauge;
  readonly now?: () => number;
}

export class Health {
  private lastTick: number;
  private joined = false;
  private crashed: string | undefined;
  private clickhouseError: string | undefined;
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

  /** `error` undefined: the consumer restarts (or recovered); a string: it stopped for good. */
  consumerCrashed(error: string | undefined): void {
    this.crashed = error;
  }

  clickhouse(error: string | undefined): void {
    this.clickhouseError = error;
  }

  live(): HealthReport {
    const age = this.now() - this.lastTick;
    return age < LIVE_MS ? { ok: true, reasons: [] } : { ok: false, reasons: [`event loop has not turned for ${age} ms`] };
  }

  ready(): HealthReport {
    const reasons: string[] = [];
    if (this.crashed) reasons.push(`consumer crashed: ${this.crashed}`);
    if (!this.joined) reasons.push('not a member of the consumer group (joining or rebalancing)');
    if (this.clickhouseError !== undefined) reasons.push(`ClickHouse unreachable (${this.deps.clickhouseUrl}): ${this.clickhouseError}`);
    const now = this.now();
    for (const [key, s] of this.deps.stalled()) {
      if (now - s.since >= this.deps.readyStallMs) reasons.push(`${key}: ${s.reason} (for ${Math.round((now - s.since) / 1000)} s)`);
    }
    this.deps.readyGauge.set(reasons.length === 0 ? 1 : 0);
    return { ok: reasons.length === 0, reasons };
  }
}
