/**
 * Schema Registry helpers for the tests: the registry is Apicurio Registry
 * 3.0.9 started by scripts/services.sh (`start registry`, idempotent: a
 * test file starts it in beforeAll and leaves it running for the next);
 * schemas are registered over its Confluent API with plain HTTP, and
 * records are framed with the real Confluent wire format (src/formats/
 * wire.ts), message indexes included — @kafkajs/confluent-schema-registry
 * leaves those out for Protobuf.
 */
import { spawn } from 'node:child_process';
import avro from 'avsc';

const SERVICES = new URL('../scripts/services.sh', import.meta.url).pathname;

export const REGISTRY_PORT = 8081;
export const registryUrl = (port = REGISTRY_PORT) => `http://127.0.0.1:${port}/apis/ccompat/v7`;

/** A private registry (for the outage test): its own state dir and port, so stopping it disturbs no other test. */
export const PRIVATE_REGISTRY = {
  port: 18081,
  env: { LOCAL_SERVICES_DIR: new URL('../.local/private', import.meta.url).pathname, LOCAL_REGISTRY_PORT: '18081' },
};

export function registryService(command: 'start' | 'stop' | 'kill', env: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', [SERVICES, command, 'registry'], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ...env } });
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`services.sh ${command} registry exited ${code}`))));
  });
}

export interface Reference {
  readonly name: string;
  readonly subject: string;
  readonly version: number;
}

/** Registers a schema under `subject`; resolves with its id. */
export async function register(url: string, subject: string, schemaType: 'AVRO' | 'PROTOBUF' | 'JSON', schema: string, references: Reference[] = []): Promise<number> {
  const res = await fetch(`${url}/subjects/${encodeURIComponent(subject)}/versions`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schemaType, schema, references }),
  });
  const body = (await res.json()) as { id?: number; message?: string };
  if (!res.ok || body.id === undefined) throw new Error(`registering ${subject}: ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}

const LongBig = avro.types.LongType.__with({
  fromBuffer: (b: Buffer) => b.readBigInt64LE(),
  toBuffer: (n: bigint | number) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(n));
    return b;
  },
  fromJSON: BigInt,
  toJSON: Number,
  isValid: (n: unknown) => typeof n === 'bigint' || typeof n === 'number',
  compare: () => 0,
});

/** An Avro writer for `schema` that takes longs as numbers or bigints. */
export function avroType(schema: object): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { registry: { long: LongBig } as never });
}
