/**
 * Issue #13 end to end: Avro and Protobuf records framed the Confluent way,
 * schemas in a real registry (Apicurio Registry 3.0.9, Confluent API),
 * through real Kafka and the sink into ClickHouse 18.16.
 *
 *  - every mapped type lands with the right value (Avro; Protobuf with an
 *    import resolved through a registry reference and a message index);
 *  - a producer upgrading its schema mid-stream (a field added, one
 *    removed): both versions land, absent fields take the column's default;
 *  - an unknown schema id, a corrupt payload and a value its column cannot
 *    hold are dead-lettered with their reason and their original bytes; the
 *    last lands after the column is widened, by `sluice replay`, which
 *    decodes the letter with the registry again;
 *  - Protobuf from a descriptor set file, without a registry;
 *  - JSON Schema: framed JSON decoded as JSON, the id checked;
 *  - the registry stopped mid-stream and started again: nothing is
 *    dead-lettered, nothing lost (a private registry on its own port, so
 *    no other test sees the outage).
 * The shared registry is started by beforeAll (`services.sh start
 * registry`, a no-op when it runs) and left running.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import 'protobufjs/ext/descriptor/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replayCommand } from '../../src/cli/replay.js';
import { frame } from '../../src/formats/wire.js';
import { BROKERS, CLICKHOUSE_URL, createTopic, endOffsets, freePort, metricSum, produce, randomName, scalar, sinkEnv, startSink, useClickHouse, waitFor, readMessages } from '../helpers.js';
import { avroType, PRIVATE_REGISTRY, register, registryService, registryUrl } from '../registry.js';

const ch = useClickHouse();
const REGISTRY = registryUrl();

beforeAll(async () => {
  await registryService('start');
}, 180_000);

async function tsv(table: string): Promise<string[]> {
  const rs = await ch().query({ query: `SELECT * FROM ${table} ORDER BY id`, format: 'TabSeparated' });
  return (await rs.text()).replace(/\n$/, '').split('\n');
}

/** Records in the topic's dead-letter topic (0 while it does not exist). */
async function dlqCount(topic: string): Promise<number> {
  const ends = await endOffsets(`${topic}.dlq`).catch(() => new Map<number, number>());
  return [...ends.values()].reduce((x, y) => x + y, 0);
}

const header = (m: { headers?: Record<string, unknown> }, k: string) => (m.headers?.[k] as Buffer | undefined)?.toString();

// ---- Avro ------------------------------------------------------------------

const line = { type: 'record', name: 'Line', fields: [{ name: 'sku', type: 'string' }, { name: 'n', type: 'int' }] };
const common = [
  { name: 'id', type: 'long' },
  { name: 'big', type: 'long' },
  { name: 'small', type: 'int' },
  { name: 'amount', type: 'double' },
  { name: 'ok', type: 'boolean' },
  { name: 'name', type: 'string' },
  { name: 'raw', type: 'bytes' },
  { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } },
  { name: 'ts_us', type: { type: 'long', logicalType: 'timestamp-micros' } },
  { name: 'day', type: { type: 'int', logicalType: 'date' } },
  { name: 'price', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } },
  { name: 'uid', type: { type: 'string', logicalType: 'uuid' } },
  { name: 'color', type: { type: 'enum', name: 'Color', symbols: ['RED', 'GREEN'] } },
  { name: 'tags', type: { type: 'array', items: 'string' } },
  { name: 'attrs', type: { type: 'map', values: 'long' } },
  { name: 'addr', type: { type: 'record', name: 'Addr', fields: [{ name: 'city', type: 'string' }, { name: 'zip', type: 'int' }] } },
  { name: 'lines', type: { type: 'array', items: line } },
];
const AVRO_V1 = { type: 'record', name: 'Order', namespace: 'it', fields: [...common, { name: 'note', type: ['null', 'string'], default: null }] };
// v2: `note` removed, `channel` added — a producer upgrading mid-stream.
const AVRO_V2 = { type: 'record', name: 'Order', namespace: 'it', fields: [...common, { name: 'channel', type: 'string', default: 'web' }] };

