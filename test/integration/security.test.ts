/**
 * Kafka TLS + SASL on a real broker (the private pair's SASL_SSL listener:
 * PLAIN, a throwaway CA from services.sh): the sink and the offset tools
 * work over it, wrong credentials or an untrusted certificate stop start-up
 * with one line naming the setting, and the SASL password is never printed.
 * ClickHouse over https (the private ClickHouse's https port, its own
 * throwaway CA): trusted with SLUICE_CLICKHOUSE_CA_FILE, refused without.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { EVENTS_DDL, PRIVATE, committedTotal, createTopic, event, privateServices, produce, randomName, scalar, sinkEnv, startSink, useClickHouse, waitFor } from '../helpers.js';

const client = useClickHouse();
const BROKER = `127.0.0.1:${PRIVATE.kafkaSaslSslPort}`;
const SECRET = 'sluice-secret';
let kafka: Kafka;

beforeAll(async () => {
  await privateServices('start', 'kafka');
  kafka = new Kafka({
    brokers: [BROKER],
    logLevel: logLevel.NOTHING,
    ssl: { ca: [readFileSync(PRIVATE.caFile, 'utf8')] },
    sasl: { mechanism: 'plain', username: 'sluice', password: SECRET },
  });
});
afterAll(async () => {
  await privateServices('stop', 'kafka');
});

const secure = (extra: Record<string, string> = {}) => ({
  SLUICE_KAFKA_BROKERS: BROKER,
  SLUICE_KAFKA_SECURITY_PROTOCOL: 'sasl_ssl',
  SLUICE_KAFKA_SASL_MECHANISM: 'plain',
  SLUICE_KAFKA_SASL_USERNAME: 'sluice',
  SLUICE_KAFKA_SASL_PASSWORD: SECRET,
  SLUICE_KAFKA_SSL_CA_FILE: PRIVATE.caFile,
  ...extra,
});

async function topicWith(n: number): Promise<string> {
  const topic = randomName('tls');
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: Array.from({ length: n }, (_, i) => ({ value: event(i), partition: i % 2 })) });
  await producer.disconnect();
  return topic;
}

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [new URL('../../dist/cli/index.js', import.meta.url).pathname, ...args], { env: { PATH: process.env.PATH ?? '', ...env } });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.once('exit', (code) => resolve({ code, out }));
  });
}

describe('Kafka over TLS with SASL', () => {
  it('sinks every record over SASL_SSL and the offset tools read the group; the password is never printed', async () => {
    const topic = await topicWith(5000);
    const table = randomName('tls');
    const group = randomName('g');
    await client().command({ query: EVENTS_DDL(table) });
    const sink = startSink(sinkEnv(topic, table, group, secure()));
    await waitFor('every row', async () => (await scalar(client(), `SELECT uniqExact(id) FROM ${table}`)) === 5000);
    const lag = await waitFor('commits at the end', async () => {
      const r = await runCli(['offsets', 'lag', '--group', group, '--json'], secure());
      return r.code === 0 && (JSON.parse(r.out) as { totalLag: number }).totalLag === 0 ? r : undefined;
    });
    expect(await sink.stop()).toBe(0);
    expect(JSON.stringify(sink.lines)).not.toContain(SECRET);
    expect(lag.out).not.toContain(SECRET);
    const config = sink.lines.find((l) => l.event === 'sink.config') as { config: { kafkaSecurity: { protocol: string; sasl: { password: string } } } };
    expect(config.config.kafkaSecurity.protocol).toBe('sasl_ssl');
    expect(config.config.kafkaSecurity.sasl.password).toBe('***');
  });

  it('refuses to start with a wrong SASL password: one line naming the setting, no password', async () => {
    const topic = await topicWith(1);
    const wrong = 'not-the-' + SECRET;
    // ClickHouse is checked first: a real table, so the Kafka check is reached.
    const table = randomName('tls');
    await client().command({ query: EVENTS_DDL(table) });
    const retry = startSink(sinkEnv(topic, table, randomName('g'), secure({ SLUICE_KAFKA_SASL_PASSWORD: wrong })));
    expect(await retry.exited).toBe(2);
    const text = retry.lines.filter((l) => l.event === 'text').map((l) => String(l.text));
    expect(text).toHaveLength(1);
    expect(text[0]).toContain('SLUICE_KAFKA_SASL_USERNAME');
    expect(text[0]).toContain('rejected the SASL credentials');
    expect(JSON.stringify(retry.lines)).not.toContain(wrong);
  });

  it('refuses a broker certificate from a CA it was not told to trust', async () => {
    const topic = await topicWith(1);
    const table = randomName('tls');
    await client().command({ query: EVENTS_DDL(table) });
    const env = secure();
    delete (env as Record<string, string>).SLUICE_KAFKA_SSL_CA_FILE;
    const sink = startSink(sinkEnv(topic, table, randomName('g'), env));
    expect(await sink.exited).toBe(2);
    const text = sink.lines.filter((l) => l.event === 'text').map((l) => String(l.text));
    expect(text[0]).toMatch(/SLUICE_KAFKA_BROKERS: cannot reach Kafka at .*(certificate|self.signed)/i);
  });

  it('names the missing setting when SASL is asked for without a user', async () => {
    const r = await runCli(['run'], { SLUICE_TOPICS: 't', SLUICE_TABLE: 't', SLUICE_KAFKA_SECURITY_PROTOCOL: 'sasl_ssl' });
    expect(r.code).toBe(2);
    expect(r.out.trim()).toBe('sluice: configuration error: SLUICE_KAFKA_SASL_USERNAME: is required with SLUICE_KAFKA_SECURITY_PROTOCOL=sasl_ssl');
  });
});

describe('ClickHouse over https with a private CA', () => {
  beforeAll(async () => {
    await privateServices('start', 'clickhouse');
  });
  afterAll(async () => {
    await privateServices('stop', 'clickhouse');
  });

  const https = `https://127.0.0.1:${PRIVATE.clickhouseHttpsPort}`;

  it('writes every record over https when told to trust the CA, and names the setting when not', async () => {
    const topic = randomName('chtls');
    const table = randomName('chtls');
    const group = randomName('g');
    // The table on the private ClickHouse, over its plain port.
    const plain = `http://127.0.0.1:${PRIVATE.clickhouseHttpPort}`;
    await fetch(plain, { method: 'POST', body: EVENTS_DDL(table) }).then((r) => expect(r.status).toBe(200));
    await createTopic(topic, 2);
    await produce(topic, Array.from({ length: 2000 }, (_, i) => event(i)), 2);

    const untrusted = startSink(sinkEnv(topic, table, randomName('g'), { SLUICE_CLICKHOUSE_URL: https }));
    expect(await untrusted.exited).toBe(2);
    const line = untrusted.lines.filter((l) => l.event === 'text').map((l) => String(l.text))[0];
    expect(line).toMatch(/^sluice: configuration error: SLUICE_CLICKHOUSE_URL: cannot use ClickHouse at https:.*(certificate|self.signed)/i);

    const sink = startSink(sinkEnv(topic, table, group, { SLUICE_CLICKHOUSE_URL: https, SLUICE_CLICKHOUSE_CA_FILE: PRIVATE.clickhouseCaFile }));
    const count = async () => Number((await (await fetch(plain, { method: 'POST', body: `SELECT uniqExact(id) FROM ${table}` })).text()).trim());
    await waitFor('every row over https', async () => (await count()) === 2000);
    await waitFor('commits at the end', async () => (await committedTotal(group, topic)) === 2000);
    expect(await sink.stop()).toBe(0);
  });
});
