/**
 * types — a ClickHouse type string (as `system.columns.type` spells it) parsed
 * into a tree, once per table, never per row.
 *
 * Contract: `parseType(text)` returns a TypeNode or throws UnsupportedTypeError
 * naming the type (the schema builder adds the column). Covered: Int/UInt
 * 8..256, Float32/64, Decimal(P,S) and Decimal32/64/128/256(S), Bool, String,
 * FixedString(N), UUID, Date, Date32, DateTime, DateTime('tz'),
 * DateTime64(p[, 'tz']), Enum8/16 (quoted names with backslash escapes),
 * IPv4, IPv6, Nullable(T), LowCardinality(T), Array(T), Tuple(T, ...) and
 * named Tuple(a T, ...), Map(K, V), Nested(a T, ...) (what a table with
 * `flatten_nested = 0` shows: sent as Array(Tuple(a T, ...))), and
 * SimpleAggregateFunction(f, T) (sent as T). On a table with the default
 * flatten_nested, a Nested column shows as separate `n.x Array(T)` columns:
 * that is ordinary Arrays here, plus the equal-length check in the decoder.
 * Anything else (AggregateFunction, Object/JSON, Variant, Dynamic, Time,
 * geo types, Interval, Nothing, ...) is refused: sluice could only guess at
 * its binary layout, and a guess would be a silently wrong value.
 */
import { SluiceError } from '../errors.js';

export type IntBits = 8 | 16 | 32 | 64 | 128 | 256;

export type TypeNode =
  | { readonly kind: 'int'; readonly text: string; readonly bits: IntBits; readonly signed: boolean }
  | { readonly kind: 'float'; readonly text: string; readonly bits: 32 | 64 }
  | { readonly kind: 'decimal'; readonly text: string; readonly precision: number; readonly scale: number; readonly bits: 32 | 64 | 128 | 256 }
  | { readonly kind: 'bool'; readonly text: string }
  | { readonly kind: 'string'; readonly text: string }
  | { readonly kind: 'fixedstring'; readonly text: string; readonly length: number }
  | { readonly kind: 'uuid'; readonly text: string }
  | { readonly kind: 'date'; readonly text: string }
  | { readonly kind: 'date32'; readonly text: string }
  | { readonly kind: 'datetime'; readonly text: string; readonly timezone: string | undefined }
  | { readonly kind: 'datetime64'; readonly text: string; readonly precision: number; readonly timezone: string | undefined }
  | { readonly kind: 'enum'; readonly text: string; readonly bits: 8 | 16; readonly values: ReadonlyArray<readonly [string, number]> }
  | { readonly kind: 'ipv4'; readonly text: string }
  | { readonly kind: 'ipv6'; readonly text: string }
  | { readonly kind: 'nullable'; readonly text: string; readonly inner: TypeNode }
  | { readonly kind: 'lowcardinality'; readonly text: string; readonly inner: TypeNode }
  | { readonly kind: 'array'; readonly text: string; readonly inner: TypeNode }
  | { readonly kind: 'tuple'; readonly text: string; readonly elements: readonly TypeNode[]; readonly names: readonly string[] | undefined }
  | { readonly kind: 'map'; readonly text: string; readonly key: TypeNode; readonly value: TypeNode };

/** A column type sluice cannot encode: a start-up error, operator action needed. */
export class UnsupportedTypeError extends SluiceError {
  readonly type: string;
  readonly why: string;
  readonly column: string | undefined;
  constructor(type: string, why: string, column?: string) {
    super('fatal', `${column !== undefined ? `column ${column}: ` : ''}type ${type} is not supported by typed rows (${why})`);
    this.name = 'UnsupportedTypeError';
    this.type = type;
    this.why = why;
    this.column = column;
  }
}

const MAX_DEPTH = 32;

export function parseType(text: string): TypeNode {
  const p = new TypeParser(text);
  const node = p.type(0);
  p.ws();
  if (p.pos !== text.length) throw p.fail(`unexpected ${JSON.stringify(text.slice(p.pos, p.pos + 10))}`);
  return node;
}

class TypeParser {
  pos = 0;
  constructor(readonly src: string) {}

