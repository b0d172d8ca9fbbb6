/**
 * dataset — the benchmark's event shape: one generator, one table definition.
 *
 * Contract: `eventLine(i)` returns event number i (0-based) as one JSON object
 * without a trailing newline, about 200 bytes, 11 columns of mixed types.
 * The same i always gives the same bytes (seeded PRNG), ids are i + 1, so a
 * table holding the run is complete exactly when uniqExact(id) = N.
 * `createTableSql(name, engine)` is the matching MergeTree table, or with
 * engine 'replicated' the same table as ReplicatedMergeTree (which needs a
 * server with <zookeeper> and the {shard}/{replica} macros, as
 * scripts/services.sh configures); it must stay parseable by ClickHouse 18.16 (no LowCardinality, no codecs, no settings
 * newer than 2018) because that is the server these machines run.
 */

/** Column list shared by the MergeTree table and the Kafka engine table. */
export const COLUMNS = `
  ts          DateTime,
  id          UInt64,
  user_id     UInt32,
  event_type  String,
  country     String,
  status      UInt16,
  duration_ms UInt32,
  price       Float64,
  score       Float32,
  sku         String,
  url         String`;

export const COLUMN_NAMES = 'ts, id, user_id, event_type, country, status, duration_ms, price, score, sku, url';

/**
 * Sorting by (event_type, ts) is what dashboards over such events filter on;
 * id last makes the key unique so ORDER BY is deterministic.
 */
export function createTableSql(name: string, engine: 'plain' | 'replicated' = 'plain'): string {
  const engineSql = engine === 'plain' ? 'MergeTree' : `ReplicatedMergeTree('/clickhouse/tables/{shard}/${name}', '{replica}')`;
  return `CREATE TABLE ${name} (${COLUMNS}
) ENGINE = ${engineSql}
PARTITION BY toYYYYMM(ts)
ORDER BY (event_type, ts, id)`;
}

// Skewed low-cardinality values, the way real event streams look: most
// events are page views from a handful of countries.
const EVENT_TYPES = weighted([
  ['page_view', 55], ['click', 20], ['search', 10], ['add_to_cart', 7],
  ['purchase', 3], ['signup', 2], ['login', 2], ['logout', 1],
]);
const COUNTRIES = weighted([
  ['US', 30], ['DE', 12], ['GB', 10], ['FR', 8], ['IN', 8], ['BR', 6], ['JP', 6],
  ['CA', 5], ['NL', 4], ['SE', 3], ['PL', 3], ['ES', 3], ['IT', 2],
]);
const STATUSES = weighted([[200, 90], [304, 4], [301, 2], [404, 3], [500, 1]]);
const SECTIONS = ['products', 'category', 'search', 'cart', 'checkout', 'account', 'blog', 'help'];
const WORDS = ['red', 'shoes', 'running', 'winter', 'jacket', 'kids', 'sale', 'leather', 'bag', 'wireless',
  'headphones', 'organic', 'coffee', 'desk', 'lamp', 'garden', 'chair', 'usb', 'cable', 'summer'];

/** Dataset spans one day so every row lands in one monthly partition. */
const START_S = Date.UTC(2024, 5, 1) / 1000;
const SPAN_S = 86_400;

export interface Dataset {
  readonly rows: number;
  eventLine(i: number): string;
}

export function createDataset(rows: number, seed = 42): Dataset {
  const rand = mulberry32(seed);
  // Formatting a Date costs more than the rest of the row; timestamps only
  // move forward by whole seconds, so format each second once.
  let cachedSecond = -1;
  let cachedTs = '';
  const tsFor = (second: number): string => {
    if (second !== cachedSecond) {
      cachedSecond = second;
      cachedTs = new Date(second * 1000).toISOString().slice(0, 19).replace('T', ' ');
    }
    return cachedTs;
  };
  let next = 0;
  return {
    rows,
    // Generation is sequential (the PRNG carries state); callers ask for 0..N-1 in order.
    eventLine(i: number): string {
      if (i !== next) throw new Error(`dataset: events are generated in order (asked ${i}, next is ${next})`);
      next++;
      const second = START_S + Math.floor((i / rows) * SPAN_S);
      const eventType = pick(EVENT_TYPES, rand());
      const section = SECTIONS[Math.floor(rand() * SECTIONS.length)]!;
      const query = Array.from({ length: 1 + Math.floor(rand() * 2) }, () => WORDS[Math.floor(rand() * WORDS.length)]).join('+');
      const url = `https://ex.com/${section}/${Math.floor(rand() * 100_000)}?q=${query}`;
      return '{"ts":"' + tsFor(second) +
        '","id":' + (i + 1) +
        ',"user_id":' + (1 + Math.floor(rand() * 4_000_000)) +
        ',"event_type":"' + eventType +
        '","country":"' + pick(COUNTRIES, rand()) +
        '","status":' + pick(STATUSES, rand()) +
        ',"duration_ms":' + Math.floor(rand() * rand() * 30_000) +
        ',"price":' + (eventType === 'purchase' || eventType === 'add_to_cart' ? (rand() * 500).toFixed(2) : '0') +
        ',"score":' + rand().toFixed(4) +
        ',"sku":"SKU-' + Math.floor(rand() * 1_000_000).toString(36).toUpperCase() +
        '","url":"' + url + '"}';
    },
  };
}

type Weighted<T> = { values: T[]; cumulative: number[] };

function weighted<T>(entries: Array<[T, number]>): Weighted<T> {
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let acc = 0;
  return { values: entries.map(([v]) => v), cumulative: entries.map(([, w]) => (acc += w / total)) };
}

function pick<T>(w: Weighted<T>, r: number): T {
  for (let i = 0; i < w.cumulative.length; i++) if (r < w.cumulative[i]!) return w.values[i]!;
  return w.values[w.values.length - 1]!;
}

/** Small fast seeded PRNG (public domain); reproducible datasets across runs. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
