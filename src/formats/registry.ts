/**
 * registry — a client of the Confluent Schema Registry API (Confluent's own,
 * or Apicurio's /apis/ccompat/v7): schemas by id, and the schemas they
 * reference (Protobuf imports).
 *
 * Contract:
 *  - `schemaById(id)` resolves the schema, with every referenced file
 *    resolved recursively (by import name); `undefined` when the registry
 *    answers 404 for the id (the record is bad, not the registry).
 *    Results are cached for the process's life: a registered id never
 *    changes its schema. Concurrent asks for one id share one request.
 *  - Failures reject with RegistryError: network errors, timeouts, 408,
 *    429 and 5xx are 'transient' (an outage: the caller holds and retries);
 *    401/403 and other answers are 'fatal' (a person must act; retried
 *    slowly, as ClickHouse credentials are). Nothing here retries by itself.
 *  - `schemaType` is optional in answers: Confluent omits it for Avro,
 *    Apicurio always sends it.
 *  - Basic auth credentials and the CA file are used, never logged; error
 *    messages name the URL without credentials.
 * node:http(s) rather than fetch: a private CA needs an https Agent, which
 * Node's global fetch cannot take without the undici package.
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ConfigError, SluiceError, errorMessage } from '../errors.js';

export type SchemaType = 'AVRO' | 'PROTOBUF' | 'JSON';

export interface RegistryOptions {
  /** Base URL of the Confluent API, e.g. http://host:8081 or http://host:8080/apis/ccompat/v7. */
  readonly url: string;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
  /** PEM file of the CA that signed the registry's certificate (https). */
  readonly caFile?: string | undefined;
  readonly timeoutMs?: number;
}

export interface RegistrySchema {
  readonly id: number;
  readonly type: SchemaType;
  readonly schema: string;
  /** Referenced schemas by the name they are imported as, transitively (Protobuf imports). */
  readonly imports: ReadonlyMap<string, string>;
}

export class RegistryError extends SluiceError {
  readonly status: number | undefined;
  constructor(kind: 'transient' | 'fatal', message: string, status?: number, options?: { cause?: unknown }) {
    super(kind, message, options);
    this.name = 'RegistryError';
    this.status = status;
  }
}

interface Reference {
  readonly name: string;
  readonly subject: string;
  readonly version: number;
}

interface SchemaAnswer {
  readonly schema: string;
  readonly schemaType?: string;
  readonly references?: readonly Reference[];
}

const MAX_BODY = 16 << 20;

export class SchemaRegistry {
  private readonly base: URL;
  private readonly auth: string | undefined;
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly timeoutMs: number;
  private readonly byId = new Map<number, Promise<RegistrySchema | undefined>>();
  private readonly byVersion = new Map<string, Promise<SchemaAnswer>>();

  constructor(opts: RegistryOptions) {
    this.base = new URL(opts.url.endsWith('/') ? opts.url : opts.url + '/');
    this.auth = opts.user ? 'Basic ' + Buffer.from(`${opts.user}:${opts.password ?? ''}`).toString('base64') : undefined;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    if (this.base.protocol === 'https:') {
      let ca: Buffer | undefined;
      if (opts.caFile) {
        try {
          ca = readFileSync(opts.caFile);
        } catch (err) {
          throw new ConfigError('SLUICE_SCHEMA_REGISTRY_CA_FILE', `cannot read ${opts.caFile}: ${errorMessage(err)}`);
        }
      }
      this.agent = new HttpsAgent({ keepAlive: true, maxSockets: 4, ...(ca && { ca }) });
    } else {
      this.agent = new HttpAgent({ keepAlive: true, maxSockets: 4 });
    }
  }

  /** Where the schemas come from, without credentials (for logs and reasons). */
  get where(): string {
    return `${this.base.protocol}//${this.base.host}${this.base.pathname}`;
  }

  /** The id's schema (fetched once, then cached); undefined when the registry has no such id. */
  schemaById(id: number): Promise<RegistrySchema | undefined> {
    let p = this.byId.get(id);
    if (!p) {
      p = this.fetchSchema(id);
      this.byId.set(id, p);
      // A failure is not remembered: the next ask tries again.
      p.catch(() => this.byId.delete(id));
    }
    return p;
  }

  close(): void {
    this.agent.destroy();
  }

  private async fetchSchema(id: number): Promise<RegistrySchema | undefined> {
    const answer = await this.get<SchemaAnswer>(`schemas/ids/${id}`);
    if (answer === undefined) return undefined;
    const type = schemaType(answer.schemaType);
    const imports = new Map<string, string>();
    await this.resolveReferences(answer.references ?? [], imports, 0);
    return { id, type, schema: answer.schema, imports };
  }

  private async resolveReferences(refs: readonly Reference[], into: Map<string, string>, depth: number): Promise<void> {
    if (depth > 32) throw new RegistryError('fatal', `schema references nested deeper than 32 levels at ${this.where}`);
    for (const ref of refs) {
      if (into.has(ref.name)) continue;
      const key = `${ref.subject}/${ref.version}`;
      let p = this.byVersion.get(key);
      if (!p) {
        p = this.get<SchemaAnswer>(`subjects/${encodeURIComponent(ref.subject)}/versions/${ref.version}`).then((a) => {
          if (a === undefined) throw new RegistryError('fatal', `referenced schema ${ref.subject} version ${ref.version} (imported as ${ref.name}) not found at ${this.where}`, 404);
          return a;
        });
        this.byVersion.set(key, p);
        p.catch(() => this.byVersion.delete(key));
      }
      const a = await p;
      into.set(ref.name, a.schema);
      await this.resolveReferences(a.references ?? [], into, depth + 1);
    }
  }

  /** GET path (relative to the base) as JSON; undefined on 404. */
  private get<T>(path: string): Promise<T | undefined> {
    const url = new URL(path, this.base);
    const what = `Schema Registry ${url.protocol}//${url.host}${url.pathname}`;
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<T | undefined>((resolve, reject) => {
      const req = request(url, { method: 'GET', agent: this.agent, headers: { accept: 'application/vnd.schemaregistry.v1+json, application/json', ...(this.auth && { authorization: this.auth }) } }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) req.destroy(new Error(`answer larger than ${MAX_BODY} bytes`));
          else chunks.push(c);
        });
        res.on('error', (err) => reject(new RegistryError('transient', `${what}: ${errorMessage(err)}`, undefined, { cause: err })));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          if (status === 404) return resolve(undefined);
          if (status < 200 || status >= 300) {
            const transient = status === 408 || status === 429 || status >= 500;
            return reject(new RegistryError(transient ? 'transient' : 'fatal', `${what} answered ${status}: ${text.slice(0, 200)}`, status));
          }
          try {
            resolve(JSON.parse(text) as T);
          } catch (err) {
            reject(new RegistryError('transient', `${what}: answer is not JSON (${errorMessage(err)})`, status));
          }
        });
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err) => reject(new RegistryError('transient', `${what}: ${errorMessage(err)}`, undefined, { cause: err })));
      req.end();
    });
  }
}

function schemaType(t: string | undefined): SchemaType {
  // Confluent leaves it out for Avro; Apicurio always sends it.
  if (t === undefined || t === '' || t === 'AVRO') return 'AVRO';
  if (t === 'PROTOBUF' || t === 'JSON') return t;
  throw new RegistryError('fatal', `unknown schemaType ${JSON.stringify(t)}`);
}
