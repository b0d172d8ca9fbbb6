/**
 * clickhouse-errors — turn whatever a ClickHouse request threw into a
 * ClickHouseError with a kind (transient / data / fatal), the server's error
 * code and the "at row N" position when the server gave one.
 *
 * Contract: pure, no I/O. The only place that reads ClickHouse error text.
 * Unknown codes count as transient: retrying something that will never work
 * stalls one partition visibly (lag, retries metric, readiness), while
 * dead-lettering something that would have worked loses the guarantee that
 * transient failures are never dead-lettered (DESIGN.md, invariant 4).
 */
import { ClickHouseError } from '../errors.js';

// The row's content is wrong: parse failures, type mismatches, unknown
// fields, values out of range. Names from ClickHouse's ErrorCodes.cpp.
const DATA_CODES = new Set([
  6, // CANNOT_PARSE_TEXT
  25, // CANNOT_PARSE_ESCAPE_SEQUENCE
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  32, // ATTEMPT_TO_READ_AFTER_EOF
  33, // CANNOT_READ_ALL_DATA
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  53, // TYPE_MISMATCH
  62, // SYNTAX_ERROR (malformed JSON in the body)
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA (e.g. unknown field in JSONEachRow)
  131, // TOO_LARGE_STRING_SIZE
  190, // SIZES_OF_ARRAYS_DOESNT_MATCH
  349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
  376, // CANNOT_PARSE_UUID (a bad UUID in JSONEachRow; was retried forever)
  395, // FUNCTION_THROW_IF_VALUE_IS_NON_ZERO (CHECK-like guards in defaults)
  469, // VIOLATED_CONSTRAINT
  691, // UNKNOWN_ELEMENT_OF_ENUM (newer servers)
]);

// Nothing will change until an operator acts: credentials, missing table or
// database, permissions, a setting the server does not know.
// Not listed, so transient: 1001 STD_EXCEPTION, which can be a bad_alloc
// under memory pressure (invalid UTF-8, its other common cause, is caught
// before the insert by formats/encoder.ts precheck).
const FATAL_CODES = new Set([
  16, // NO_SUCH_COLUMN_IN_TABLE
  47, // UNKNOWN_IDENTIFIER
  60, // UNKNOWN_TABLE
  73, // UNKNOWN_FORMAT
  81, // UNKNOWN_DATABASE
  115, // UNKNOWN_SETTING
  164, // READONLY (the user may not write)
  192, // UNKNOWN_USER
  193, // WRONG_PASSWORD
  194, // REQUIRED_PASSWORD
  195, // IP_ADDRESS_NOT_ALLOWED
  497, // ACCESS_DENIED
  516, // AUTHENTICATION_FAILED
]);

/** "Code: 27, e.displayText() = …" (18.x) and "Code: 27. DB::Exception: …" (19+). */
const CODE_RE = /Code:\s*(\d+)/;
/** 18.x says "(at row 2)"; newer servers "(at row 2)" too, or "at row 2:" in nested text. */
const ROW_RE = /\(at row (\d+)\)/;

export function classifyClickHouseError(err: unknown): ClickHouseError {
  if (err instanceof ClickHouseError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const anyErr = err as { code?: unknown; type?: unknown } | null;
  // @clickhouse/client parses modern messages into { code: '27', type: '…' };
  // 18.x messages it leaves as a plain Error, hence the regex fallback.
  let code: number | undefined;
  if (anyErr && typeof anyErr.code === 'string' && /^\d+$/.test(anyErr.code)) code = Number(anyErr.code);
  if (code === undefined) {
    const m = CODE_RE.exec(message);
    if (m) code = Number(m[1]);
  }
  const rowMatch = ROW_RE.exec(message);
  const row = rowMatch ? Number(rowMatch[1]) : undefined;
  const short = message.split('\n')[0]!.slice(0, 500);

  if (code !== undefined) {
    if (DATA_CODES.has(code)) return new ClickHouseError('data', short, code, row, { cause: err });
    if (FATAL_CODES.has(code)) return new ClickHouseError('fatal', short, code, row, { cause: err });
    return new ClickHouseError('transient', short, code, row, { cause: err });
  }
  // No server code: the request never got a ClickHouse answer (refused,
  // reset, timed out, proxy error) — all worth retrying, except HTTP auth.
  if (/\b(401|403)\b/.test(message) && /unauthori[sz]ed|forbidden/i.test(message)) {
    return new ClickHouseError('fatal', short, undefined, undefined, { cause: err });
  }
  return new ClickHouseError('transient', short, undefined, undefined, { cause: err });
}
