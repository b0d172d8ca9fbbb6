/**
 * json — the JSON record decoder: one pass over a record's value bytes into
 * one RowBinary row (see decoder.ts for the row contract).
 *
 * Contract: the value must be exactly one JSON object (surrounding
 * whitespace allowed). Anything else — an array, a scalar, two objects,
 * trailing bytes, invalid JSON, invalid UTF-8 or a lone surrogate in a
 * string, a duplicate key (18.16 refuses those too), nesting deeper than
 * `maxDepth` — is a bad record with a reason; zero or two rows never
 * happen. Work is linear in the bytes and nothing recurses on the input,
 * so a hostile record cannot crash or stall the sink.
 *
 * Keys are matched to columns by their bytes (no JS string per key): the
 * column the previous record had at the same key position is tried first,
 * a hit for records whose keys come in a stable order (any order). Unknown
 * keys are skipped (validated) and returned by name in the outcome (the
 * first MAX_UNKNOWN), or refuse the record in strict mode; keys naming a
 * Kafka metadata column (schema.filled) are skipped in every mode. Values are
 * written where they are met; when the keys were not in column order (or a
 * column was absent), the row is put in column order with one copy at the
 * end.
 *
 * Nested: a table's `n Nested(x T, y U)` column is `n.x Array(T)` and
 * `n.y Array(U)` in system.columns (the default flatten_nested), and the
 * record must carry it the same way ClickHouse's JSONEachRow wants it:
 * keys "n.x" and "n.y" holding arrays (a key "n" holding an array of
 * objects is refused as unknown by both 18.16 and 26.x, and is an unknown
 * field here too). The arrays of one Nested must have equal lengths (an
 * absent one counts as empty): the server refuses the whole INSERT
 * otherwise, so sluice refuses that record alone. A table made with
 * flatten_nested = 0 shows one `n Nested(x T, y U)` column instead; that is
 * an array of named tuples, and takes `"n": [{"x": …, "y": …}, …]` (26.x,
 * checked in chdb).
 */
import { bad, OK, requiresField, type DecodeOutcome, type MissingPolicy, type RowDecoder, type RowLayout, type TableSchema } from './decoder.js';
import { COLON, COMMA, JsonCursor, LBRACE, QUOTE, RBRACE } from './json-cursor.js';
import { readVarUInt, RowWriter } from './row-writer.js';
import type { Codec } from './codecs/index.js';

/** Unknown field names reported per record: a hostile record with a million keys must not make a million strings. */
export const MAX_UNKNOWN = 1000;

export interface JsonDecoderOptions {
  readonly layout: RowLayout;
  /** Refuse records with fields the table has no column for (default: skip and report them). */
  readonly strict?: boolean;
  /** See MissingPolicy (default 'default', what the server does). */
  readonly missing?: MissingPolicy;
  /** Deepest nesting of arrays/objects accepted in a record (default 64). */
  readonly maxDepth?: number;
}

export class JsonDecoder implements RowDecoder {
  readonly layout: RowLayout;
  private readonly strict: boolean;
  private readonly missing: MissingPolicy;
  private readonly c: JsonCursor;
  private readonly n: number;
  private readonly codecs: Codec[];
  private readonly names: Buffer[];
  /** The name has no byte JSON must escape ('"', '\\', control bytes): its raw bytes are its JSON key. */
  private readonly plainName: boolean[];
  /** Column indexes by name length (names up to 255 bytes); longer names and escaped keys go through byName. */
  private readonly byLen: number[][] = [];
  private readonly byName = new Map<string, number>();
  private readonly computed: Set<string>;
  /** Kafka metadata columns (schema.filled): a payload field of that name is skipped, even in strict mode. */
  private readonly filled: Set<string>;
  private readonly withDefaults: boolean;
  private readonly requires: boolean[];
  private readonly hasDefault: boolean[];
  /** Per column: start and end of its bytes in the writer; stamp === gen marks "written in this row". */
  private readonly colStart: Int32Array;
  private readonly colEnd: Int32Array;
  private readonly stamp: Uint32Array;
  /** seen[i] === gen: the record had a field for column i (duplicates are refused). */
  private readonly seen: Uint32Array;
  private gen = 0;
  /** Groups of Nested member columns (two or more Arrays sharing a prefix). */
  private readonly nested: number[][];
  private readonly reorder = new RowWriter(1024);
  /** Column index of the k-th key of the previous record (-1: unknown key): the first guess for this record's k-th key. */
  private readonly lastOrder: Int32Array;
  private keyNo = 0;

