/**
 * replay-letters — reading a dead letter back, and the headers it carries
 * when it is produced again.
 *
 * Contract: pure, no I/O. `toLetter` turns a fetched record into a Letter
 * (its sluice headers parsed, undefined when it has none); `retryHeaders`
 * is what a letter that failed again carries (the new error and time, one
 * more `sluice.replay.attempts`, the rest kept); `sourceHeaders` strips
 * every `sluice.*` header, for republishing to the source topic.
 */
import type { IHeaders, KafkaMessage } from 'kafkajs';
import type { SourceRecord } from '../kafka/record.js';
import { VERSION } from '../version.js';
import { HEADER, parseDeadLetterHeaders, truncateUtf8, type DeadLetterInfo } from './dead-letters.js';

/** Counts how often `sluice replay` re-dead-lettered a letter (absent on a letter the sink wrote). */
export const REPLAY_ATTEMPTS_HEADER = HEADER.replayAttempts;

/** One record of the dead-letter topic, as read. */
export interface Letter {
  readonly record: SourceRecord & { readonly headers: IHeaders };
  /** undefined: the record carries no sluice headers. */
  readonly info: DeadLetterInfo | undefined;
}

export interface Failure {
  readonly letter: Letter;
  readonly errorClass: string;
  readonly code: number | undefined;
  readonly message: string;
}

export function toLetter(m: KafkaMessage): Letter {
  const headers = m.headers ?? {};
  return {
    record: { offset: Number(m.offset), timestamp: Number(m.timestamp), key: m.key, value: m.value, headers },
    info: parseDeadLetterHeaders(headers),
  };
}

export function replayAttempts(headers: IHeaders | undefined): number {
  const v = headers?.[REPLAY_ATTEMPTS_HEADER];
  const n = Number((Array.isArray(v) ? v[0] : v)?.toString() ?? '0');
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/** The headers of a letter that failed again: the new error and time, one more attempt; the rest kept. */
export function retryHeaders(headers: IHeaders, f: { errorClass: string; code: number | undefined; message: string }, failedAt: string): IHeaders {
  return {
    ...headers,
    [HEADER.errorClass]: f.errorClass,
    [HEADER.errorCode]: f.code === undefined ? '' : String(f.code),
    [HEADER.errorMessage]: truncateUtf8(f.message, 1000),
    [HEADER.version]: VERSION,
    [HEADER.failedAt]: failedAt,
    [REPLAY_ATTEMPTS_HEADER]: String(replayAttempts(headers) + 1),
  };
}

/** The record's own headers, as its producer wrote them: every `sluice.*` one removed. */
export function sourceHeaders(headers: IHeaders): IHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !k.startsWith('sluice.')));
}
