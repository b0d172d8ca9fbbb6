/**
 * micro-formats — in-process timings of decoding one record into one
 * RowBinary row, per format (issue 13), no services.
 *
 * Contract: loads the *built* modules (BENCH_SLUICE_DIST, default
 * <repo>/dist) and decodes the benchmark's own events (lib/dataset.ts)
 * into the bench table, as JSON, as Avro and as Protobuf (Confluent frames,
 * the schemas bench/formats.ts registers, preset in the format instead of
 * fetched). Before timing it checks that the three formats write the same
 * row bytes for every event. Then each format decodes the whole batch
 * --runs times (after one warm-up pass, a GC before each run); prints the
 * median and fastest µs per row, and CPU µs per row (user + system, median:
 * on a shared machine wall time also counts others' CPU).
 *
 * Parameters: --rows N (100000), --runs N (7), --formats json,avro,protobuf
 * (which to time; all three are still checked).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import avro from 'avsc';
import protobuf from 'protobufjs';
import { COLUMNS, createDataset } from './lib/dataset.js';
import { formatTable, intParam } from './lib/harness.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values: args } = parseArgs({ options: { rows: { type: 'string' }, runs: { type: 'string' }, formats: { type: 'string' } } });
const ROWS = intParam('--rows', args.rows, 100_000);
const RUNS = intParam('--runs', args.runs, 7);
const DIST = resolve(process.env.BENCH_SLUICE_DIST || join(repoRoot, 'dist'));

const AVRO = {
  type: 'record', name: 'Event', fields: [
    { name: 'ts', type: { type: 'long', logicalType: 'timestamp-millis' } }, { name: 'id', type: 'long' }, { name: 'user_id', type: 'int' },
    { name: 'event_type', type: 'string' }, { name: 'country', type: 'string' }, { name: 'status', type: 'int' }, { name: 'duration_ms', type: 'int' },
    { name: 'price', type: 'double' }, { name: 'score', type: 'float' }, { name: 'sku', type: 'string' }, { name: 'url', type: 'string' },
  ],
};
const PROTO = `syntax = "proto3";
import "google/protobuf/timestamp.proto";
message Event {
  google.protobuf.Timestamp ts = 1; uint64 id = 2; uint32 user_id = 3; string event_type = 4; string country = 5;
  uint32 status = 6; uint32 duration_ms = 7; double price = 8; float score = 9; string sku = 10; string url = 11;
}`;

interface Writer { pos: number; finish(): Buffer }
interface Decoder { decode(value: Uint8Array, out: Writer): { ok: boolean; reason?: string } }
interface Format { decoder(schema: unknown, layout: string, strict: boolean): Decoder; schemas?: Map<number, unknown> }

async function load<T>(file: string): Promise<T> {
  const path = join(DIST, file);
  if (!existsSync(path)) throw new Error(`${path} does not exist (run npm run build)`);
  return (await import(pathToFileURL(path).href)) as T;
}

function frame(id: number, payload: Uint8Array, protobufIndex: boolean): Buffer {
  const head = Buffer.from([0, 0, 0, 0, id]);
  return Buffer.concat(protobufIndex ? [head, Buffer.from([0]), payload] : [head, payload]);
}

async function main(): Promise<void> {
  const { tableSchema } = await load<{ tableSchema(info: unknown): unknown }>('formats/decoder.js');
  const { createRecordFormat } = await load<{ createRecordFormat(o: unknown): Format }>('formats/record-format.js');
  const { RowWriter } = await load<{ RowWriter: new (n: number) => Writer }>('formats/row-writer.js');
  const columns = COLUMNS.trim().split(',\n').map((l) => { const [name, type] = l.trim().split(/\s+/); return { name, type, defaultKind: '', defaultExpression: '' }; });
  const schema = tableSchema({ database: 'bench', table: 'events', columns, serverTimezone: 'UTC', serverVersion: '18.16.1' });

  const avroType = avro.Type.forSchema(AVRO as avro.Schema);
  const root = new protobuf.Root();
  root.addJSON((protobuf.common.get('google/protobuf/timestamp.proto') as { nested: protobuf.AnyNestedObject }).nested as never);
  protobuf.parse(PROTO, root, { keepCase: true });
  root.resolveAll();
  const Event = root.lookupType('Event');
  const data = createDataset(ROWS);
  const records: Record<string, Buffer[]> = { json: [], avro: [], protobuf: [] };
  for (let i = 0; i < ROWS; i++) {
    const line = data.eventLine(i);
    const e = JSON.parse(line) as Record<string, unknown>;
    const ms = Date.parse(String(e.ts).replace(' ', 'T') + 'Z');
    records.json!.push(Buffer.from(line));
    records.avro!.push(frame(1, avroType.toBuffer({ ...e, ts: ms }), false));
    records.protobuf!.push(frame(2, Event.encode(Event.fromObject({ ...e, ts: { seconds: ms / 1000, nanos: 0 } })).finish(), true));
  }
  const decoders: Record<string, Decoder> = {};
  for (const f of ['json', 'avro', 'protobuf']) {
    const fmt = createRecordFormat({ format: f, registry: f === 'json' ? undefined : { url: 'http://127.0.0.1:9' }, protobufFiles: [], protobufMessage: undefined });
    fmt.schemas?.set(1, { id: 1, type: 'AVRO', schema: JSON.stringify(AVRO), imports: new Map() });
    fmt.schemas?.set(2, { id: 2, type: 'PROTOBUF', schema: PROTO, imports: new Map() });
    decoders[f] = fmt.decoder(schema, 'RowBinary', false);
  }
  const run = (f: string): Buffer => {
    const w = new RowWriter(1 << 20);
    const d = decoders[f]!;
    for (const r of records[f]!) {
      const o = d.decode(r, w);
      if (!o.ok) throw new Error(`${f}: ${o.reason}`);
    }
    return w.finish();
  };
  const json = run('json');
  for (const f of ['avro', 'protobuf']) if (!run(f).equals(json)) throw new Error(`${f} rows differ from JSON's`);
  process.stdout.write(`${ROWS} bench events, rows identical across formats; ${RUNS} runs each (dist: ${DIST})\n`);
  const table: string[][] = [];
  for (const f of (args.formats ?? 'json,avro,protobuf').split(',')) {
    run(f);
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      (globalThis as { gc?: () => void }).gc?.();
      const c0 = process.cpuUsage();
      const t = process.hrtime.bigint();
      run(f);
      wall.push(Number(process.hrtime.bigint() - t) / 1000 / ROWS);
      const dc = process.cpuUsage(c0);
      cpu.push((dc.user + dc.system) / ROWS);
    }
    wall.sort((a, b) => a - b);
    cpu.sort((a, b) => a - b);
    const mid = (a: number[]) => a[a.length >> 1]!.toFixed(2);
    table.push([f, mid(wall), wall[0]!.toFixed(2), mid(cpu)]);
  }
  process.stdout.write(formatTable(['format', 'µs/row median', 'µs/row fastest', 'CPU µs/row median'], table) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`micro-formats: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
