/**
 * clickhouse-errors: the one place that reads ClickHouse error text. A wrong
 * verdict either dead-letters rows that a retry would have written (transient
 * read as data) or retries forever what a retry cannot fix (data read as
 * transient), so each class is pinned with real server messages — 18.16
 * (what the tests run against) and 23.x (what users run) — fed through
 * @clickhouse/client's own parseError, as the writer receives them.
 */
import { parseError } from '@clickhouse/client';
import { describe, expect, it } from 'vitest';
import { classifyClickHouseError } from '../../../src/clickhouse/errors.js';
import { ClickHouseError } from '../../../src/errors.js';

// 18.16 answers with "Code: N, e.displayText() = DB::Exception: …, e.what() = DB::Exception".
const v18 = (code: number, text: string) => `Code: ${code}, e.displayText() = DB::Exception: ${text}, e.what() = DB::Exception\n`;
// 19+ answers with "Code: N. DB::Exception: … (NAME) (version …)".
const v23 = (code: number, text: string, name: string) => `Code: ${code}. DB::Exception: ${text}. (${name}) (version 23.8.9.54 (official build))\n`;

/** What the writer catches: the client's parse of the response body. */
const fromServer = (body: string) => classifyClickHouseError(parseError(body));

describe('classifyClickHouseError: ClickHouse 18.16 messages', () => {
  it('Code 27 parse failure → data, code 27, row 2', () => {
    const body =
      'Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected " before: x","s":"b"}\\n: (while read the value of key id): (at row 2)\n, e.what() = DB::Exception\n';
    const e = fromServer(body);
    expect(e).toBeInstanceOf(ClickHouseError);
    expect(e.kind).toBe('data');
    expect(e.code).toBe(27);
    expect(e.row).toBe(2);
    expect(e.retriable).toBe(false);
    // One line, for logs and dead-letter headers.
    expect(e.message).not.toContain('\n');
    expect(e.message).toContain('Code: 27');
  });

  it('Code 117 unknown field → data, row 1', () => {
    const e = fromServer(v18(117, 'Unknown field found while parsing JSONEachRow format: zzz: (at row 1)\n'));
    expect([e.kind, e.code, e.row]).toEqual(['data', 117, 1]);
  });

  it.each([
    [6, 'Cannot parse string \'abc\' as UInt64: syntax error at begin of string: (at row 3)\n'],
    [26, 'Cannot parse quoted string: expected opening quote: (at row 1)\n'],
    [38, 'Cannot parse date: value is too short: (at row 4)\n'],
    [41, 'Cannot parse datetime: (at row 5)\n'],
    [53, 'Type mismatch in IN or VALUES section: (at row 1)\n'],
    [72, 'Cannot parse number: (at row 1)\n'],
  ])('Code %i → data', (code, text) => {
    const e = fromServer(v18(code, text));
    expect(e.kind).toBe('data');
    expect(e.code).toBe(code);
    expect(e.row).toBeGreaterThan(0);
  });

  it('Code 60 missing table → fatal (an operator must act), retriable at the slow pace', () => {
    const e = fromServer(v18(60, "Table default.x doesn't exist."));
    expect([e.kind, e.code, e.row]).toEqual(['fatal', 60, undefined]);
    expect(e.retriable).toBe(true);
  });

  it.each([
    [81, "Database nope doesn't exist"],
    [16, 'There is no column with name zz in table'],
    [164, 'Cannot execute query in readonly mode'],
    [192, 'Unknown user writer'],
    [193, 'Wrong password for user default'],
    [194, 'Password required for user default'],
    [195, 'User default is not allowed to connect from address 10.0.0.1'],
    [115, 'Unknown setting insert_deduplication_token'],
    [73, 'Unknown format JSONEachRows'],
  ])('Code %i → fatal', (code, text) => {
    const e = fromServer(v18(code, text));
    expect(e.kind).toBe('fatal');
    expect(e.code).toBe(code);
    expect(e.retriable).toBe(true);
  });

  it.each([
    [252, 'Too many parts (300). Merges are processing significantly slower than inserts.'],
    [241, 'Memory limit (for query) exceeded: would use 9.32 GiB (attempt to allocate chunk of 4194304 bytes), maximum: 9.31 GiB'],
    [202, 'Too many simultaneous queries. Maximum: 100'],
    [159, 'Timeout exceeded: elapsed 60.1 seconds, maximum: 60'],
    [210, 'Connection reset by peer'],
    [242, 'Table is in readonly mode'],
    [999, 'Some code the sink has never heard of'],
  ])('Code %i → transient (unknown codes too)', (code, text) => {
    const e = fromServer(v18(code, text));
    expect(e.kind).toBe('transient');
    expect(e.code).toBe(code);
    expect(e.retriable).toBe(true);
  });
});

