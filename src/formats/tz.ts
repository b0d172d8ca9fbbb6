/**
 * tz — wall-clock time in a named time zone → Unix seconds, without a Date
 * or a string per value.
 *
 * Contract: `zoneFor(name)` validates an IANA name once (throws RangeError
 * if the runtime does not know it) and returns a converter. UTC and its
 * aliases convert by identity. Other zones ask Intl for the zone's offset
 * once per hour of UTC time and cache it (bounded), so a stream of
 * timestamps costs a Map lookup each. A wall-clock time in a DST gap or
 * overlap resolves by the usual two-step rule, which lands where ClickHouse
 * does (checked on 18.16 and 26.x: New York's 2024-03-10 02:30 → 06:30 UTC,
 * 2024-11-03 01:30 → its first occurrence, 05:30 UTC).
 */
const UTC_NAMES = new Set(['UTC', 'Etc/UTC', 'GMT', 'Etc/GMT', 'Etc/Universal', 'Universal', 'Etc/Zulu', 'Zulu', 'UCT', 'Etc/UCT', 'Etc/GMT0', 'GMT0', 'Etc/Greenwich', 'Greenwich']);

export interface Zone {
  readonly name: string;
  readonly utc: boolean;
  /** Seconds since the epoch for wall-clock seconds `local` (as if it were UTC). */
  toUtc(local: number): number;
}

const zones = new Map<string, Zone>();

export function zoneFor(name: string): Zone {
  let z = zones.get(name);
  if (!z) {
    z = UTC_NAMES.has(name) ? { name, utc: true, toUtc: (s) => s } : namedZone(name);
    zones.set(name, z);
  }
  return z;
}

function namedZone(name: string): Zone {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone: name, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
  });
  const cache = new Map<number, number>();
  /** Offset (local − UTC, seconds) in force at UTC second t. */
  const offsetAt = (t: number): number => {
    const hour = Math.floor(t / 3600);
    let off = cache.get(hour);
    if (off === undefined) {
      const parts: Record<string, number> = {};
      for (const p of fmt.formatToParts(new Date(hour * 3600_000))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
      const local = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!) / 1000;
      off = local - hour * 3600;
      if (cache.size > 100_000) cache.clear();
      cache.set(hour, off);
    }
    return off;
  };
  return {
    name,
    utc: false,
    toUtc(local) {
      const guess = local - offsetAt(local);
      return local - offsetAt(guess);
    },
  };
}