const AVRO_DDL = (t: string) => `CREATE TABLE ${t} (
  id UInt64, big Int64, small UInt8, amount Float64, ok UInt8, name String, raw String, ts DateTime, ts_us DateTime, day Date,
  price Decimal(10, 2), uid UUID, color Enum8('RED' = 1, 'GREEN' = 2), tags Array(String), attrs String,
  \`addr.city\` String, \`addr.zip\` Int32, lines Nested(sku String, n Int32), note Nullable(String), channel String DEFAULT 'none'
) ENGINE = MergeTree ORDER BY id`;

function order(id: number, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    id, big: 2n ** 62n + BigInt(id), small: id, amount: id + 0.5, ok: id % 2 === 1, name: `n${id}`, raw: Buffer.from(`r${id}`),
    ts: 1_700_000_000_000 + id * 1000, ts_us: 1_700_000_000_000_000 + id * 1_000_000, day: 19_000 + id, price: Buffer.from([0xff, 0x85 - id]),
    uid: `00000000-0000-0000-0000-00000000000${id}`, color: id % 2 ? 'GREEN' : 'RED', tags: [`t${id}`, 'x'], attrs: { k: id },
    addr: { city: `c${id}`, zip: 100 + id }, lines: [{ sku: `s${id}`, n: id }, { sku: 'z', n: 0 }], ...extra,
  };
}

/** The row ClickHouse 18.16 shows for order(id), TabSeparated. */
function orderRow(id: number, small: number, note: string, channel: string): string {
  const ts = new Date((1_700_000_000 + id) * 1000).toISOString().slice(0, 19).replace('T', ' ');
  const day = new Date((19_000 + id) * 86_400_000).toISOString().slice(0, 10);
  const price = (-(0x7b + id) / 100).toFixed(2); // 0xff,0x85-id = -(123+id)
  return [
    id, 2n ** 62n + BigInt(id), small, id + 0.5, id % 2, `n${id}`, `r${id}`, ts, ts, day, price, `00000000-0000-0000-0000-00000000000${id}`,
    id % 2 ? 'GREEN' : 'RED', `['t${id}','x']`, `{"k":${id}}`, `c${id}`, 100 + id, `['s${id}','z']`, `[${id},0]`, note, channel,
  ].join('\t');
}

describe('Avro through the Schema Registry', () => {
  it('lands every mapped type, across a schema upgrade; bad records are dead-lettered and a replay lands the fixable one', async () => {
    const topic = randomName('avro');
    const table = randomName('avro');
    await ch().command({ query: AVRO_DDL(table) });
    await createTopic(topic, 1);
    const v1 = await register(REGISTRY, `${topic}-value`, 'AVRO', JSON.stringify(AVRO_V1));
    const v2 = await register(REGISTRY, `${topic}-value`, 'AVRO', JSON.stringify(AVRO_V2));
    expect(v2).not.toBe(v1);
    const t1 = avroType(AVRO_V1);
    const t2 = avroType(AVRO_V2);
    const corrupt = frame(v1, Buffer.from([0x02, 0xff, 0xff, 0xff]));
    const unknownId = frame(987_654, t1.toBuffer(order(9, { note: null })));
    const tooBig = frame(v1, t1.toBuffer(order(6, { small: 300, note: null })));
    await produce(topic, [
      frame(v1, t1.toBuffer(order(1, { note: 'hello' }))),
      frame(v1, t1.toBuffer(order(2, { note: null }))),
      corrupt,
      frame(v2, t2.toBuffer(order(3, { channel: 'app' }))),
      unknownId,
      tooBig,
      frame(v2, t2.toBuffer(order(4, { channel: 'web' }))),
    ], 1);

    const sink = startSink(sinkEnv(topic, table, randomName('g'), { SLUICE_FORMAT: 'avro', SLUICE_SCHEMA_REGISTRY_URL: REGISTRY }));
    await waitFor('4 rows', async () => (await scalar(ch(), `SELECT count() FROM ${table}`)) === 4);
    await waitFor('3 dead letters', async () => (await dlqCount(topic)) === 3);
    const letters = await readMessages(`${topic}.dlq`, 3);
    await sink.stop();

    // 18.16 has no RowBinaryWithDefaults: an absent field takes the type's zero value ('' for channel), as with JSON.
    expect(await tsv(table)).toEqual([orderRow(1, 1, 'hello', ''), orderRow(2, 2, '\\N', ''), orderRow(3, 3, '\\N', 'app'), orderRow(4, 4, '\\N', 'web')]);

    expect(letters.map((m) => header(m, 'sluice.source.offset'))).toEqual(['2', '4', '5']);
    expect(letters.map((m) => header(m, 'sluice.error.class'))).toEqual(['invalid', 'invalid', 'invalid']);
    expect(header(letters[0]!, 'sluice.error.message')).toMatch(new RegExp(`schema id ${v1}: payload does not match its Avro schema`));
    expect(header(letters[1]!, 'sluice.error.message')).toMatch(/schema id 987654 is not in the Schema Registry/);
    expect(header(letters[2]!, 'sluice.error.message')).toMatch(/300.*UInt8/);
    expect(header(letters[2]!, 'sluice.error.column')).toBe('small');
    // Letters keep the record's original bytes.
    expect(letters.map((m) => m.value)).toEqual([corrupt, unknownId, tooBig]);

    // Widen the column; replay decodes the letters with the registry again: the fixable one lands, the others fail again.
    await ch().command({ query: `ALTER TABLE ${table} MODIFY COLUMN small UInt16` });
    let out = '';
    const code = await replayCommand(['--topic', topic, '--json'], {
      out: (s) => (out += s),
      err: () => {},
      env: { SLUICE_KAFKA_BROKERS: BROKERS.join(','), SLUICE_CLICKHOUSE_URL: CLICKHOUSE_URL, SLUICE_TABLE: table, SLUICE_FORMAT: 'avro', SLUICE_SCHEMA_REGISTRY_URL: REGISTRY },
      isTTY: false,
    });
    const summary = JSON.parse(out) as { replayed: number; stillFailing: number };
    expect([summary.replayed, summary.stillFailing]).toEqual([1, 2]); // the unknown id and the corrupt payload still cannot be rows
    expect(code).not.toBe(0);
    expect((await tsv(table)).find((l) => l.startsWith('6\t'))).toBe(orderRow(6, 300, '\\N', ''));
  });
});

