/**
 * number-text — decimal numbers read in place from bytes, no string made.
 *
 * Contract: `scanNumber(buf, pos, end, json)` reads one number starting at
 * `pos` and returns the position just past it, or -1 if there is none. With
 * `json` it takes exactly the JSON grammar (-?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?)
 * and stops at the first byte that cannot continue it; without, it takes
 * what ClickHouse's text parsers take inside a quoted value: an optional
 * '+', a leading or trailing '.', and `nan`/`inf`/`infinity` in any case.
 * The result lands in the shared `num` (one number at a time, no
 * allocation): the sign, up to 15 significant digits as an exact integer
 * `mant`, the decimal exponent that scales it, and whether the text had a
 * fraction or exponent. With more than 15 significant digits `mant` is
 * not exact (`sig` says so) and callers re-read the text (`numberText`).
 * Exponents are clamped so hostile input ('1e99999999999') stays cheap.
 */
export const num = {
  neg: false,
  /** Significant digits as an integer; exact while sig <= 15. */
  mant: 0,
  /** Significant digits seen (leading zeros excluded). */
  sig: 0,
  /** value = ±mant × 10^exp10 (while sig <= 15). */
  exp10: 0,
  /** No '.' and no exponent in the text. */
  isInt: true,
  /** 0: a number; 1: nan; 2: infinity (text form only). */
  special: 0,
  start: 0,
  end: 0,
};

const EXP_CLAMP = 100_000;

const isDigit = (b: number) => b >= 0x30 && b <= 0x39;

export function scanNumber(buf: Uint8Array, pos: number, end: number, json: boolean): number {
  num.start = pos;
  num.neg = false;
  num.mant = 0;
  num.sig = 0;
  num.exp10 = 0;
  num.isInt = true;
  num.special = 0;
  let p = pos;
  let b = p < end ? buf[p]! : -1;
  if (b === 0x2d) { num.neg = true; b = ++p < end ? buf[p]! : -1; }
  else if (b === 0x2b && !json) { b = ++p < end ? buf[p]! : -1; }
  if (!json && (b | 0x20) === 0x6e || !json && (b | 0x20) === 0x69) return special(buf, p, end);
  let mant = 0;
  let sig = 0;
  let exp10 = 0;
  let intDigits = 0;
  if (json && b === 0x30) {
    // JSON: a leading 0 stands alone.
    p++;
    intDigits = 1;
    b = p < end ? buf[p]! : -1;
  } else {
    while (isDigit(b)) {
      if (sig > 0 || b !== 0x30) {
        if (sig < 15) mant = mant * 10 + (b - 0x30);
        else exp10++;
        sig++;
      }
      intDigits++;
      b = ++p < end ? buf[p]! : -1;
    }
  }
  let fracDigits = 0;
  if (b === 0x2e) {
    num.isInt = false;
    b = ++p < end ? buf[p]! : -1;
    while (isDigit(b)) {
      if (sig > 0 || b !== 0x30) {
        if (sig < 15) { mant = mant * 10 + (b - 0x30); exp10--; }
        sig++;
      } else exp10--;
      fracDigits++;
      b = ++p < end ? buf[p]! : -1;
    }
    if (fracDigits === 0 && (json || intDigits === 0)) return -1;
  }
  if (intDigits === 0 && (json || fracDigits === 0)) return -1;
  if (b === 0x65 || b === 0x45) {
    num.isInt = false;
    b = ++p < end ? buf[p]! : -1;
    let eneg = false;
    if (b === 0x2d || b === 0x2b) { eneg = b === 0x2d; b = ++p < end ? buf[p]! : -1; }
    if (!isDigit(b)) return -1;
    let e = 0;
    while (isDigit(b)) {
      if (e < EXP_CLAMP) e = e * 10 + (b - 0x30);
      b = ++p < end ? buf[p]! : -1;
    }
    exp10 += eneg ? -e : e;
  }
  num.mant = mant;
  num.sig = sig;
  num.exp10 = exp10;
  num.end = p;
  return p;
}

