/**
 * ip — IPv4 and IPv6 (26.x; 18.16 has neither type).
 *
 * IPv4: dotted quad text only (26.x refuses numbers), stored as a
 * little-endian UInt32. IPv6: any RFC 4291 text form, including '::' and
 * a trailing dotted quad; a bare IPv4 address is stored IPv4-mapped
 * (::ffff:a.b.c.d), as 26.x does. Stored as 16 bytes in network order.
 */
import type { RowWriter } from '../row-writer.js';
import { quoteBytes, ScalarCodec, type Reason } from './codec.js';

/** Parses a dotted quad in [s, e) into a uint32, or -1. */
function ipv4(b: Uint8Array, s: number, e: number): number {
  let v = 0;
  let parts = 0;
  let p = s;
  while (parts < 4) {
    let n = 0;
    let digits = 0;
    while (p < e && b[p]! >= 0x30 && b[p]! <= 0x39 && digits < 4) { n = n * 10 + b[p]! - 0x30; p++; digits++; }
    if (digits === 0 || digits > 3 || n > 255) return -1;
    v = v * 256 + n;
    parts++;
    if (parts < 4) {
      if (b[p] !== 0x2e) return -1;
      p++;
    }
  }
  return p === e ? v : -1;
}

export class Ipv4Codec extends ScalarCodec {
  text(buf: Uint8Array, start: number, end: number, out: RowWriter): Reason {
    const v = ipv4(buf, start, end);
    if (v < 0) return `${quoteBytes(buf, start, end)} is not an IPv4 address`;
    out.u32(v);
    return undefined;
  }

  zero(out: RowWriter): void {
    out.u32(0);
  }
}

export class Ipv6Codec extends ScalarCodec {
  private readonly bytes = new Uint8Array(16);

  text(buf: Uint8Array, start: number, end: number, out: RowWriter): Reason {
    if (!this.parse(buf, start, end)) return `${quoteBytes(buf, start, end)} is not an IPv6 address`;
    out.bytes(this.bytes, 0, 16);
    return undefined;
  }

  private parse(b: Uint8Array, s: number, e: number): boolean {
    const r = this.bytes;
    r.fill(0);
    const v4 = ipv4(b, s, e);
    if (v4 >= 0) {
      r[10] = r[11] = 0xff;
      r[12] = v4 >>> 24; r[13] = (v4 >>> 16) & 0xff; r[14] = (v4 >>> 8) & 0xff; r[15] = v4 & 0xff;
      return true;
    }
    if (e - s > 45 || e - s < 2) return false;
    const text = Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('latin1');
    const halves = text.split('::');
    if (halves.length > 2) return false;
    const groups = (part: string): number[] | undefined => {
      if (part === '') return [];
      const out: number[] = [];
      const items = part.split(':');
      for (let i = 0; i < items.length; i++) {
        const it = items[i]!;
        if (i === items.length - 1 && it.includes('.')) {
          const q = Buffer.from(it, 'latin1');
          const w = ipv4(q, 0, q.length);
          if (w < 0) return undefined;
          out.push(w >>> 16, w & 0xffff);
          continue;
        }
        if (!/^[0-9a-fA-F]{1,4}$/.test(it)) return undefined;
        out.push(parseInt(it, 16));
      }
      return out;
    };
    const head = groups(halves[0]!);
    const tail = halves.length === 2 ? groups(halves[1]!) : [];
    if (!head || !tail) return false;
    if (halves.length === 1 ? head.length !== 8 : head.length + tail.length > 7) return false;
    const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
    for (let i = 0; i < 8; i++) { r[2 * i] = all[i]! >>> 8; r[2 * i + 1] = all[i]! & 0xff; }
    return true;
  }

  zero(out: RowWriter): void {
    out.zeros(16);
  }
}
