/**
 * map — Map(K, V) (26.x): a varint pair count, then key, value, key, value.
 *
 * Accepts a JSON object: each key is K's text form ("1" for a UInt8 key),
 * each value V's JSON; null is the empty map; a null value of a
 * non-Nullable V is V's zero. Duplicate keys are kept in order, as 26.x
 * keeps them.
 */
import { COMMA, QUOTE, RBRACE, type JsonCursor } from '../json-cursor.js';
import type { RowWriter } from '../row-writer.js';
import type { TypeNode } from '../types.js';
import { describe, scratchEnd, stringContent, tokenName, type Codec, type Reason } from './codec.js';

export class MapCodec implements Codec {
  readonly nullable = false;
  constructor(readonly type: TypeNode, private readonly key: Codec, private readonly val: Codec) {}

  json(c: JsonCursor, out: RowWriter): Reason {
    const b = c.buf[c.pos]!;
    if (b !== 0x7b) return `${tokenName(b)} is not a JSON object for ${this.type.text}`;
    if (++c.depth > c.maxDepth) return `nested deeper than ${c.maxDepth}`;
    c.pos++;
    const at = out.pos;
    out.u8(0);
    let n = 0;
    if (c.ws() === RBRACE) c.pos++;
    else {
      for (;;) {
        if (c.ws() !== QUOTE) return `expected a key at byte ${c.pos}`;
        if (!c.scanString()) return c.error;
        const r = c.sEscaped ? this.key.text(stringContent(c), 0, scratchEnd(), out) : this.key.text(c.buf, c.sStart, c.sEnd, out);
        if (r !== undefined) return `key: ${r}`;
        if (!c.expect(0x3a, "':'")) return c.error;
        c.ws();
        if (!this.val.nullable && c.takeNull()) this.val.zero(out);
        else {
          const rv = this.val.json(c, out);
          if (rv !== undefined) return rv;
        }
        n++;
        const d = c.ws();
        if (d === COMMA) { c.pos++; continue; }
        if (d === RBRACE) { c.pos++; break; }
        return `expected , or } at byte ${c.pos}`;
      }
    }
    c.depth--;
    out.patchLength(at, n);
    return undefined;
  }

  text(): Reason {
    return `a string is not a ${this.type.text}`;
  }

  value(v: unknown, out: RowWriter): Reason {
    if (v === null || v === undefined) { out.u8(0); return undefined; }
    const entries = v instanceof Map ? [...v.entries()] : typeof v === 'object' && !Array.isArray(v) ? Object.entries(v as object) : undefined;
    if (!entries) return `${describe(v)} is not a ${this.type.text}`;
    out.varuint(entries.length);
    for (const [k, x] of entries) {
      const r = this.key.value(k, out) ?? this.val.value(x, out);
      if (r !== undefined) return r;
    }
    return undefined;
  }

  zero(out: RowWriter): void {
    out.u8(0);
  }
}