function special(buf: Uint8Array, p: number, end: number): number {
  const word = (w: string) => {
    if (p + w.length > end) return false;
    for (let i = 0; i < w.length; i++) if ((buf[p + i]! | 0x20) !== w.charCodeAt(i)) return false;
    return true;
  };
  num.isInt = false;
  if (word('nan')) { num.special = 1; num.end = p + 3; return p + 3; }
  if (word('infinity')) { num.special = 2; num.end = p + 8; return p + 8; }
  if (word('inf')) { num.special = 2; num.end = p + 3; return p + 3; }
  return -1;
}

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/** The scanned text as a string (slow paths and messages only). */
export function numberText(buf: Uint8Array): string {
  return Buffer.from(buf.buffer, buf.byteOffset + num.start, num.end - num.start).toString('latin1');
}

/**
 * The last scanned number as a double, correctly rounded: exact
 * mantissa × exact power of ten when both fit (Clinger's fast path),
 * else the engine's own parser on the text (which the scan has validated).
 */
export function numberAsDouble(buf: Uint8Array): number {
  if (num.special === 1) return NaN;
  if (num.special === 2) return num.neg ? -Infinity : Infinity;
  let v: number;
  if (num.mant === 0) v = 0;
  else if (num.sig <= 15 && num.exp10 >= -22 && num.exp10 <= 22) v = num.exp10 >= 0 ? num.mant * POW10[num.exp10]! : num.mant / POW10[-num.exp10]!;
  else {
    let t = numberText(buf);
    if (t.charCodeAt(0) === 0x2b) t = t.slice(1);
    if (t.charCodeAt(t.length - 1) === 0x2e) t += '0';
    return Number(t);
  }
  return num.neg ? -v : v;
}

/**
 * The last scanned number as an exact integer scaled by 10^scale (a Decimal's
 * or DateTime64's stored value), or a reason string. `truncate` drops
 * digits past the scale (DateTime64: the column's resolution); otherwise
 * dropping a non-zero digit is refused (Decimal: exact values only).
 * Returns a number when it is a safe integer, else a bigint.
 */
export function scaledInteger(buf: Uint8Array, scale: number, truncate: boolean): number | bigint | string {
  if (num.special !== 0) return 'not a finite number';
  if (num.mant === 0 && num.sig <= 15) return 0;
  const k = num.exp10 + scale;
  if (num.sig <= 15) {
    if (k >= 0 && num.sig + k <= 15) return num.neg ? -num.mant * POW10[k]! : num.mant * POW10[k]!;
    if (k < 0) {
      if (-k > 15) {
        if (!truncate) return `has more than ${scale} decimal places`;
        return 0;
      }
      const d = POW10[-k]!;
      if (!truncate && num.mant % d !== 0) return `has more than ${scale} decimal places`;
      const v = Math.trunc(num.mant / d);
      return num.neg ? -v : v;
    }
  }
  // Slow path: rebuild the digits from the text. Bounded: callers refuse more
  // than ~80 significant digits before getting here (no giant BigInt parse).
  const t = numberText(buf);
  let digits = '';
  let fracLen = 0;
  let inFrac = false;
  let i = 0;
  for (; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) { digits += t[i]; if (inFrac) fracLen++; }
    else if (c === 0x2e) inFrac = true;
    else if (c === 0x65 || c === 0x45) break;
  }
  const e = i < t.length ? Number(t.slice(i + 1)) : 0;
  let shift = e - fracLen + scale;
  if (shift < -200) shift = -200;
  if (shift > 200) return 'is out of range';
  let v = BigInt(digits === '' ? '0' : digits);
  if (shift >= 0) v *= 10n ** BigInt(shift);
  else {
    const d = 10n ** BigInt(-shift);
    if (!truncate && v % d !== 0n) return `has more than ${scale} decimal places`;
    v /= d;
  }
  if (num.neg) v = -v;
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}
