/**
 * errors — the typed failures sluice raises, each with a `retriable` verdict.
 *
 * Contract: every error that crosses a module boundary is a SluiceError with
 * a `kind` from one literal union. Callers decide what to do from `kind` and
 * `retriable` alone, never from message text (that parsing lives in
 * clickhouse/errors.ts, in one place).
 *
 *   config     bad or missing setting: fix the environment, restart
 *   transient  network, timeout, server overload: retry with backoff
 *   data       the rows' content was rejected: isolate, dead-letter
 *   fatal      credentials, unknown table/database: operator action needed;
 *              the sink keeps retrying slowly so a fix resumes the flow
 */
export type ErrorKind = 'config' | 'transient' | 'data' | 'fatal';

export class SluiceError extends Error {
  readonly kind: ErrorKind;
  /** Whether the same operation may succeed if simply tried again. */
  readonly retriable: boolean;

  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SluiceError';
    this.kind = kind;
    this.retriable = kind === 'transient' || kind === 'fatal';
  }
}

/** A setting is missing or malformed; `setting` names the env var. */
export class ConfigError extends SluiceError {
  readonly setting: string;
  constructor(setting: string, message: string) {
    super('config', `${setting}: ${message}`);
    this.name = 'ConfigError';
    this.setting = setting;
  }
}

/** A ClickHouse request failed; `code` is the server's error code when it gave one. */
export class ClickHouseError extends SluiceError {
  readonly code: number | undefined;
  /** 1-based row of the insert body the server pointed at ("at row N"), if any. */
  readonly row: number | undefined;
  constructor(kind: ErrorKind, message: string, code?: number, row?: number, options?: { cause?: unknown }) {
    super(kind, message, options);
    this.name = 'ClickHouseError';
    this.code = code;
    this.row = row;
  }
}

/** Raised by waits and retries when the sink is shutting down. */
export class AbortedError extends SluiceError {
  constructor(what: string) {
    super('transient', `${what}: aborted by shutdown`);
    this.name = 'AbortedError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A record sluice itself could not decode into a row of the table, found
 * before the insert; `row` is its 1-based position in the insert (as the
 * server's "at row N"), so the isolation treats it like a server rejection.
 */
export class InvalidRowError extends ClickHouseError {
  readonly column: string | undefined;
  constructor(column: string | undefined, message: string, row: number) {
    super('data', message, undefined, row);
    this.name = 'InvalidRowError';
    this.column = column;
  }
}
