/**
 * record-format — what a record's value bytes are (SLUICE_FORMAT), and the
 * RowDecoder each table gets for it.
 *
 * Contract: a RecordFormat makes one RowDecoder per table schema version
 * (decoder.ts contract: one row or a bad record with a reason, never a
 * partial row, never a throw for bad input) and, for registry formats,
 * `prepare(records)` fetches the schemas of ids the batch carries that are
 * not known yet; it must resolve before those records are decoded (the
 * worker awaits it, retrying while it rejects: a registry outage holds the
 * partition, nothing is dead-lettered for it). After `prepare`, decoding
 * is synchronous and needs no network.
 *   json        the JSON decoder (json.ts); no registry
 *   avro        Confluent frame + Avro (avro.ts)
 *   protobuf    Confluent frame with message indexes + Protobuf
 *               (protobuf.ts); or, with SLUICE_PROTOBUF_DESCRIPTOR and
 *               SLUICE_PROTOBUF_MESSAGE, bare Protobuf of one message type
 *               without a registry (a value starting with byte 0 — never a
 *               valid Protobuf field tag — is taken as a Confluent frame
 *               and its header skipped)
 *   jsonschema  Confluent frame + JSON (the schema id must exist; the JSON
 *               is decoded against the table like `json`; the JSON Schema
 *               itself is not evaluated)
 * Bad records, each with its reason: no frame, an id the registry answers
 * 404 for, a schema of another type than SLUICE_FORMAT, a schema that
 * cannot map to the table (mapping.ts), a payload that does not match its
 * schema, a value its column refuses.
 */
import { RegistryError, SchemaRegistry, type RegistryOptions, type RegistrySchema } from './registry.js';
import { ConfigError } from '../errors.js';
import type { SourceRecord } from '../kafka/record.js';
import { ChunkRecord } from '../kafka/record.js';
import { avroSchema } from './avro.js';
import { bad, OK, writeValues, type DecodeOutcome, type RowDecoder, type RowLayout, type Spans, type TableSchema } from './decoder.js';
import { JsonDecoder } from './json.js';
import { plan, type FieldType, type Plan } from './mapping.js';
import { localMessage, registryMessage } from './protobuf.js';
import type { DirectFill } from './protobuf-reader.js';
import type { RowWriter } from './row-writer.js';
import { MAGIC, readFrame } from './wire.js';

const EMPTY = new Uint8Array(0);

export type FormatName = 'json' | 'avro' | 'protobuf' | 'jsonschema';
export const FORMAT_NAMES: readonly FormatName[] = ['json', 'avro', 'protobuf', 'jsonschema'];

export interface FormatOptions {
  readonly format: FormatName;
  readonly registry: RegistryOptions | undefined;
  /** Protobuf without a registry: descriptor set file or .proto files, and the message's full name. */
  readonly protobufFiles: readonly string[];
  readonly protobufMessage: string | undefined;
}

export interface RecordFormat {
  readonly name: FormatName;
  decoder(schema: TableSchema, layout: RowLayout, strict: boolean): RowDecoder;
  prepare(records: readonly SourceRecord[]): Promise<void>;
  close(): void;
}

/** Builds the format; a Protobuf descriptor that cannot be loaded is a ConfigError. */
export function createRecordFormat(opts: FormatOptions): RecordFormat {
  if (opts.format === 'json') return jsonFormat;
  if (opts.format === 'protobuf' && opts.protobufMessage !== undefined && opts.protobufFiles.length > 0) {
    const m = localMessage(opts.protobufFiles, opts.protobufMessage);
    if (typeof m === 'string') throw new ConfigError('SLUICE_PROTOBUF_DESCRIPTOR', `cannot load message ${opts.protobufMessage} from ${opts.protobufFiles.join(', ')}: ${m}`);
    return new LocalProtobufFormat(m);
  }
  if (!opts.registry) throw new ConfigError('SLUICE_SCHEMA_REGISTRY_URL', `SLUICE_FORMAT=${opts.format} needs a Schema Registry`);
  return new RegistryFormat(opts.format, new SchemaRegistry(opts.registry));
}

const jsonFormat: RecordFormat = {
  name: 'json',
  decoder: (schema, layout, strict) => new JsonDecoder(schema, { layout, strict }),
  prepare: () => Promise.resolve(),
  close: () => {},
};