  constructor(readonly schema: TableSchema, opts: JsonDecoderOptions) {
    this.layout = opts.layout;
    this.withDefaults = opts.layout === 'RowBinaryWithDefaults';
    this.strict = opts.strict ?? false;
    this.missing = opts.missing ?? 'default';
    this.c = new JsonCursor(opts.maxDepth ?? 64);
    const cols = schema.columns;
    this.n = cols.length;
    this.codecs = cols.map((c) => c.codec);
    this.names = cols.map((c) => Buffer.from(c.name, 'utf8'));
    this.plainName = this.names.map((b) => b.every((x) => x >= 0x20 && x !== QUOTE && x !== 0x5c));
    this.requires = cols.map((c) => requiresField(c));
    this.hasDefault = cols.map((c) => c.hasDefaultExpression);
    this.names.forEach((b, i) => {
      this.byName.set(cols[i]!.name, i);
      if (b.length < 256) (this.byLen[b.length] ??= []).push(i);
    });
    this.computed = new Set(schema.computed);
    this.filled = new Set(schema.filled ?? []);
    this.colStart = new Int32Array(this.n);
    this.colEnd = new Int32Array(this.n);
    this.stamp = new Uint32Array(this.n);
    this.seen = new Uint32Array(this.n);
    this.lastOrder = new Int32Array(Math.max(64, this.n * 2)).fill(-1);
    const groups = new Map<string, number[]>();
    cols.forEach((c, i) => {
      const dot = c.name.indexOf('.');
      if (dot > 0 && c.type.kind === 'array') {
        const g = groups.get(c.name.slice(0, dot)) ?? [];
        g.push(i);
        groups.set(c.name.slice(0, dot), g);
      }
    });
    this.nested = [...groups.values()].filter((g) => g.length > 1);
  }

  decode(value: Uint8Array, out: RowWriter, start = 0, end = value.length): DecodeOutcome {
    const c = this.c;
    const mark = out.mark();
    c.reset(value, start, end);
    this.keyNo = 0;
    if (++this.gen === 0xffffffff) { this.stamp.fill(0); this.seen.fill(0); this.gen = 1; }
    const gen = this.gen;
    let unknown: string[] | undefined;
    let inOrder = true;
    let next = 0; // column index expected next if the row is in order

    const first = c.ws();
    if (first !== LBRACE) {
      if (first < 0) return this.fail(out, mark, unknown, undefined, 'empty record (no JSON value)');
      return this.fail(out, mark, unknown, undefined, `not a JSON object (starts with ${JSON.stringify(String.fromCharCode(first))})`);
    }
    c.pos++;
    let b = c.ws();
    if (b === RBRACE) c.pos++;
    else {
      for (;;) {
        if (b !== QUOTE) return this.fail(out, mark, unknown, undefined, b < 0 ? 'unexpected end of input' : `expected a key at byte ${c.pos - start}`);
        let idx = this.expectedKey();
        if (idx < 0) {
          if (!c.scanString()) return this.fail(out, mark, unknown, undefined, c.error);
          idx = this.lookup();
        }
        if (c.ws() !== COLON) return this.fail(out, mark, unknown, undefined, `expected ':' at byte ${c.pos - start}`);
        c.pos++;
        if (c.ws() < 0) return this.fail(out, mark, unknown, undefined, 'unexpected end of input');
        if (idx < 0) {
          const name = this.keyName();
          if (this.filled.has(name)) {
            // Filled from the Kafka record (metadata.ts): the payload's value is ignored.
          } else if (!this.computed.has(name)) {
            if (this.strict) {
              // Reported as unknown too: schema drift is counted, and the caller may read the schema again.
              (unknown ??= []).push(name);
              return this.fail(out, mark, unknown, undefined, `field ${JSON.stringify(name)} is not a column of the table (strict mode)`);
            }
            if ((unknown ??= []).length < MAX_UNKNOWN) unknown.push(name);
          } else if (this.strict) return this.fail(out, mark, unknown, name, 'column is computed by the server (MATERIALIZED/ALIAS/EPHEMERAL) and cannot be written');
          if (!c.skipValue()) return this.fail(out, mark, unknown, undefined, c.error);
        } else {
          if (this.seen[idx] === gen) return this.fail(out, mark, unknown, this.schema.columns[idx]!.name, 'duplicate field');
          this.seen[idx] = gen;
          const codec = this.codecs[idx]!;
          if (!codec.nullable && c.takeNull()) {
            // null in a non-Nullable column: as if absent (filled in below).
          } else {
            this.stamp[idx] = gen;
            if (idx !== next) inOrder = false;
            next = idx + 1;
            this.colStart[idx] = out.pos;
            if (this.withDefaults) out.u8(0);
            const r = codec.json(c, out);
            if (r !== undefined) return this.fail(out, mark, unknown, this.schema.columns[idx]!.name, r);
            this.colEnd[idx] = out.pos;
          }
        }
        b = c.ws();
        if (b === COMMA) { c.pos++; b = c.ws(); continue; }
        if (b === RBRACE) { c.pos++; break; }
        return this.fail(out, mark, unknown, undefined, b < 0 ? 'unexpected end of input' : `expected , or } at byte ${c.pos - start}`);
      }
    }
    if (c.ws() >= 0) return this.fail(out, mark, unknown, undefined, `trailing data after the JSON object at byte ${c.pos - start}`);

    // Absent fields (and nulls in non-Nullable columns).
    for (let i = 0; i < this.n; i++) {
      if (this.stamp[i] === gen) continue;
      if (this.missing === 'reject' && this.requires[i]) return this.fail(out, mark, unknown, this.schema.columns[i]!.name, 'missing field (the column has no DEFAULT and is not Nullable)');
      if (i !== next) inOrder = false;
      next = i + 1;
      this.colStart[i] = out.pos;
      if (this.withDefaults && this.hasDefault[i]) out.u8(1);
      else {
        if (this.withDefaults) out.u8(0);
        this.codecs[i]!.zero(out);
      }
      this.colEnd[i] = out.pos;
    }

    if (this.nested.length > 0) {
      const r = this.checkNested(out);
      if (r !== undefined) return this.fail(out, mark, unknown, r[0], r[1]);
    }
    if (!inOrder) this.putInOrder(out, mark);
    return unknown ? { ok: true, unknown } : OK;
  }

