/**
 * json-cursor — a position in one record's JSON bytes and the token readers
 * the JSON decoder and the codecs share.
 *
 * Contract: every reader starts at `pos` (after whitespace the caller skipped
 * with `ws()`), consumes exactly one token or value, and either leaves `pos`
 * just past it and returns true, or returns false with `error` set (the
 * record is then bad; the cursor is not used further). Strings are not
 * decoded: `scanString` validates one (escapes, surrogate pairs, UTF-8) and
 * records its content span and whether it had escapes; `unescape` writes
 * the decoded bytes only when someone needs them. `skipValue` validates and
 * skips any value with an explicit stack, so nesting depth is bounded by
 * `maxDepth` and the work is linear in the bytes: hostile records cannot
 * recurse the process to death or stall it.
 */
import { scanNumber } from './number-text.js';
import type { RowWriter } from './row-writer.js';

export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const COMMA = 0x2c;
export const COLON = 0x3a;
export const LBRACE = 0x7b;
export const RBRACE = 0x7d;
export const LBRACKET = 0x5b;
export const RBRACKET = 0x5d;

/** 1 for bytes a string's content can hold as they are: not '"', not '\\', ASCII. */
const PLAIN = new Uint8Array(256);
for (let i = 0; i < 0x80; i++) PLAIN[i] = i === QUOTE || i === BACKSLASH ? 0 : 1;

export class JsonCursor {
  buf: Uint8Array = Buffer.alloc(0);
  pos = 0;
  end = 0;
  error = '';
  /** Content of the last string scanned: [sStart, sEnd), raw (escapes not decoded). */
  sStart = 0;
  sEnd = 0;
  sEscaped = false;
  /** Container depth of codecs walking the value (arrays, maps, tuples). */
  depth = 0;
  private stack: Uint8Array;

  constructor(readonly maxDepth = 64) {
    this.stack = new Uint8Array(maxDepth + 1);
  }

  reset(buf: Uint8Array, start: number, end: number): void {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.error = '';
    this.depth = 0;
  }

  fail(why: string): false {
    this.error = why;
    return false;
  }