// ---- Protobuf ----------------------------------------------------------------

const COMMON_PROTO = 'syntax = "proto3";\npackage common;\nmessage Addr { string city = 1; int32 zip = 2; }\n';
const ORDER_PROTO = `syntax = "proto3";
package shop.v1;
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
import "common.proto";
message Other { int32 x = 1; }
message Order {
  int64 id = 1;
  uint64 big = 2;
  sint32 delta = 3;
  double amount = 4;
  bool paid = 5;
  string note = 6;
  bytes blob = 7;
  google.protobuf.Timestamp at = 8;
  google.protobuf.Int32Value qty = 9;
  google.protobuf.StringValue coupon = 10;
  enum Status { NEW = 0; SHIPPED = 1; }
  Status status = 11;
  Status status_n = 12;
  repeated string tags = 13;
  map<string, int64> attrs = 14;
  oneof payment { string card = 15; string iban = 16; }
  common.Addr addr = 17;
  optional int32 maybe = 18;
  message Line { string sku = 1; int32 n = 2; }
  repeated Line lines = 19;
}
`;

const PROTO_DDL = (t: string) => `CREATE TABLE ${t} (
  id Int64, big UInt64, delta Int32, amount Float64, paid UInt8, note String, blob String, at DateTime, qty Nullable(Int32),
  coupon Nullable(String), status Enum8('NEW' = 0, 'SHIPPED' = 1), status_n UInt8, tags Array(String), attrs String, payment String,
  card Nullable(String), iban Nullable(String), \`addr.city\` String, \`addr.zip\` Int32, maybe Nullable(Int32), lines Nested(sku String, n Int32)
) ENGINE = MergeTree ORDER BY id`;

function protoRoot(): protobuf.Root {
  const root = new protobuf.Root();
  for (const f of ['google/protobuf/timestamp.proto', 'google/protobuf/wrappers.proto']) root.addJSON((protobuf.common.get(f) as { nested: protobuf.AnyNestedObject }).nested as never);
  protobuf.parse(COMMON_PROTO, root, { keepCase: true });
  protobuf.parse(ORDER_PROTO, root, { keepCase: true });
  root.resolveAll();
  return root;
}

