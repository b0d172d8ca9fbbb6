/**
 * envelope — where a record's envelope values are, and reading them without
 * decoding the payload.
 *
 * An envelope is what producers put around an event so that consumers can
 * sort and measure it without opening it: routing values (type, source,
 * tenant…) and the time the event was accepted into the system. It comes
 * from Kafka record headers, from the record's Kafka timestamp, or from
 * the fields of a JSON envelope that wraps the payload
 * (`{"envelope": {...}, "payload": {...}}`, both paths configurable).
 *
 * Contract:
 *  - `parseFieldRef(text, allowed)` reads one field reference — `topic`,
 *    `kafka.timestamp`, `header.<name>`, `envelope.<path>`,
 *    `payload.<path>` (paths dotted) — and throws an Error saying what is
 *    wrong (config.ts names the variable).
 *  - `parseJsonEnvelope(text)` reads SLUICE_ENVELOPE_JSON
 *    (`<envelope path>:<payload path>`, e.g. `envelope:payload`).
 *  - `EnvelopeReader.text(ref, topic, record)` is the field's value as text
 *    (a JSON string unescaped, a number or boolean as written, an object
 *    or array as its JSON), undefined when the record has no such field.
 *    `time(ref, record)` is the value as epoch milliseconds: a number
 *    (above 1e11 milliseconds, else seconds, fractions kept) or an
 *    ISO-8601 text (`2026-11-28T10:00:00Z`, `2026-11-28 10:00:00.250`;
 *    UTC without a zone); undefined when absent or not a time. Neither decodes
 *    the payload: headers are read as they are, envelope fields are found
 *    by skipping (validating) the values before them.
 *  - `EnvelopeReader.payload(buf, start, end)` is the byte range of the
 *    payload inside a JSON-enveloped value, or a reason the value has none.
 *  - `envelopedDecoder(inner, reader)` is a RowDecoder that decodes only
 *    the payload of each value with `inner` (the typed-row seam): the row
 *    is the payload; a value without one is a bad record with a reason.
 * Header values: the first value of a repeated header; bytes as UTF-8.
 */
import type { SourceRecord } from '../kafka/record.js';
import { ChunkRecord } from '../kafka/record.js';
import { bad, type DecodeOutcome, type RowDecoder } from './decoder.js';
import { COLON, COMMA, JsonCursor, LBRACE, QUOTE, RBRACE } from './json-cursor.js';
import type { RowWriter } from './row-writer.js';

export type FieldSource = 'topic' | 'kafka' | 'header' | 'envelope' | 'payload';

export interface FieldRef {
  readonly source: FieldSource;
  /** The header name, or the dotted path split (empty for topic and kafka). */
  readonly path: readonly string[];
  /** As written, for messages. */
  readonly text: string;
}

const SOURCES: readonly FieldSource[] = ['topic', 'kafka', 'header', 'envelope', 'payload'];

export function parseFieldRef(text: string, allowed: readonly FieldSource[] = SOURCES): FieldRef {
  const t = text.trim();
  const dot = t.indexOf('.');
  const head = dot < 0 ? t : t.slice(0, dot);
  const rest = dot < 0 ? '' : t.slice(dot + 1);
  const forms = allowed.map((s) => (s === 'topic' ? 'topic' : s === 'kafka' ? 'kafka.timestamp' : `${s}.<${s === 'header' ? 'name' : 'path'}>`)).join(', ');
  let ref: FieldRef;
  if (head === 'topic' && rest === '') ref = { source: 'topic', path: [], text: t };
  else if (head === 'kafka' && rest === 'timestamp') ref = { source: 'kafka', path: [], text: t };
  else if (head === 'header' && rest !== '') ref = { source: 'header', path: [rest], text: t };
  else if ((head === 'envelope' || head === 'payload') && rest !== '') {
    const path = rest.split('.');
    if (path.some((p) => p === '')) throw new Error(`"${t}" has an empty path segment`);
    ref = { source: head, path, text: t };
  } else throw new Error(`"${t}" is not a field (write ${forms})`);
  if (!allowed.includes(ref.source)) throw new Error(`"${t}" cannot be used here (write ${forms})`);
  return ref;
}

