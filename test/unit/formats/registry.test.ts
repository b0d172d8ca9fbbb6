/**
 * The Schema Registry client against a small local HTTP server speaking the
 * Confluent API (the integration test runs it against Apicurio): what it
 * asks, how it reads Confluent's answers (no schemaType for Avro), and how
 * each failure is classified.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryError, SchemaRegistry } from '../../../src/formats/registry.js';

const requests: Array<{ url: string; auth: string | undefined }> = [];
let status = 200;
let server: Server;
let base = '';

const answers: Record<string, unknown> = {
  '/ccompat/schemas/ids/1': { schema: '{"type":"string"}' },
  '/ccompat/schemas/ids/2': { schema: 'syntax = "proto3"; import "a.proto"; message M { A a = 1; }', schemaType: 'PROTOBUF', references: [{ name: 'a.proto', subject: 'a', version: 3 }] },
  '/ccompat/subjects/a/versions/3': { schema: 'syntax = "proto3"; import "b.proto"; message A { B b = 1; }', schemaType: 'PROTOBUF', references: [{ name: 'b.proto', subject: 'b/x', version: 1 }] },
  '/ccompat/subjects/b%2Fx/versions/1': { schema: 'syntax = "proto3"; message B {}', schemaType: 'PROTOBUF' },
};

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    requests.push({ url: req.url!, auth: req.headers.authorization });
    const a = answers[req.url!];
    if (status !== 200) res.writeHead(status).end('{"error_code":50001,"message":"boom"}');
    else if (a === undefined) res.writeHead(404).end('{"error_code":40403,"message":"Schema not found"}');
    else res.writeHead(200, { 'content-type': 'application/vnd.schemaregistry.v1+json' }).end(JSON.stringify(a));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ccompat`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('SchemaRegistry', () => {
  it('reads a schema by id, Avro when schemaType is left out (Confluent), with basic auth, once per id', async () => {
    requests.length = 0;
    const r = new SchemaRegistry({ url: base, user: 'u', password: 'p' });
    const [a, b] = await Promise.all([r.schemaById(1), r.schemaById(1)]);
    expect(a).toEqual({ id: 1, type: 'AVRO', schema: '{"type":"string"}', imports: new Map() });
    expect(b).toBe(a);
    await r.schemaById(1);
    expect(requests).toEqual([{ url: '/ccompat/schemas/ids/1', auth: 'Basic ' + Buffer.from('u:p').toString('base64') }]);
    r.close();
  });

  it('resolves references transitively, by import name', async () => {
    const r = new SchemaRegistry({ url: base + '/' });
    const s = await r.schemaById(2);
    expect(s?.type).toBe('PROTOBUF');
    expect([...s!.imports.keys()]).toEqual(['a.proto', 'b.proto']);
    r.close();
  });

  it('an id the registry does not have is undefined (a bad record, not a failure)', async () => {
    const r = new SchemaRegistry({ url: base });
    expect(await r.schemaById(99)).toBeUndefined();
    r.close();
  });

  it('5xx and an unreachable registry are transient; 401 is fatal; a failure is not cached', async () => {
    const r = new SchemaRegistry({ url: base });
    status = 503;
    await expect(r.schemaById(1)).rejects.toMatchObject({ kind: 'transient', status: 503 });
    status = 401;
    await expect(r.schemaById(1)).rejects.toMatchObject({ kind: 'fatal', status: 401 });
    status = 200;
    expect((await r.schemaById(1))?.type).toBe('AVRO');
    r.close();
    const down = new SchemaRegistry({ url: 'http://127.0.0.1:1/x' });
    const err = await down.schemaById(1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(err).toMatchObject({ kind: 'transient', retriable: true });
    down.close();
  });
});
