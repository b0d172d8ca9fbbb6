/**
 * date — Date, Date32, DateTime, DateTime('tz'), DateTime64(p[, 'tz']).
 *
 * Text accepted (each checked on 18.16 or 26.x, see README):
 *   dates      "2024-06-01", "2024-6-1", "2024/06/01" (any one non-digit
 *              separator), "20240601"; "0000-00-00" is the zero date.
 *   date-times "2024-06-01 12:34:56" or with 'T', an optional fraction
 *              (DateTime drops it, DateTime64 keeps p digits and drops the
 *              rest, both as 26.x does), an optional "Z" or "+02:00" /
 *              "+0200" offset (else the wall clock is in the column's time
 *              zone, or the server's), a date alone (midnight), digits
 *              alone (Unix seconds; DateTime64: "sss.fff" seconds, or
 *              integer ticks of the column's precision as 26.x reads them);
 *              "0000-00-00 00:00:00" is 0.
 * JSON numbers: Date / Date32 days since 1970 (26.x; 18.16 refuses),
 * DateTime Unix seconds, DateTime64 ticks (1717245296789 in
 * DateTime64(3)); a fraction in a number is refused (as 26.x does).
 * Refused, where the servers store something else silently: impossible
 * dates (2024-02-30: both servers roll it to 03-01), times past 23:59:59,
 * and anything outside the type's range (18.16 stores the zero date,
 * 26.x clamps): Date 1970-01-01..2149-06-06, Date32 1900-01-01..2299-12-31,
 * DateTime 1970-01-01 00:00:00..2106-02-07 06:28:15 UTC, DateTime64
 * 1900-01-01..2299-12-31. On servers before 21.x (`legacyDateRange`),
 * Date and DateTime end with 2105: 18.16's date tables stop there (it
 * parses 2106-01-01 as 0000-00-00 and prints later days as 1970-01-01).
 */
import type { JsonCursor } from '../json-cursor.js';
import { num, scaledInteger } from '../number-text.js';
import type { RowWriter } from '../row-writer.js';
import { zoneFor, type Zone } from '../tz.js';
import type { TypeNode } from '../types.js';
import { describe, quoteBytes, ScalarCodec, type Reason } from './codec.js';

const isDigit = (b: number | undefined) => b !== undefined && b >= 0x30 && b <= 0x39;

/** Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/** Parse state of the last date/time text (one at a time, no allocation). */
const dt = { days: 0, secs: 0, fracStart: 0, fracEnd: 0, offset: 0, hasOffset: false, zero: false, end: 0 };

/**
 * Reads a date at p: returns the position after it, or -1. Sets dt.days
 * (dt.zero for 0000-00-00). Validates month and day.
 */
function parseDate(b: Uint8Array, p: number, end: number): number {
  dt.zero = false;
  if (p + 8 > end) return -1;
  let y = 0;
  for (let i = 0; i < 4; i++) {
    const c = b[p + i];
    if (!isDigit(c)) return -1;
    y = y * 10 + c! - 0x30;
  }
  p += 4;
  let m: number;
  let d: number;
  if (isDigit(b[p])) {
    // YYYYMMDD
    if (p + 4 > end || !isDigit(b[p + 1]) || !isDigit(b[p + 2]) || !isDigit(b[p + 3])) return -1;
    m = (b[p]! - 0x30) * 10 + b[p + 1]! - 0x30;
    d = (b[p + 2]! - 0x30) * 10 + b[p + 3]! - 0x30;
    p += 4;
  } else {
    p++; // separator
    if (!isDigit(b[p])) return -1;
    m = b[p++]! - 0x30;
    if (isDigit(b[p])) m = m * 10 + b[p++]! - 0x30;
    if (p >= end || isDigit(b[p])) return -1;
    p++;
    if (!isDigit(b[p])) return -1;
    d = b[p++]! - 0x30;
    if (p < end && isDigit(b[p])) d = d * 10 + b[p++]! - 0x30;
  }
  if (y === 0 && m === 0 && d === 0) {
    dt.zero = true;
    dt.days = 0;
    return p;
  }
  if (m < 1 || m > 12 || d < 1 || d > daysInMonth(y, m)) return -1;
  dt.days = daysFromCivil(y, m, d);
  return p;
}