export interface JsonEnvelope {
  readonly envelope: readonly string[];
  readonly payload: readonly string[];
}

export function parseJsonEnvelope(text: string): JsonEnvelope | undefined {
  const t = text.trim();
  if (t === '' || t === 'none') return undefined;
  const parts = t.split(':');
  const paths = parts.map((p) => p.trim().split('.'));
  if (parts.length !== 2 || paths.some((p) => p.some((s) => s === ''))) throw new Error(`"${t}" is not <envelope path>:<payload path> (e.g. envelope:payload)`);
  if (paths[0]!.join('.') === paths[1]!.join('.')) throw new Error(`"${t}": the envelope and the payload cannot be the same field`);
  return { envelope: paths[0]!, payload: paths[1]! };
}

/** A byte range of a value, or why there is none. */
type Found = { readonly ok: true; readonly start: number; readonly end: number } | { readonly ok: false; readonly reason: string };

const NOT_FOUND: Found = Object.freeze({ ok: false as const, reason: '' });

/** A path of object keys, with each key's UTF-8 bytes made once (compared with a record's key bytes). */
interface KeyPath {
  readonly names: readonly string[];
  readonly keys: readonly Buffer[];
}

const keyPath = (names: readonly string[]): KeyPath => ({ names, keys: names.map((n) => Buffer.from(n, 'utf8')) });

export class EnvelopeReader {
  private readonly c = new JsonCursor();
  private readonly payloadPath: KeyPath | undefined;
  /** Per field reference, its whole path in the value: made on first use, not per record. */
  private readonly paths = new WeakMap<FieldRef, KeyPath>();

  constructor(readonly json: JsonEnvelope | undefined) {
    this.payloadPath = json && keyPath(json.payload);
  }

  /** The payload's bytes inside a JSON-enveloped value. */
  payload(buf: Uint8Array, start: number, end: number): Found {
    const p = this.payloadPath!;
    const found = this.find(buf, start, end, p);
    if (!found.ok && found.reason === '') return { ok: false, reason: `the envelope has no payload field ${p.names.join('.')}` };
    return found;
  }

  text(ref: FieldRef, topic: string, record: SourceRecord): string | undefined {
    switch (ref.source) {
      case 'topic':
        return topic;
      case 'kafka':
        return String(record.timestamp);
      case 'header':
        return headerText(record.headers, ref.path[0]!);
      default: {
        const raw = this.raw(ref, record);
        return raw === undefined ? undefined : rawText(raw);
      }
    }
  }

  time(ref: FieldRef, record: SourceRecord): number | undefined {
    switch (ref.source) {
      case 'kafka':
        return record.timestamp;
      case 'header': {
        const t = headerText(record.headers, ref.path[0]!);
        return t === undefined ? undefined : parseTime(t);
      }
      case 'topic':
        return undefined;
      default: {
        const raw = this.raw(ref, record);
        if (raw === undefined) return undefined;
        return parseTime(raw[0] === QUOTE_CHAR ? rawText(raw) : raw);
      }
    }
  }

  /** The JSON text of an envelope or payload field, undefined when absent or null. */
  private raw(ref: FieldRef, record: SourceRecord): string | undefined {
    let buf: Uint8Array;
    let start: number;
    let end: number;
    if (record instanceof ChunkRecord) {
      if (record.valueStart < 0) return undefined;
      buf = record.chunk;
      start = record.valueStart;
      end = record.valueEnd;
    } else {
      if (!record.value) return undefined;
      buf = record.value;
      start = 0;
      end = buf.length;
    }
    let path = this.paths.get(ref);
    if (!path) {
      path = keyPath(this.json ? [...(ref.source === 'envelope' ? this.json.envelope : this.json.payload), ...ref.path] : ref.path);
      this.paths.set(ref, path);
    }
    const f = this.find(buf, start, end, path);
    if (!f.ok) return undefined;
    const text = Buffer.from(buf.buffer, buf.byteOffset + f.start, f.end - f.start).toString('utf8');
    return text === 'null' ? undefined : text;
  }