interface Compiled {
  readonly plan: Plan;
  /** Bytes straight to the column values, when the schema's shape allows (protobuf-reader.ts, avro-reader.ts). */
  readonly direct: DirectFill | undefined;
  decode(buf: Uint8Array, start: number, end: number): Record<string, unknown> | string;
}

/** Decodes payloads with a compiled schema through a plan: the part every schema'd format shares. */
abstract class PlannedDecoder implements RowDecoder {
  private readonly values: unknown[];
  /** Strings the direct reader left in the record's bytes (decoder.ts SPAN). */
  private readonly spans: Spans;
  constructor(readonly schema: TableSchema, readonly layout: RowLayout, private readonly strict: boolean) {
    this.values = new Array<unknown>(schema.columns.length);
    this.spans = { buf: EMPTY, start: new Array<number>(schema.columns.length).fill(0), end: new Array<number>(schema.columns.length).fill(0) };
  }

  abstract decode(value: Uint8Array, out: RowWriter, start?: number, end?: number): DecodeOutcome;

  protected row(c: Compiled, buf: Uint8Array, start: number, end: number, out: RowWriter, what: string): DecodeOutcome {
    const { unknown } = c.plan;
    if (this.strict && unknown.length > 0) return bad(undefined, `${what} has field(s) ${unknown.join(', ')} the table has no column for (SLUICE_SKIP_UNKNOWN_FIELDS=false)`, unknown);
    const values = this.values;
    const mark = out.mark();
    let outcome: DecodeOutcome;
    try {
      // Both fills set every column (undefined: absent): nothing of the previous row stays.
      // The direct reader declines what it is not sure of; protobufjs or avsc then gives the row or the reason.
      if (c.direct === undefined || !c.direct(buf, start, end, values, this.spans)) {
        const obj = c.decode(buf, start, end);
        if (typeof obj === 'string') return bad(undefined, `${what}: ${obj}`, unknown);
        c.plan.fill(obj, values);
      }
      outcome = writeValues(this.schema, this.layout, values, out, 'default', this.spans);
    } catch (err) {
      // A value no conversion could take (an instant past what a date can
      // be, …): that record is bad, the sink goes on. Never a throw out of decode.
      out.rollback(mark);
      return bad(undefined, `${what}: ${err instanceof Error ? err.message : String(err)}`, unknown);
    }
    if (!outcome.ok) return bad(outcome.column, `${outcome.reason} (${what})`, unknown);
    return unknown.length > 0 ? { ok: true, unknown } : OK;
  }

  protected compile(root: (FieldType & { k: 'record' }) | string, decode: Compiled['decode'], direct?: (paths: Plan['paths']) => DirectFill | undefined): Compiled | string {
    if (typeof root === 'string') return root;
    const p = plan(root, this.schema);
    return typeof p === 'string' ? p : { plan: p, decode, direct: direct?.(p.paths) };
  }
}

class RegistryFormat implements RecordFormat {
  /** Schemas by id; null: the registry has no such id (404). */
  readonly schemas = new Map<number, RegistrySchema | null>();

  constructor(readonly name: FormatName, readonly registry: SchemaRegistry) {}

  decoder(schema: TableSchema, layout: RowLayout, strict: boolean): RowDecoder {
    return new RegistryDecoder(this, schema, layout, strict);
  }

  async prepare(records: readonly SourceRecord[]): Promise<void> {
    let missing: Set<number> | undefined;
    for (const r of records) {
      const id = schemaIdOf(r);
      if (id !== undefined && !this.schemas.has(id)) (missing ??= new Set()).add(id);
    }
    if (!missing) return;
    const found = await Promise.all([...missing].map((id) => this.registry.schemaById(id)));
    let i = 0;
    for (const id of missing) this.schemas.set(id, found[i++] ?? null);
  }

  close(): void {
    this.registry.close();
  }
}

function schemaIdOf(r: SourceRecord): number | undefined {
  if (r instanceof ChunkRecord && r.valueStart >= 0) return idAt(r.chunk, r.valueStart, r.valueEnd);
  return r.value ? idAt(r.value, 0, r.value.length) : undefined;
}

function idAt(buf: Uint8Array, s: number, e: number): number | undefined {
  if (e - s < 5 || buf[s] !== MAGIC) return undefined;
  return ((buf[s + 1]! << 24) >>> 0) + (buf[s + 2]! << 16) + (buf[s + 3]! << 8) + buf[s + 4]!;
}