/** Two digits at q as a number, or -1. */
function two(b: Uint8Array, q: number): number {
  return isDigit(b[q]) && isDigit(b[q + 1]) ? (b[q]! - 0x30) * 10 + b[q + 1]! - 0x30 : -1;
}

/** Reads "date[( |T)hh:mm:ss[.frac]][Z|±hh[:]mm]" filling dt; returns the end or -1. */
function parseDateTime(b: Uint8Array, p: number, end: number): number {
  p = parseDate(b, p, end);
  if (p < 0) return -1;
  dt.secs = 0;
  dt.fracStart = dt.fracEnd = 0;
  dt.hasOffset = false;
  dt.offset = 0;
  if (p === end) return p;
  const sep = b[p];
  if (sep !== 0x20 && sep !== 0x54) return -1;
  p++;
  const h = two(b, p);
  const mi = b[p + 2] === 0x3a ? two(b, p + 3) : -1;
  const s = b[p + 5] === 0x3a ? two(b, p + 6) : -1;
  if (h < 0 || mi < 0 || s < 0 || p + 8 > end) return -1;
  if (h > 23 || mi > 59 || s > 59) return -1;
  p += 8;
  dt.secs = h * 3600 + mi * 60 + s;
  if (p < end && b[p] === 0x2e) {
    dt.fracStart = ++p;
    while (p < end && isDigit(b[p])) p++;
    dt.fracEnd = p;
    if (dt.fracEnd === dt.fracStart) return -1;
  }
  if (p < end) {
    const c = b[p]!;
    if (c === 0x5a) { dt.hasOffset = true; p++; }
    else if (c === 0x2b || c === 0x2d) {
      const oh = two(b, p + 1);
      let q = p + 3;
      if (b[q] === 0x3a) q++;
      const om = two(b, q);
      if (oh < 0 || om < 0 || oh > 14 || om > 59) return -1;
      dt.hasOffset = true;
      dt.offset = (c === 0x2d ? -1 : 1) * (oh * 3600 + om * 60);
      p = q + 2;
    }
  }
  return p;
}

/**
 * The value a reason quotes, set just before the calls that may need it:
 * one shared function instead of a closure per value on the hot path.
 */
const subject = { buf: undefined as Uint8Array | undefined, s: 0, e: 0, v: undefined as unknown };
const showSubject = (): string => (subject.buf ? quoteBytes(subject.buf, subject.s, subject.e) : describe(subject.v));
function at(buf: Uint8Array, s: number, e: number): () => string {
  subject.buf = buf;
  subject.s = s;
  subject.e = e;
  return showSubject;
}
function atValue(v: unknown): () => string {
  subject.buf = undefined;
  subject.v = v;
  return showSubject;
}

const DATE_MAX = 65535; // 2149-06-06
/** Servers before 21.x (18.16 checked) keep date tables only through 2105: later values print as 1970 or parse as 0. */
const LEGACY_DATE_MAX = daysFromCivil(2106, 1, 1) - 1;
const DATE32_MIN = daysFromCivil(1900, 1, 1);
const DATE32_MAX = daysFromCivil(2299, 12, 31);
const DT_MAX = 4294967295;
const DT64_MIN = DATE32_MIN * 86400;
const DT64_MAX = (DATE32_MAX + 1) * 86400 - 1;

export class DateCodec extends ScalarCodec {
  private readonly wide: boolean;
  private readonly max: number;
  private readonly range: string;
  constructor(type: Extract<TypeNode, { kind: 'date' | 'date32' }>, legacyRange: boolean) {
    super(type);
    this.wide = type.kind === 'date32';
    this.max = legacyRange ? LEGACY_DATE_MAX : DATE_MAX;
    this.range = legacyRange ? '1970-01-01..2105-12-31 on this server' : '1970-01-01..2149-06-06';
  }