  /** The value at `path` of the JSON object in buf[start, end): its bytes, not-found (reason ''), or why the bytes are not such an object. */
  private find(buf: Uint8Array, start: number, end: number, path: KeyPath): Found {
    const c = this.c;
    c.reset(buf, start, end);
    for (let depth = 0; depth < path.keys.length; depth++) {
      if (c.ws() !== LBRACE) return depth === 0 ? { ok: false, reason: 'the value is not a JSON object' } : NOT_FOUND;
      c.pos++;
      const want = path.keys[depth]!;
      let found = false;
      if (c.ws() === RBRACE) return NOT_FOUND;
      for (;;) {
        if (c.ws() !== QUOTE || !c.scanString()) return { ok: false, reason: c.error || `expected a key at byte ${c.pos - start}` };
        const match = c.sEscaped ? JSON.parse(Buffer.from(buf.subarray(c.sStart - 1, c.sEnd + 1)).toString('utf8')) === path.names[depth] : sameBytes(buf, c.sStart, c.sEnd, want);
        if (c.ws() !== COLON) return { ok: false, reason: `expected ':' at byte ${c.pos - start}` };
        c.pos++;
        if (match) {
          found = true;
          break;
        }
        if (!c.skipValue()) return { ok: false, reason: c.error };
        const d = c.ws();
        if (d === COMMA) {
          c.pos++;
          continue;
        }
        if (d === RBRACE) return NOT_FOUND;
        return { ok: false, reason: `expected , or } at byte ${c.pos - start}` };
      }
      if (!found) return NOT_FOUND;
    }
    c.ws();
    const from = c.pos;
    if (!c.skipValue()) return { ok: false, reason: c.error };
    return { ok: true, start: from, end: c.pos };
  }
}

const QUOTE_CHAR = '"';

function sameBytes(buf: Uint8Array, from: number, to: number, want: Buffer): boolean {
  if (to - from !== want.length) return false;
  for (let i = 0; i < want.length; i++) if (buf[from + i] !== want[i]) return false;
  return true;
}

/** A JSON value's text: a string unescaped, anything else as written. */
function rawText(raw: string): string {
  if (raw[0] !== QUOTE_CHAR) return raw;
  return raw.indexOf('\\') < 0 ? raw.slice(1, -1) : (JSON.parse(raw) as string);
}

export function headerText(headers: Readonly<Record<string, unknown>> | undefined, name: string): string | undefined {
  if (!headers || !Object.prototype.hasOwnProperty.call(headers, name)) return undefined;
  let v = headers[name];
  if (Array.isArray(v)) v = v[0];
  if (v === undefined || v === null) return undefined;
  return v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.length).toString('utf8') : String(v);
}

const NUMBER = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

/** Epoch milliseconds from a number (ms above 1e11, else seconds) or an ISO-8601 text; undefined if neither. */
export function parseTime(text: string): number | undefined {
  const t = text.trim();
  if (NUMBER.test(t)) {
    const n = Number(t);
    if (!Number.isFinite(n) || n < 0) return undefined;
    return n >= 1e11 ? n : n * 1000;
  }
  // Date.parse takes more than ISO-8601; a date needs at least yyyy-mm-dd.
  // Without a zone the text is UTC (Date.parse would read the host's zone).
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?(Z|[+-]\d{2}:?\d{2})?$/.exec(t);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2] ?? '00:00:00'}${m[3] ?? 'Z'}`);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Decodes only the payload of each JSON-enveloped value (see the module contract). */
export function envelopedDecoder(inner: RowDecoder, reader: EnvelopeReader): RowDecoder {
  return {
    schema: inner.schema,
    layout: inner.layout,
    decode(value: Uint8Array, out: RowWriter, start = 0, end = value.length): DecodeOutcome {
      const p = reader.payload(value, start, end);
      if (!p.ok) return bad(undefined, `envelope: ${p.reason}`);
      return inner.decode(value, out, p.start, p.end);
    },
  };
}
