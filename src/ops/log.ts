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