const Order = protoRoot().lookupType('shop.v1.Order');
const protoOrders = [
  { id: '-9007199254740993', big: '18446744073709551615', delta: -7, amount: 9.5, paid: true, note: 'n1', blob: Buffer.from('zz'), at: { seconds: 1_700_000_000, nanos: 5 }, qty: { value: 0 }, status: 1, status_n: 1, tags: ['a', 'b'], attrs: { k: '5' }, iban: 'DE00', addr: { city: 'Rome', zip: 100 }, maybe: 7, lines: [{ sku: 's', n: 2 }] },
  { id: '2', coupon: { value: 'C' }, card: '4111', addr: { city: 'Oslo' } },
].map((o) => Buffer.from(Order.encode(Order.fromObject(o)).finish()));
const protoRows = [
  "-9007199254740993\t18446744073709551615\t-7\t9.5\t1\tn1\tzz\t2023-11-14 22:13:20\t0\t\\N\tSHIPPED\t1\t['a','b']\t{\"k\":\"5\"}\tiban\t\\N\tDE00\tRome\t100\t7\t['s']\t[2]",
  "2\t0\t0\t0\t0\t\t\t0000-00-00 00:00:00\t\\N\tC\tNEW\t0\t[]\t{}\tcard\t4111\t\\N\tOslo\t0\t\\N\t[]\t[]",
];
// Sorted by id: the negative id first.
describe('Protobuf', () => {
  it('through the registry: an import resolved through a reference, the message index of the second message, every mapped type', async () => {
    const topic = randomName('proto');
    const table = randomName('proto');
    await ch().command({ query: PROTO_DDL(table) });
    await createTopic(topic, 1);
    const commonSubject = `${topic}-common.proto`;
    await register(REGISTRY, commonSubject, 'PROTOBUF', COMMON_PROTO);
    const id = await register(REGISTRY, `${topic}-value`, 'PROTOBUF', ORDER_PROTO, [{ name: 'common.proto', subject: commonSubject, version: 1 }]);
    await produce(topic, protoOrders.map((b) => frame(id, b, [1])), 1);
    const port = await freePort();
    const sink = startSink(sinkEnv(topic, table, randomName('g'), { SLUICE_FORMAT: 'protobuf', SLUICE_SCHEMA_REGISTRY_URL: REGISTRY, SLUICE_METRICS_PORT: String(port) }));
    // Rows or dead letters: a record dead-lettered by mistake fails the test at once, not at a timeout.
    await waitFor('2 records written', async () => (await scalar(ch(), `SELECT count() FROM ${table}`)) + (await metricSum(port, 'sluice_records_dead_lettered_total')) === 2);
    expect(await metricSum(port, 'sluice_records_dead_lettered_total')).toBe(0);
    await sink.stop();
    expect(await tsv(table)).toEqual(protoRows);
  });

  it('from a descriptor set file, without a registry', async () => {
    const topic = randomName('protod');
    const table = randomName('protod');
    await ch().command({ query: PROTO_DDL(table) });
    await createTopic(topic, 1);
    const dir = mkdtempSync(join(tmpdir(), 'sluice-desc-'));
    const desc = (protoRoot() as unknown as { toDescriptor(s: string): object }).toDescriptor('proto3');
    const file = join(dir, 'order.desc');
    writeFileSync(file, (desc.constructor as unknown as { encode(m: unknown): { finish(): Uint8Array } }).encode(desc).finish());
    await produce(topic, protoOrders, 1);
    const port = await freePort();
    const sink = startSink(sinkEnv(topic, table, randomName('g'), { SLUICE_FORMAT: 'protobuf', SLUICE_PROTOBUF_DESCRIPTOR: file, SLUICE_PROTOBUF_MESSAGE: 'shop.v1.Order', SLUICE_METRICS_PORT: String(port) }));
    // Rows or dead letters: a record dead-lettered by mistake fails the test at once, not at a timeout.
    await waitFor('2 records written', async () => (await scalar(ch(), `SELECT count() FROM ${table}`)) + (await metricSum(port, 'sluice_records_dead_lettered_total')) === 2);
    expect(await metricSum(port, 'sluice_records_dead_lettered_total')).toBe(0);
    await sink.stop();
    expect(await tsv(table)).toEqual(protoRows);
  });
});

// ---- JSON Schema ---------------------------------------------------------------

