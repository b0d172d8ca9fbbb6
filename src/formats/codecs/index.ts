/**
 * codecs — the codec tree for a parsed type: one codec per node, wrappers
 * holding their inner codec (built once per table, never per row).
 *
 * Contract: `codecFor(type, { serverTimezone })` returns the codec or
 * throws UnsupportedTypeError (a time zone the runtime does not know, a
 * Map key type ClickHouse does not allow).
 */
import { UnsupportedTypeError, type TypeNode } from '../types.js';
import { ArrayCodec } from './array.js';
import { BoolCodec } from './bool.js';
import type { Codec } from './codec.js';
import { DateCodec, DateTimeCodec } from './date.js';
import { DecimalCodec } from './decimal.js';
import { EnumCodec } from './enum.js';
import { FloatCodec } from './float.js';
import { IntCodec } from './int.js';
import { Ipv4Codec, Ipv6Codec } from './ip.js';
import { MapCodec } from './map.js';
import { lowCardinality, NullableCodec } from './nullable.js';
import { FixedStringCodec, StringCodec } from './string.js';
import { TupleCodec } from './tuple.js';
import { UuidCodec } from './uuid.js';

export type { Codec, Reason } from './codec.js';

export interface CodecOptions {
  /** The server's time zone (SELECT timezone()): DateTime columns without their own zone read text in it. */
  readonly serverTimezone: string;
  /** Servers before 21.x: Date and DateTime end with 2105 (see date.ts). */
  readonly legacyDateRange?: boolean;
}

export function codecFor(t: TypeNode, opts: CodecOptions): Codec {
  switch (t.kind) {
    case 'int': return new IntCodec(t);
    case 'float': return new FloatCodec(t);
    case 'decimal': return new DecimalCodec(t);
    case 'bool': return new BoolCodec(t);
    case 'string': return new StringCodec(t);
    case 'fixedstring': return new FixedStringCodec(t);
    case 'uuid': return new UuidCodec(t);
    case 'date': case 'date32': return new DateCodec(t, opts.legacyDateRange ?? false);
    case 'datetime': case 'datetime64':
      try {
        return new DateTimeCodec(t, opts.serverTimezone, opts.legacyDateRange ?? false);
      } catch (err) {
        throw new UnsupportedTypeError(t.text, `unknown time zone: ${String(err)}`);
      }
    case 'enum': return new EnumCodec(t);
    case 'ipv4': return new Ipv4Codec(t);
    case 'ipv6': return new Ipv6Codec(t);
    case 'nullable': return new NullableCodec(t, codecFor(t.inner, opts));
    case 'lowcardinality': return lowCardinality(t, codecFor(t.inner, opts));
    case 'array': return new ArrayCodec(t, codecFor(t.inner, opts));
    case 'tuple': return new TupleCodec(t, t.elements.map((e) => codecFor(e, opts)));
    case 'map': return new MapCodec(t, codecFor(t.key, opts), codecFor(t.value, opts));
  }
}