  protected override jsonNumber(c: JsonCursor, out: RowWriter): Reason {
    if (!num.isInt || num.sig > 15) return `${quoteBytes(c.buf, num.start, num.end)} is not a day number for ${this.type.text}`;
    return this.write(num.neg ? -num.mant : num.mant, out, at(c.buf, num.start, num.end));
  }

  text(buf: Uint8Array, start: number, end: number, out: RowWriter): Reason {
    if (parseDate(buf, start, end) !== end) return `${quoteBytes(buf, start, end)} is not a valid date (YYYY-MM-DD)`;
    return this.write(dt.days, out, at(buf, start, end));
  }

  private write(days: number, out: RowWriter, show: () => string): Reason {
    if (this.wide) {
      if (days < DATE32_MIN || days > DATE32_MAX) return `${show()} is outside the range of Date32 (1900-01-01..2299-12-31)`;
      out.u32(days);
    } else {
      if (days < 0 || days > this.max) return `${show()} is outside the range of Date (${this.range})`;
      out.u16(days);
    }
    return undefined;
  }

  protected override plain(v: unknown, out: RowWriter): Reason {
    if (v instanceof Date) {
      const ms = v.getTime();
      if (Number.isNaN(ms)) return 'an invalid Date';
      return this.write(Math.floor(ms / 86_400_000), out, atValue(v));
    }
    if (typeof v === 'number' && Number.isInteger(v)) return this.write(v, out, atValue(v));
    return super.plain(v, out);
  }

  zero(out: RowWriter): void {
    if (this.wide) out.u32(0);
    else out.u16(0);
  }
}

export class DateTimeCodec extends ScalarCodec {
  private readonly zone: Zone;
  private readonly utc: boolean;
  /** DateTime64 precision; -1 for DateTime (32-bit seconds). */
  private readonly precision: number;
  private readonly scale: number;
  private readonly max: number;
  private readonly range: string;

  constructor(type: Extract<TypeNode, { kind: 'datetime' | 'datetime64' }>, serverTimezone: string, legacyRange: boolean) {
    super(type);
    this.max = legacyRange ? (LEGACY_DATE_MAX + 1) * 86400 - 1 : DT_MAX;
    this.range = legacyRange ? '1970-01-01 00:00:00..2105-12-31 23:59:59 UTC on this server' : '1970-01-01 00:00:00..2106-02-07 06:28:15 UTC';
    this.zone = zoneFor(type.timezone ?? serverTimezone);
    this.utc = this.zone.utc;
    this.precision = type.kind === 'datetime64' ? type.precision : -1;
    this.scale = 10 ** Math.max(0, this.precision);
  }

  protected override jsonNumber(c: JsonCursor, out: RowWriter): Reason {
    const show = at(c.buf, num.start, num.end);
    if (!num.isInt) return `${show()} is not a whole number of ${this.precision < 0 ? 'seconds' : 'ticks'} for ${this.type.text}`;
    if (num.sig > 15) {
      if (this.precision < 0) return `${show()} is outside the range of ${this.type.text}`;
      const ticks = scaledInteger(c.buf, 0, false);
      return typeof ticks === 'string' ? `${show()} ${ticks}` : this.writeTicks(ticks, out, show);
    }
    const v = num.neg ? -num.mant : num.mant;
    return this.precision < 0 ? this.writeSeconds(v, out, show) : this.writeTicks(v, out, show);
  }

