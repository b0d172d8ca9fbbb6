/**
 * tuple — Tuple(T1, T2, ...) and named Tuple(a T1, b T2, ...): the
 * elements one after the other, no prefix.
 *
 * Accepts a JSON array with exactly one value per element (both servers);
 * a named tuple also takes an object (26.x): elements by name, a missing
 * one gets its zero value, unknown names are ignored (as 26.x does).
 * Object keys can come in any order, so each element of the object form
 * is written into its own reusable buffer first and then copied in order.
 * null is the tuple of zero values (26.x; 18.16 refuses).
 */
import { COMMA, RBRACE, RBRACKET, QUOTE, type JsonCursor } from '../json-cursor.js';
import { RowWriter } from '../row-writer.js';
import type { TypeNode } from '../types.js';
import { describe, scratchEnd, stringContent, tokenName, type Codec, type Reason } from './codec.js';

export class TupleCodec implements Codec {
  readonly nullable = false;
  private readonly names: Buffer[] | undefined;
  private parts: RowWriter[] | undefined;
  private seen: Uint8Array | undefined;

  constructor(readonly type: Extract<TypeNode, { kind: 'tuple' }>, private readonly elements: readonly Codec[]) {
    this.names = type.names?.map((n) => Buffer.from(n, 'utf8'));
  }

  json(c: JsonCursor, out: RowWriter): Reason {
    const b = c.buf[c.pos]!;
    if (b === 0x7b && this.names) return this.object(c, out);
    if (b !== 0x5b) return `${tokenName(b)} is not a ${this.names ? 'JSON object or array' : 'JSON array'} for ${this.type.text}`;
    if (++c.depth > c.maxDepth) return `nested deeper than ${c.maxDepth}`;
    c.pos++;
    const els = this.elements;
    for (let i = 0; i < els.length; i++) {
      if (c.ws() < 0) return 'unexpected end of input';
      if (c.buf[c.pos] === RBRACKET) return `${this.type.text} needs ${els.length} elements, got ${i}`;
      const el = els[i]!;
      if (!el.nullable && c.takeNull()) el.zero(out);
      else {
        const r = el.json(c, out);
        if (r !== undefined) return r;
      }
      const d = c.ws();
      if (i < els.length - 1) {
        if (d !== COMMA) return d === RBRACKET ? `${this.type.text} needs ${els.length} elements, got ${i + 1}` : `expected , at byte ${c.pos}`;
        c.pos++;
      } else if (d !== RBRACKET) return d === COMMA ? `${this.type.text} has only ${els.length} elements` : `expected ] at byte ${c.pos}`;
    }
    c.pos++;
    c.depth--;
    return undefined;
  }

  private object(c: JsonCursor, out: RowWriter): Reason {
    if (++c.depth > c.maxDepth) return `nested deeper than ${c.maxDepth}`;
    c.pos++;
    const els = this.elements;
    const parts = (this.parts ??= els.map(() => new RowWriter(256)));
    const seen = (this.seen ??= new Uint8Array(els.length));
    seen.fill(0);
    for (const p of parts) p.pos = 0;
    if (c.ws() === RBRACE) c.pos++;
    else {
      for (;;) {
        if (c.ws() !== QUOTE) return `expected a key at byte ${c.pos}`;
        if (!c.scanString()) return c.error;
        const idx = this.indexOf(c);
        if (!c.expect(0x3a, "':'")) return c.error;
        c.ws();
        if (idx < 0) { if (!c.skipValue()) return c.error; }
        else {
          if (seen[idx]) return `duplicate element ${this.type.names![idx]} in ${this.type.text}`;
          seen[idx] = 1;
          const el = els[idx]!;
          if (!el.nullable && c.takeNull()) el.zero(parts[idx]!);
          else {
            const r = el.json(c, parts[idx]!);
            if (r !== undefined) return r;
          }
        }
        const d = c.ws();
        if (d === COMMA) { c.pos++; continue; }
        if (d === RBRACE) { c.pos++; break; }
        return `expected , or } at byte ${c.pos}`;
      }
    }
    for (let i = 0; i < els.length; i++) {
      if (seen[i]) out.bytes(parts[i]!.buf, 0, parts[i]!.pos);
      else els[i]!.zero(out);
    }
    c.depth--;
    return undefined;
  }

  private indexOf(c: JsonCursor): number {
    let buf = c.buf;
    let s = c.sStart;
    let e = c.sEnd;
    if (c.sEscaped) { buf = stringContent(c); s = 0; e = scratchEnd(); }
    const names = this.names!;
    outer: for (let i = 0; i < names.length; i++) {
      const n = names[i]!;
      if (n.length !== e - s) continue;
      for (let j = 0; j < n.length; j++) if (n[j] !== buf[s + j]) continue outer;
      return i;
    }
    return -1;
  }

  text(): Reason {
    return `a string is not a ${this.type.text}`;
  }

  value(v: unknown, out: RowWriter): Reason {
    if (v === null || v === undefined) { this.zero(out); return undefined; }
    const els = this.elements;
    if (Array.isArray(v)) {
      if (v.length !== els.length) return `${this.type.text} needs ${els.length} elements, got ${v.length}`;
      for (let i = 0; i < els.length; i++) {
        const r = els[i]!.value(v[i], out);
        if (r !== undefined) return r;
      }
      return undefined;
    }
    if (typeof v === 'object' && this.type.names) {
      const o = v as Record<string, unknown>;
      for (let i = 0; i < els.length; i++) {
        const r = els[i]!.value(o[this.type.names[i]!], out);
        if (r !== undefined) return r;
      }
      return undefined;
    }
    return `${describe(v)} is not a ${this.type.text}`;
  }

  zero(out: RowWriter): void {
    for (const el of this.elements) el.zero(out);
  }
}