  /** Skips whitespace; returns the next byte, or -1 at the end. */
  ws(): number {
    const b = this.buf;
    let p = this.pos;
    const end = this.end;
    while (p < end) {
      const c = b[p]!;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
        this.pos = p;
        return c;
      }
      p++;
    }
    this.pos = p;
    return -1;
  }

  /** Consumes one expected byte after whitespace. */
  expect(ch: number, what: string): boolean {
    if (this.ws() !== ch) return this.fail(`expected ${what} at byte ${this.pos}`);
    this.pos++;
    return true;
  }

  /** `pos` at a '"': validates the string, records its content span, moves past it. */
  scanString(): boolean {
    const b = this.buf;
    const end = this.end;
    let p = this.pos + 1;
    this.sStart = p;
    let escaped = false;
    for (;;) {
      // Plain bytes are the common case: one table load per byte skips them.
      while (p + 4 <= end && (PLAIN[b[p]!]! & PLAIN[b[p + 1]!]! & PLAIN[b[p + 2]!]! & PLAIN[b[p + 3]!]!) === 1) p += 4;
      while (p < end && PLAIN[b[p]!] === 1) p++;
      if (p >= end) return this.fail('unterminated string');
      const c = b[p]!;
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        escaped = true;
        const e = b[p + 1];
        if (e === 0x75) {
          const cu = hex4(b, p + 2, end);
          if (cu < 0) return this.fail('bad \\u escape');
          p += 6;
          if (cu >= 0xd800 && cu <= 0xdbff) {
            const lo = b[p] === BACKSLASH && b[p + 1] === 0x75 ? hex4(b, p + 2, end) : -1;
            if (lo < 0xdc00 || lo > 0xdfff) return this.fail('lone surrogate in \\u escape');
            p += 6;
          } else if (cu >= 0xdc00 && cu <= 0xdfff) return this.fail('lone surrogate in \\u escape');
          continue;
        }
        if (e === QUOTE || e === BACKSLASH || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
          p += 2;
          continue;
        }
        return this.fail('bad escape in string');
      }
      if (c >= 0x80) {
        const n = utf8Seq(b, p, end);
        if (n === 0) return this.fail('invalid UTF-8 in string');
        p += n;
        continue;
      }
      p++;
    }
    this.sEnd = p;
    this.sEscaped = escaped;
    this.pos = p + 1;
    return true;
  }

  /** Writes the decoded content of the last scanned string; returns its byte length. */
  unescape(out: RowWriter): number {
    const b = this.buf;
    const start = out.pos;
    out.ensure(this.sEnd - this.sStart);
    for (let p = this.sStart; p < this.sEnd;) {
      const c = b[p]!;
      if (c !== BACKSLASH) {
        let q = p + 1;
        while (q < this.sEnd && b[q] !== BACKSLASH) q++;
        out.bytes(b, p, q);
        p = q;
        continue;
      }
      const e = b[p + 1]!;
      if (e === 0x75) {
        let cp = hex4(b, p + 2, this.sEnd);
        p += 6;
        if (cp >= 0xd800 && cp <= 0xdbff) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (hex4(b, p + 2, this.sEnd) - 0xdc00);
          p += 6;
        }
        writeCodePoint(out, cp);
        continue;
      }
      out.u8(e === 0x62 ? 8 : e === 0x66 ? 12 : e === 0x6e ? 10 : e === 0x72 ? 13 : e === 0x74 ? 9 : e);
      p += 2;
    }
    return out.pos - start;
  }

  /** `pos` at the start of a number: scans it (JSON grammar) into `num`. */
  scanNumber(): boolean {
    const p = scanNumber(this.buf, this.pos, this.end, true);
    if (p < 0) return this.fail(`bad number at byte ${this.pos}`);
    this.pos = p;
    return true;
  }

  /** Consumes `true`, `false` or `null` if it is next (after ws); false if another token is. */
  literal(word: 'true' | 'false' | 'null'): boolean {
    const b = this.buf;
    const p = this.pos;
    if (p + word.length > this.end) return false;
    for (let i = 0; i < word.length; i++) if (b[p + i] !== word.charCodeAt(i)) return false;
    this.pos = p + word.length;
    return true;
  }

  /** Whether the next value is the literal null (consumed if so). */
  takeNull(): boolean {
    return this.buf[this.pos] === 0x6e && this.literal('null');
  }

  /**
   * Validates and skips one value of any kind. Iterative: containers are
   * tracked on a fixed stack of maxDepth entries (1 = array, 2 = object).
   */
  skipValue(): boolean {
    const stack = this.stack;
    let sp = 0;
    for (;;) {
      // At a value.
      const c = this.ws();
      if (c === QUOTE) { if (!this.scanString()) return false; }
      else if (c === LBRACE || c === LBRACKET) {
        if (sp + this.depth >= this.maxDepth) return this.fail(`nested deeper than ${this.maxDepth}`);
        this.pos++;
        const close = this.ws();
        if (c === LBRACE) {
          if (close === RBRACE) { this.pos++; }
          else {
            stack[sp++] = 2;
            if (!this.objectKey()) return false;
            continue;
          }
        } else if (close === RBRACKET) { this.pos++; }
        else { stack[sp++] = 1; continue; }
      } else if (c === 0x74) { if (!this.literal('true')) return this.fail(`bad literal at byte ${this.pos}`); }
      else if (c === 0x66) { if (!this.literal('false')) return this.fail(`bad literal at byte ${this.pos}`); }
      else if (c === 0x6e) { if (!this.literal('null')) return this.fail(`bad literal at byte ${this.pos}`); }
      else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) { if (!this.scanNumber()) return false; }
      else return this.fail(c < 0 ? 'unexpected end of input' : `unexpected byte at ${this.pos}`);
      // After a value: close containers or move to the next element.
      for (;;) {
        if (sp === 0) return true;
        const top = stack[sp - 1]!;
        const d = this.ws();
        if (d === COMMA) {
          this.pos++;
          if (top === 2 && !this.objectKey()) return false;
          break;
        }
        if ((top === 1 && d === RBRACKET) || (top === 2 && d === RBRACE)) {
          this.pos++;
          sp--;
          continue;
        }
        return this.fail(d < 0 ? 'unexpected end of input' : `expected , or close at byte ${this.pos}`);
      }
    }
  }

  /** Inside an object: `"key" :` (then a value follows). */
  private objectKey(): boolean {
    if (this.ws() !== QUOTE) return this.fail(`expected a key at byte ${this.pos}`);
    if (!this.scanString()) return false;
    return this.expect(COLON, "':'");
  }

  /** A short excerpt of the input at [from, to) for reasons (never the whole value). */
  excerpt(from: number, to: number): string {
    const n = Math.min(to - from, 40);
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + from, n).toString('utf8');
    return n < to - from ? s + '…' : s;
  }
}

function hexVal(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

function hex4(b: Uint8Array, p: number, end: number): number {
  if (p + 4 > end) return -1;
  const a = hexVal(b[p]), c = hexVal(b[p + 1]), d = hexVal(b[p + 2]), e = hexVal(b[p + 3]);
  if ((a | c | d | e) < 0) return -1;
  return (a << 12) | (c << 8) | (d << 4) | e;
}

/** Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0 if invalid. */
export function utf8Seq(b: Uint8Array, p: number, end: number): number {
  const c = b[p]!;
  const cont = (i: number) => p + i < end && (b[p + i]! & 0xc0) === 0x80;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const c1 = b[p + 1]!;
    if (c === 0xe0 && c1 < 0xa0) return 0; // overlong
    if (c === 0xed && c1 >= 0xa0) return 0; // surrogates
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const c1 = b[p + 1]!;
    if (c === 0xf0 && c1 < 0x90) return 0;
    if (c === 0xf4 && c1 >= 0x90) return 0;
    return 4;
  }
  return 0;
}

export function writeCodePoint(out: RowWriter, cp: number): void {
  if (cp < 0x80) out.u8(cp);
  else if (cp < 0x800) { out.u8(0xc0 | (cp >> 6)); out.u8(0x80 | (cp & 0x3f)); }
  else if (cp < 0x10000) { out.u8(0xe0 | (cp >> 12)); out.u8(0x80 | ((cp >> 6) & 0x3f)); out.u8(0x80 | (cp & 0x3f)); }
  else { out.u8(0xf0 | (cp >> 18)); out.u8(0x80 | ((cp >> 12) & 0x3f)); out.u8(0x80 | ((cp >> 6) & 0x3f)); out.u8(0x80 | (cp & 0x3f)); }
}