  text(buf: Uint8Array, start: number, end: number, out: RowWriter): Reason {
    const show = at(buf, start, end);
    // Digits alone (with an optional fraction): a Unix time.
    let p = start;
    while (p < end && isDigit(buf[p])) p++;
    if (p > start && (p === end || (buf[p] === 0x2e && p - start > 8))) {
      if (p === end && this.precision >= 0 && p - start > 10) {
        // Integer ticks at the column's precision (26.x).
        let ticks = 0;
        for (let i = start; i < end; i++) ticks = ticks * 10 + buf[i]! - 0x30;
        if (ticks > Number.MAX_SAFE_INTEGER) return `${show()} is outside the range of ${this.type.text}`;
        return this.writeTicks(ticks, out, show);
      }
      let secs = 0;
      for (let i = start; i < p; i++) secs = secs * 10 + buf[i]! - 0x30;
      if (p === end) return this.precision < 0 ? this.writeSeconds(secs, out, show) : this.writeParts(secs, 0, 0, buf, out, show);
      const fs = p + 1;
      let q = fs;
      while (q < end && isDigit(buf[q])) q++;
      if (q !== end || q === fs) return `${show()} is not a valid date-time`;
      return this.precision < 0 ? this.writeSeconds(secs, out, show) : this.writeParts(secs, fs, q, buf, out, show);
    }
    if (parseDateTime(buf, start, end) !== end) return `${show()} is not a valid date-time (YYYY-MM-DD hh:mm:ss)`;
    if (dt.zero) {
      if (dt.secs !== 0) return `${show()} is not a valid date-time`;
      return this.precision < 0 ? this.writeSeconds(0, out, show) : this.writeTicks(0, out, show);
    }
    const local = dt.days * 86400 + dt.secs;
    const secs = dt.hasOffset ? local - dt.offset : this.utc ? local : this.zone.toUtc(local);
    if (this.precision < 0) return this.writeSeconds(secs, out, show);
    return this.writeParts(secs, dt.fracStart, dt.fracEnd, buf, out, show);
  }

  private writeSeconds(secs: number, out: RowWriter, show: () => string): Reason {
    if (secs < 0 || secs > this.max) return `${show()} is outside the range of DateTime (${this.range})`;
    out.u32(secs);
    return undefined;
  }

  /** DateTime64 from whole seconds plus fraction digits buf[fs, fe) (truncated to the precision). */
  private writeParts(secs: number, fs: number, fe: number, buf: Uint8Array, out: RowWriter, show: () => string): Reason {
    if (secs < DT64_MIN || secs > DT64_MAX) return `${show()} is outside the range of ${this.type.text} (1900-01-01..2299-12-31)`;
    let frac = 0;
    for (let i = 0; i < this.precision; i++) frac = frac * 10 + (fs + i < fe ? buf[fs + i]! - 0x30 : 0);
    const ticks = secs * this.scale + frac;
    if (Number.isSafeInteger(ticks)) out.i64(ticks);
    else out.big(BigInt(secs) * BigInt(this.scale) + BigInt(frac), 8);
    return undefined;
  }

  private writeTicks(ticks: number | bigint, out: RowWriter, show: () => string): Reason {
    const secs = Number(ticks) / this.scale;
    if (secs < DT64_MIN || secs >= DT64_MAX + 1) return `${show()} is outside the range of ${this.type.text} (1900-01-01..2299-12-31)`;
    if (typeof ticks === 'number' && Number.isSafeInteger(ticks)) out.i64(ticks);
    else out.big(BigInt(ticks), 8);
    return undefined;
  }

  protected override plain(v: unknown, out: RowWriter): Reason {
    const show = atValue(v);
    if (v instanceof Date) {
      const ms = v.getTime();
      if (Number.isNaN(ms)) return 'an invalid Date';
      if (this.precision < 0) return this.writeSeconds(Math.floor(ms / 1000), out, show);
      const ticks = this.precision >= 3 ? ms * 10 ** (this.precision - 3) : Math.floor(ms / 10 ** (3 - this.precision));
      return this.writeTicks(ticks, out, show);
    }
    if (typeof v === 'number' && Number.isInteger(v)) return this.precision < 0 ? this.writeSeconds(v, out, show) : this.writeTicks(v, out, show);
    if (typeof v === 'bigint') return this.precision < 0 ? this.writeSeconds(Number(v), out, show) : this.writeTicks(v, out, show);
    return super.plain(v, out);
  }

  zero(out: RowWriter): void {
    if (this.precision < 0) out.u32(0);
    else out.zeros(8);
  }
}