describe('classifyClickHouseError: ClickHouse 23.x messages', () => {
  it('Code 27 CANNOT_PARSE_INPUT_ASSERTION_FAILED → data, with the row', () => {
    const body =
      "Code: 27. DB::Exception: Cannot parse input: expected '\"' before: 'x\",\"s\":\"b\"}\\n': (while reading the value of key id): (at row 2)\n: While executing ParallelParsingBlockInputFormat. (CANNOT_PARSE_INPUT_ASSERTION_FAILED) (version 23.8.9.54 (official build))\n";
    const parsed = parseError(body);
    // The client strips "Code: 27" from the message and keeps it as a string property.
    expect((parsed as { code?: string }).code).toBe('27');
    expect(parsed.message).not.toContain('Code:');
    const e = classifyClickHouseError(parsed);
    expect([e.kind, e.code, e.row]).toEqual(['data', 27, 2]);
  });

  it('Code 117 INCORRECT_DATA → data', () => {
    const e = fromServer(v23(117, 'Unknown field found while parsing JSONEachRow format: zzz: (at row 1)\n', 'INCORRECT_DATA'));
    expect([e.kind, e.code, e.row]).toEqual(['data', 117, 1]);
  });

  it('Code 349 CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN → data', () => {
    const e = fromServer(v23(349, 'Cannot insert NULL value into a column of type \'String\' at index 0: (at row 7)\n', 'CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN'));
    expect([e.kind, e.code, e.row]).toEqual(['data', 349, 7]);
  });

  it('Code 60 UNKNOWN_TABLE → fatal', () => {
    expect(fromServer(v23(60, 'Table default.x does not exist', 'UNKNOWN_TABLE')).kind).toBe('fatal');
  });

  it('Code 516 AUTHENTICATION_FAILED → fatal', () => {
    const e = fromServer(v23(516, 'default: Authentication failed: password is incorrect, or there is no user with such name', 'AUTHENTICATION_FAILED'));
    expect([e.kind, e.code]).toEqual(['fatal', 516]);
  });

  it('Code 497 ACCESS_DENIED → fatal', () => {
    expect(fromServer(v23(497, 'writer: Not enough privileges. To execute this query, it\'s necessary to have the grant INSERT ON default.x', 'ACCESS_DENIED')).kind).toBe('fatal');
  });

  it('Code 252 TOO_MANY_PARTS / 241 MEMORY_LIMIT_EXCEEDED / 202 TOO_MANY_SIMULTANEOUS_QUERIES → transient', () => {
    expect(fromServer(v23(252, 'Too many parts (3001 with average size of 1.2 MiB) in table', 'TOO_MANY_PARTS')).kind).toBe('transient');
    expect(fromServer(v23(241, 'Memory limit (total) exceeded: would use 3.5 GiB', 'MEMORY_LIMIT_EXCEEDED')).kind).toBe('transient');
    expect(fromServer(v23(202, 'Too many simultaneous queries. Maximum: 100', 'TOO_MANY_SIMULTANEOUS_QUERIES')).kind).toBe('transient');
  });

  it('reads the code from the client error even when the message lacks it', () => {
    const err = Object.assign(new Error('Too many parts'), { code: '252', type: 'TOO_MANY_PARTS' });
    expect(classifyClickHouseError(err)).toMatchObject({ kind: 'transient', code: 252 });
    const data = Object.assign(new Error('Cannot parse input (at row 4)'), { code: '27', type: 'CANNOT_PARSE_INPUT_ASSERTION_FAILED' });
    expect(classifyClickHouseError(data)).toMatchObject({ kind: 'data', code: 27, row: 4 });
  });
});

describe('classifyClickHouseError: no server answer', () => {
  it.each([
    'connect ECONNREFUSED 127.0.0.1:8123',
    'socket hang up',
    'read ECONNRESET',
    'Timeout error.',
    'getaddrinfo ENOTFOUND clickhouse',
    '502 Bad Gateway',
    '503 Service Unavailable',
  ])('%s → transient, no code', (message) => {
    const e = classifyClickHouseError(new Error(message));
    expect(e.kind).toBe('transient');
    expect(e.code).toBeUndefined();
    expect(e.row).toBeUndefined();
    expect(e.retriable).toBe(true);
  });

  it('a Node system error (string code like ECONNREFUSED) is transient, not a server code', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED', errno: -111 });
    const e = classifyClickHouseError(err);
    expect(e.kind).toBe('transient');
    expect(e.code).toBeUndefined();
  });

  it('an HTTP 401/403 from a proxy (no ClickHouse code) → fatal', () => {
    expect(classifyClickHouseError(new Error('401 Unauthorized')).kind).toBe('fatal');
    expect(classifyClickHouseError(new Error('HTTP 403 Forbidden')).kind).toBe('fatal');
  });

  it('a thrown non-Error is classified from its text', () => {
    expect(classifyClickHouseError('connect ECONNREFUSED 127.0.0.1:8123').kind).toBe('transient');
    expect(classifyClickHouseError(v18(27, 'x (at row 9)\n'))).toMatchObject({ kind: 'data', code: 27, row: 9 });
    expect(classifyClickHouseError(undefined).kind).toBe('transient');
  });
});

describe('classifyClickHouseError: the result', () => {
  it('passes a ClickHouseError through unchanged (classified once)', () => {
    const e = new ClickHouseError('data', 'x', 27, 3);
    expect(classifyClickHouseError(e)).toBe(e);
  });

  it('keeps the original error as the cause', () => {
    const raw = new Error('socket hang up');
    expect(classifyClickHouseError(raw).cause).toBe(raw);
  });

  it('keeps messages short: first line, at most 500 characters', () => {
    const e = fromServer(v18(27, 'x'.repeat(5000) + ' (at row 1)\nsecond line'));
    expect(e.message.length).toBeLessThanOrEqual(500);
    expect(e.message).not.toContain('\n');
    // The row is read from the whole text, not the shortened message.
    expect(e.row).toBe(1);
  });

  it('has the retriable verdict of its kind: data no, transient and fatal yes', () => {
    expect(fromServer(v18(27, 'x (at row 1)\n')).retriable).toBe(false);
    expect(fromServer(v18(252, 'Too many parts')).retriable).toBe(true);
    expect(fromServer(v18(60, 'no table')).retriable).toBe(true);
  });
});