  /** Rolls the row back; no closure for it in decode, so a good record allocates nothing. */
  private fail(out: RowWriter, mark: number, unknown: string[] | undefined, column: string | undefined, reason: string): DecodeOutcome {
    out.rollback(mark);
    return bad(column, reason, unknown ?? OK.unknown);
  }

  /**
   * The hot path for keys: if the key at c.pos (a '"') is byte for byte the
   * name the previous record had at this position, followed by '"', it is
   * that column, with no separate scan (a column name is valid UTF-8 and,
   * when `plainNames`, holds no byte JSON would escape). Returns -1 otherwise,
   * leaving c.pos alone for the full scan.
   */
  private expectedKey(): number {
    const k = this.keyNo;
    if (k >= this.lastOrder.length) return -1;
    const p = this.lastOrder[k]!;
    if (p < 0 || !this.plainName[p]) return -1;
    const c = this.c;
    const name = this.names[p]!;
    const len = name.length;
    const at = c.pos + 1;
    if (at + len >= c.end || c.buf[at + len] !== QUOTE || !same(name, c.buf, at, len)) return -1;
    this.keyNo = k + 1;
    c.pos = at + len + 1;
    return p;
  }

  /** The column index of the key just scanned, or -1. */
  private lookup(): number {
    const c = this.c;
    if (c.sEscaped) { this.keyNo++; return this.byName.get(this.keyName()) ?? -1; }
    const buf = c.buf;
    const s = c.sStart;
    const len = c.sEnd - s;
    const k = this.keyNo++;
    if (k < this.lastOrder.length) {
      const p = this.lastOrder[k]!;
      if (p >= 0 && this.names[p]!.length === len && same(this.names[p]!, buf, s, len)) return p;
      const i = this.search(buf, s, len);
      this.lastOrder[k] = i;
      return i;
    }
    return this.search(buf, s, len);
  }

  private search(buf: Uint8Array, s: number, len: number): number {
    const cands = len < 256 ? this.byLen[len] : undefined;
    if (cands) {
      for (let k = 0; k < cands.length; k++) {
        const i = cands[k]!;
        if (same(this.names[i]!, buf, s, len)) return i;
      }
      return -1;
    }
    return len < 256 ? -1 : this.byName.get(this.keyName()) ?? -1;
  }

  /** The key just scanned as a JS string (unknown fields, escaped keys: off the hot path). */
  private keyName(): string {
    const c = this.c;
    if (!c.sEscaped) return Buffer.from(c.buf.buffer, c.buf.byteOffset + c.sStart, c.sEnd - c.sStart).toString('utf8');
    const w = this.reorder;
    w.pos = 0;
    c.unescape(w);
    return w.buf.toString('utf8', 0, w.pos);
  }

  private checkNested(out: RowWriter): [string, string] | undefined {
    const skip = this.withDefaults ? 1 : 0;
    for (const g of this.nested) {
      let len = -1;
      for (const i of g) {
        let n: number;
        // An absent member with a DEFAULT expression: its length is the server's to decide.
        if (this.withDefaults && out.buf[this.colStart[i]!] === 1) continue;
        n = readVarUInt(out.buf, this.colStart[i]! + skip);
        if (len < 0) len = n;
        else if (n !== len) {
          const names = g.map((j) => this.schema.columns[j]!.name).join(', ');
          return [this.schema.columns[i]!.name, `arrays of one Nested structure (${names}) have different lengths`];
        }
      }
    }
    return undefined;
  }

  /** Rewrites the row at [mark, out.pos) with its columns in schema order. */
  private putInOrder(out: RowWriter, mark: number): void {
    const tmp = this.reorder;
    tmp.pos = 0;
    tmp.bytes(out.buf, mark, out.pos);
    out.rollback(mark);
    const src = tmp.buf;
    for (let i = 0; i < this.n; i++) out.bytes(src, this.colStart[i]! - mark, this.colEnd[i]! - mark);
  }
}

function same(name: Buffer, buf: Uint8Array, s: number, len: number): boolean {
  for (let j = 0; j < len; j++) if (name[j] !== buf[s + j]) return false;
  return true;
}