  fail(why: string): UnsupportedTypeError {
    return new UnsupportedTypeError(this.src, why);
  }

  ws(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos]!)) this.pos++;
  }

  peek(): string {
    this.ws();
    return this.src[this.pos] ?? '';
  }

  expect(ch: string): void {
    if (this.peek() !== ch) throw this.fail(`expected '${ch}' at ${this.pos}`);
    this.pos++;
  }

  ident(): string {
    this.ws();
    const m = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(this.src.slice(this.pos));
    if (!m) throw this.fail(`expected a name at ${this.pos}`);
    this.pos += m[0].length;
    return m[0];
  }

  /** A backquoted or plain identifier (named tuple element names may be quoted). */
  elementName(): string {
    if (this.peek() === '`') {
      this.pos++;
      let out = '';
      while (this.pos < this.src.length && this.src[this.pos] !== '`') {
        if (this.src[this.pos] === '\\') this.pos++;
        out += this.src[this.pos++];
      }
      this.expect('`');
      return out;
    }
    return this.ident();
  }

  int(): number {
    this.ws();
    const m = /^-?\d+/.exec(this.src.slice(this.pos));
    if (!m) throw this.fail(`expected a number at ${this.pos}`);
    this.pos += m[0].length;
    return Number(m[0]);
  }

  /** A single-quoted SQL string with backslash escapes (and '' as a quote). */
  quoted(): string {
    this.expect("'");
    let out = '';
    for (;;) {
      if (this.pos >= this.src.length) throw this.fail('unterminated string');
      const c = this.src[this.pos++]!;
      if (c === "'") {
        if (this.src[this.pos] === "'") { out += "'"; this.pos++; continue; }
        return out;
      }
      if (c === '\\') {
        const e = this.src[this.pos++] ?? '';
        out += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e === '0' ? '\0' : e === 'b' ? '\b' : e === 'f' ? '\f' : e;
        continue;
      }
      out += c;
    }
  }

  type(depth: number): TypeNode {
    if (depth > MAX_DEPTH) throw this.fail('nested too deeply');
    this.ws();
    const start = this.pos;
    const name = this.ident();
    const text = () => this.src.slice(start, this.pos).trim();
    const hasArgs = this.peek() === '(';
    const noArgs = () => { if (hasArgs) throw this.fail(`${name} takes no arguments`); };
    const intBits: Record<string, IntBits> = { '8': 8, '16': 16, '32': 32, '64': 64, '128': 128, '256': 256 };
    const im = /^(U?)Int(8|16|32|64|128|256)$/.exec(name);
    if (im) { noArgs(); return { kind: 'int', text: name, bits: intBits[im[2]!]!, signed: im[1] === '' }; }
    switch (name) {
      case 'Float32': case 'Float64': noArgs(); return { kind: 'float', text: name, bits: name === 'Float32' ? 32 : 64 };
      case 'Bool': case 'Boolean': noArgs(); return { kind: 'bool', text: name };
      case 'String': noArgs(); return { kind: 'string', text: name };
      case 'UUID': noArgs(); return { kind: 'uuid', text: name };
      case 'Date': noArgs(); return { kind: 'date', text: name };
      case 'Date32': noArgs(); return { kind: 'date32', text: name };
      case 'IPv4': noArgs(); return { kind: 'ipv4', text: name };
      case 'IPv6': noArgs(); return { kind: 'ipv6', text: name };
      case 'FixedString': {
        this.expect('(');
        const n = this.int();
        this.expect(')');
        if (n < 1) throw this.fail('FixedString length must be positive');
        return { kind: 'fixedstring', text: text(), length: n };
      }
      case 'DateTime': {
        let timezone: string | undefined;
        if (hasArgs) { this.expect('('); timezone = this.quoted(); this.expect(')'); }
        return { kind: 'datetime', text: text(), timezone };
      }
      case 'DateTime64': {
        this.expect('(');
        const precision = this.int();
        let timezone: string | undefined;
        if (this.peek() === ',') { this.pos++; timezone = this.quoted(); }
        this.expect(')');
        if (precision < 0 || precision > 9) throw this.fail('DateTime64 precision must be 0..9');
        return { kind: 'datetime64', text: text(), precision, timezone };
      }
      case 'Decimal': case 'Decimal32': case 'Decimal64': case 'Decimal128': case 'Decimal256': {
        this.expect('(');
        let precision: number;
        let scale: number;
        if (name === 'Decimal') {
          precision = this.int();
          scale = 0;
          if (this.peek() === ',') { this.pos++; scale = this.int(); }
        } else {
          precision = { Decimal32: 9, Decimal64: 18, Decimal128: 38, Decimal256: 76 }[name];
          scale = this.int();
        }
        this.expect(')');
        if (precision < 1 || precision > 76 || scale < 0 || scale > precision) throw this.fail('bad Decimal precision or scale');
        const bits = precision <= 9 ? 32 : precision <= 18 ? 64 : precision <= 38 ? 128 : 256;
        return { kind: 'decimal', text: text(), precision, scale, bits };
      }
      case 'Enum8': case 'Enum16': {
        this.expect('(');
        const values: Array<[string, number]> = [];
        for (;;) {
          const n = this.quoted();
          this.expect('=');
          values.push([n, this.int()]);
          if (this.peek() === ',') { this.pos++; continue; }
          break;
        }
        this.expect(')');
        const bits = name === 'Enum8' ? 8 : 16;
        const lim = bits === 8 ? 128 : 32768;
        for (const [, v] of values) if (v < -lim || v >= lim) throw this.fail(`enum value ${v} out of range`);
        return { kind: 'enum', text: text(), bits, values };
      }
      case 'Nullable': case 'LowCardinality': case 'Array': {
        this.expect('(');
        const inner = this.type(depth + 1);
        this.expect(')');
        const kind = name === 'Nullable' ? 'nullable' : name === 'Array' ? 'array' : 'lowcardinality';
        return { kind, text: text(), inner };
      }
      case 'Map': {
        this.expect('(');
        const key = this.type(depth + 1);
        this.expect(',');
        const value = this.type(depth + 1);
        this.expect(')');
        return { kind: 'map', text: text(), key, value };
      }
      case 'SimpleAggregateFunction': {
        this.expect('(');
        this.ident();
        while (this.peek() === '(') this.skipParens();
        this.expect(',');
        const inner = this.type(depth + 1);
        this.expect(')');
        return inner;
      }
      case 'Tuple': case 'Nested': {
        this.expect('(');
        const elements: TypeNode[] = [];
        const names: string[] = [];
        for (;;) {
          // A named element is `name Type`: a name followed by another name or backquote.
          const save = this.pos;
          let elName: string | undefined;
          if (this.peek() === '`') elName = this.elementName();
          else {
            const first = this.ident();
            const next = this.peek();
            if (/[A-Za-z_`]/.test(next)) elName = first;
            else this.pos = save;
          }
          if (elName !== undefined) names.push(elName);
          elements.push(this.type(depth + 1));
          if (this.peek() === ',') { this.pos++; continue; }
          break;
        }
        this.expect(')');
        if (names.length !== 0 && names.length !== elements.length) throw this.fail('tuple mixes named and unnamed elements');
        if (name === 'Nested') {
          if (names.length === 0) throw this.fail('Nested needs named elements');
          const t = text();
          return { kind: 'array', text: t, inner: { kind: 'tuple', text: t, elements, names } };
        }
        return { kind: 'tuple', text: text(), elements, names: names.length ? names : undefined };
      }
      default:
        throw this.fail(`no binary encoder for ${name}`);
    }
  }

  skipParens(): void {
    let depth = 0;
    do {
      const c = this.src[this.pos++];
      if (c === undefined) throw this.fail('unbalanced parentheses');
      if (c === '(') depth++;
      else if (c === ')') depth--;
    } while (depth > 0);
  }
}

/** The type without Nullable/LowCardinality wrappers. */
export function baseType(t: TypeNode): TypeNode {
  while (t.kind === 'nullable' || t.kind === 'lowcardinality') t = t.inner;
  return t;
}

/** Whether JSON null is a value of this type (else it means "default"). */
export function acceptsNull(t: TypeNode): boolean {
  while (t.kind === 'lowcardinality') t = t.inner;
  return t.kind === 'nullable';
}
