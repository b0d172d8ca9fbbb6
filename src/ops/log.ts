/**
 * log — structured JSON logs, one line per event, on stderr.
 *
 * Contract: `log.info('event.name', { fields })` writes one JSON object with
 * time, level, event and the fields. Values are written as given, so callers
 * never pass secrets (config.ts exposes a redacted view for logging). Levels
 * below the configured one cost one comparison.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function createLogger(
  level: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stderr.write(line + '\n'),
  base: Record<string, unknown> = {},
): Logger {
  const min = ORDER[level];
  const emit = (lvl: LogLevel, event: string, fields?: Record<string, unknown>) => {
    if (ORDER[lvl] < min) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, event, ...base, ...fields }, replacer));
  };
  return {
    debug: (e, f) => emit('debug', e, f),
    info: (e, f) => emit('info', e, f),
    warn: (e, f) => emit('warn', e, f),
    error: (e, f) => emit('error', e, f),
    child: (fields) => createLogger(level, write, { ...base, ...fields }),
  };
}

// Errors serialise as {} by default; keep what helps at 3 a.m.
function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: value.message };
    for (const k of ['kind', 'code', 'setting', 'retriable', 'type'] as const) {
      const v = (value as unknown as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = v;
    }
    return out;
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

export const silentLogger: Logger = createLogger('error', () => {});

/**
 * At most one line per key per interval, for routine, self-healing events
 * (a retried insert, a broker connection refused during a restart): the
 * first line of a burst is written, the rest are counted, and the next line
 * written says how many were held back. Error level is kept for what a
 * person must act on; a flood of identical warnings hides that.
 */
export class LogRateLimit {
  private readonly seen = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** undefined: hold this line back; otherwise extra fields for the line ({ suppressed } when some were held back). */
  admit(key: string): Record<string, number> | undefined {
    const t = this.now();
    const s = this.seen.get(key);
    if (s && t - s.at < this.intervalMs) {
      s.suppressed++;
      return undefined;
    }
    if (this.seen.size > 10_000) this.seen.clear(); // keys are partitions and messages: bounded, but never trust that
    this.seen.set(key, { at: t, suppressed: 0 });
    return s && s.suppressed > 0 ? { suppressed: s.suppressed } : {};
  }
}

/**
 * Counts of events by label set between two summaries: dead letters are
 * counted by metrics and summarised in the log once a period, instead of one
 * warn line per batch that held one (8,987 lines for 0.1 % bad records in a
 * 20-minute soak).
 */
export class EventTally {
  private counts = new Map<string, { labels: Record<string, string>; count: number }>();

  add(labels: Record<string, string>, n = 1): void {
    const key = JSON.stringify(labels);
    const e = this.counts.get(key);
    if (e) e.count += n;
    else this.counts.set(key, { labels, count: n });
  }

  /** What was counted since the last drain, and start over. */
  drain(): Array<Record<string, string | number>> {
    const out = [...this.counts.values()].map((e) => ({ ...e.labels, count: e.count }));
    this.counts = new Map();
    return out;
  }
}