describe('JSON Schema', () => {
  it('framed JSON lands as JSON does; an id the registry lacks is dead-lettered', async () => {
    const topic = randomName('jsons');
    const table = randomName('jsons');
    await ch().command({ query: `CREATE TABLE ${table} (id UInt64, name String, at DateTime) ENGINE = MergeTree ORDER BY id` });
    await createTopic(topic, 1);
    const schema = { type: 'object', properties: { id: { type: 'integer' }, name: { type: 'string' }, at: { type: 'string' } } };
    const id = await register(REGISTRY, `${topic}-value`, 'JSON', JSON.stringify(schema));
    const json = (o: object) => Buffer.from(JSON.stringify(o));
    await produce(topic, [frame(id, json({ id: 1, name: 'a', at: '2026-11-28 10:00:00' })), frame(987_655, json({ id: 2 })), frame(id, json({ id: 3, name: 'c', at: '2026-11-28 10:00:01' }))], 1);
    const port = await freePort();
    const sink = startSink(sinkEnv(topic, table, randomName('g'), { SLUICE_FORMAT: 'jsonschema', SLUICE_SCHEMA_REGISTRY_URL: REGISTRY, SLUICE_METRICS_PORT: String(port) }));
    await waitFor('3 records written', async () => (await scalar(ch(), `SELECT count() FROM ${table}`)) + (await metricSum(port, 'sluice_records_dead_lettered_total')) === 3);
    await sink.stop();
    expect(await tsv(table)).toEqual(['1\ta\t2026-11-28 10:00:00', '3\tc\t2026-11-28 10:00:01']);
    const [letter] = await readMessages(`${topic}.dlq`, 1);
    expect(header(letter!, 'sluice.error.message')).toMatch(/schema id 987655 is not in the Schema Registry/);
  });
});

// ---- Registry outage ---------------------------------------------------------

describe('a registry outage mid-stream', () => {
  afterAll(async () => {
    await registryService('stop', PRIVATE_REGISTRY.env);
  });

  it('holds the partition while the registry is down: nothing dead-lettered, nothing lost', async () => {
    const url = registryUrl(PRIVATE_REGISTRY.port);
    await registryService('start', PRIVATE_REGISTRY.env);
    const schemaA = { type: 'record', name: 'E', fields: [{ name: 'id', type: 'long' }, { name: 'v', type: 'string' }] };
    const schemaB = { type: 'record', name: 'E', fields: [{ name: 'id', type: 'long' }, { name: 'v', type: 'string' }, { name: 'w', type: 'int', default: 0 }] };
    const topic = randomName('outage');
    const table = randomName('outage');
    await ch().command({ query: `CREATE TABLE ${table} (id UInt64, v String, w Int32) ENGINE = MergeTree ORDER BY id` });
    await createTopic(topic, 2);
    const a = await register(url, `${topic}-value`, 'AVRO', JSON.stringify(schemaA));
    // B is registered now, but no record carries it yet: the sink has never asked for it.
    const b = await register(url, `${topic}-value`, 'AVRO', JSON.stringify(schemaB));
    const tA = avroType(schemaA);
    const tB = avroType(schemaB);
    await produce(topic, Array.from({ length: 50 }, (_, i) => frame(a, tA.toBuffer({ id: i, v: `a${i}` }))), 2);
    const port = await freePort();
    const sink = startSink(sinkEnv(topic, table, randomName('g'), { SLUICE_FORMAT: 'avro', SLUICE_SCHEMA_REGISTRY_URL: url, SLUICE_METRICS_PORT: String(port) }));
    await waitFor('the first 50 rows', async () => (await scalar(ch(), `SELECT count() FROM ${table}`)) === 50);

    // Down, then records with the schema id the sink has not fetched yet.
    await registryService('stop', PRIVATE_REGISTRY.env);
    await produce(topic, Array.from({ length: 50 }, (_, i) => frame(b, tB.toBuffer({ id: 50 + i, v: `b${i}`, w: i }))), 2);
    await sink.waitForEvent('registry.retry');
    expect(await scalar(ch(), `SELECT count() FROM ${table}`)).toBe(50);

    await registryService('start', PRIVATE_REGISTRY.env);
    await waitFor('all 100 rows', async () => (await scalar(ch(), `SELECT count() FROM ${table}`)) === 100);
    expect(await scalar(ch(), `SELECT sum(w) FROM ${table}`)).toBe((49 * 50) / 2);
    expect(await metricSum(port, 'sluice_records_dead_lettered_total')).toBe(0);
    await sink.stop();
  });
});