const TYPE_OF: Record<string, string> = { avro: 'AVRO', protobuf: 'PROTOBUF', jsonschema: 'JSON' };

class RegistryDecoder extends PlannedDecoder {
  private readonly compiled = new Map<string, Compiled | string>();
  private readonly json: JsonDecoder | undefined;

  constructor(private readonly format: RegistryFormat, schema: TableSchema, layout: RowLayout, strict: boolean) {
    super(schema, layout, strict);
    if (format.name === 'jsonschema') this.json = new JsonDecoder(schema, { layout, strict });
  }

  /** The schema id of the previous record and its compiled plan: consecutive records almost always share them. */
  private lastId = -1;
  private last: Compiled | undefined;
  private lastWhat = '';

  decode(value: Uint8Array, out: RowWriter, start = 0, end = value.length): DecodeOutcome {
    const proto = this.format.name === 'protobuf';
    if (this.last && idAt(value, start, end) === this.lastId && (!proto || (end - start >= 6 && value[start + 5] === 0))) {
      return this.row(this.last, value, start + (proto ? 6 : 5), end, out, this.lastWhat);
    }
    const f = readFrame(value, start, end, proto);
    if (typeof f === 'string') return bad(undefined, `not a Schema Registry record: ${f}`);
    const s = this.format.schemas.get(f.schemaId);
    if (s === undefined) {
      // prepare() runs before every decode of a batch: reaching here is a bug, never a bad record.
      throw new RegistryError('transient', `schema id ${f.schemaId} was not fetched before decoding`);
    }
    if (s === null) return bad(undefined, `schema id ${f.schemaId} is not in the Schema Registry at ${this.format.registry.where}`);
    if (s.type !== TYPE_OF[this.format.name]) return bad(undefined, `schema id ${f.schemaId} is a ${s.type} schema, SLUICE_FORMAT is ${this.format.name}`);
    if (this.json) return this.json.decode(value, out, f.payloadStart, end);
    const key = proto && !(f.indexes.length === 1 && f.indexes[0] === 0) ? `${f.schemaId}:${f.indexes.join(',')}` : String(f.schemaId);
    let c = this.compiled.get(key);
    if (c === undefined) {
      c = proto ? this.compileProtobuf(s, f.indexes) : this.compileAvro(s);
      this.compiled.set(key, c);
    }
    if (typeof c === 'string') return bad(undefined, `schema id ${f.schemaId}: ${c}`);
    if (key === String(f.schemaId)) {
      this.lastId = f.schemaId;
      this.last = c;
      this.lastWhat = `schema id ${f.schemaId}`;
    }
    return this.row(c, value, f.payloadStart, end, out, `schema id ${f.schemaId}`);
  }

  private compileAvro(s: RegistrySchema): Compiled | string {
    const a = avroSchema(s.schema);
    if (typeof a === 'string') return a;
    return this.compile(a.root, a.decode, a.direct);
  }

  private compileProtobuf(s: RegistrySchema, indexes: readonly number[]): Compiled | string {
    const m = registryMessage(s.schema, s.imports, indexes);
    if (typeof m === 'string') return m;
    return this.compile(m.root, m.decode, m.direct);
  }
}

class LocalProtobufFormat implements RecordFormat {
  readonly name = 'protobuf' as const;
  constructor(private readonly message: Exclude<ReturnType<typeof localMessage>, string>) {}

  decoder(schema: TableSchema, layout: RowLayout, strict: boolean): RowDecoder {
    const m = this.message;
    return new (class extends PlannedDecoder {
      private readonly c = this.compile(m.root, m.decode, m.direct);
      decode(value: Uint8Array, out: RowWriter, start = 0, end = value.length): DecodeOutcome {
        if (typeof this.c === 'string') return bad(undefined, `message ${m.name}: ${this.c}`);
        let from = start;
        if (end > start && value[start] === MAGIC) {
          const f = readFrame(value, start, end, true);
          if (typeof f === 'string') return bad(undefined, `starts with byte 0 (a Schema Registry frame) but ${f}`);
          from = f.payloadStart;
        }
        return this.row(this.c, value, from, end, out, `message ${m.name}`);
      }
    })(schema, layout, strict);
  }

  prepare(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {}
}
