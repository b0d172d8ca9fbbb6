/**
 * dlq: where each dead letter goes, the headers that make it replayable, and
 * the ratio guard that stops a flood (a broken deploy) from being
 * dead-lettered wholesale. The producer side runs against a fake kafkajs
 * producer that records what it is asked to send — no broker.
 */
import type { IHeaders, Kafka, ProducerRecord } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import type { SourceRecord } from '../../../src/pipeline/batcher.js';
import { ORIGINAL_BYTES_HEADER, TRUNCATED_HEADER, fitLetter, packLetters, recordBound } from '../../../src/dlq/fit.js';
import { DLQ_MIN_SAMPLE, HEADER, RatioGuard, createDeadLetterSink, dlqTopicFor, parseDeadLetterHeaders } from '../../../src/dlq/dead-letters.js';
import { VERSION } from '../../../src/version.js';
import type { DeadLetter } from '../../../src/pipeline/worker.js';

describe('dlqTopicFor', () => {
  it('unset → <topic>.dlq, per source topic', () => {
    expect(dlqTopicFor('', 'orders')).toBe('orders.dlq');
    expect(dlqTopicFor('', 'app.clicks-v2')).toBe('app.clicks-v2.dlq');
  });

  it('none → off', () => {
    expect(dlqTopicFor('none', 'orders')).toBeUndefined();
  });

  it('a name → that one topic for every source topic', () => {
    expect(dlqTopicFor('dead', 'orders')).toBe('dead');
    expect(dlqTopicFor('dead', 'clicks')).toBe('dead');
  });
});

describe('HEADER', () => {
  it('names are distinct, sluice.-prefixed strings', () => {
    const names = Object.values(HEADER);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n).toMatch(/^sluice\.[a-z.]+$/);
  });
});

describe('parseDeadLetterHeaders', () => {
  const full: Record<string, string> = {
    [HEADER.topic]: 'orders',
    [HEADER.partition]: '3',
    [HEADER.offset]: '123456789012',
    [HEADER.timestamp]: '1764064800000',
    [HEADER.table]: 'orders_tbl',
    [HEADER.errorClass]: 'rejected',
    [HEADER.errorCode]: '27',
    [HEADER.errorMessage]: 'Code: 27, e.displayText() = DB::Exception: Cannot parse input (at row 1)',
    [HEADER.version]: '1.2.3',
    [HEADER.failedAt]: '2026-11-25T10:00:00.000Z',
  };
  const expected = {
    topic: 'orders',
    partition: 3,
    offset: 123456789012,
    timestamp: 1764064800000,
    table: 'orders_tbl',
    errorClass: 'rejected',
    errorCode: 27,
    errorMessage: 'Code: 27, e.displayText() = DB::Exception: Cannot parse input (at row 1)',
    version: '1.2.3',
    failedAt: '2026-11-25T10:00:00.000Z',
  };

  it('reads string headers (as produced)', () => {
    expect(parseDeadLetterHeaders(full)).toEqual(expected);
  });

  it('reads Buffer headers (as kafkajs consumes them)', () => {
    const buffers: IHeaders = Object.fromEntries(Object.entries(full).map(([k, v]) => [k, Buffer.from(v)]));
    expect(parseDeadLetterHeaders(buffers)).toEqual(expected);
  });

  it('reads the first value of a repeated header', () => {
    const repeated: IHeaders = { ...full, [HEADER.offset]: [Buffer.from('7'), Buffer.from('8')] };
    expect(parseDeadLetterHeaders(repeated)?.offset).toBe(7);
  });

  it('an empty error code (a precheck reject) reads as undefined', () => {
    expect(parseDeadLetterHeaders({ ...full, [HEADER.errorCode]: '' })?.errorCode).toBeUndefined();
  });

  it('returns undefined for a message without sluice headers', () => {
    expect(parseDeadLetterHeaders(undefined)).toBeUndefined();
    expect(parseDeadLetterHeaders({})).toBeUndefined();
    expect(parseDeadLetterHeaders({ 'x-trace': 'abc' })).toBeUndefined();
    const { [HEADER.table]: _omit, ...noTable } = full;
    expect(parseDeadLetterHeaders(noTable)).toBeUndefined();
  });
});

/** A kafkajs stand-in: `producer()` returns an object recording each send; `admin()` reports the topic's size limit. */
function fakeKafka(maxMessageBytes = 1_048_588) {
  const sent: ProducerRecord[] = [];
  const producerOptions: unknown[] = [];
  const kafka = {
    admin: () => ({
      connect: async () => {},
      disconnect: async () => {},
      describeConfigs: async () => ({ resources: [{ configEntries: [{ configName: 'max.message.bytes', configValue: String(maxMessageBytes) }] }] }),
    }),
    producer: (opts: unknown) => {
      producerOptions.push(opts);
      return {
        connect: async () => {},
        disconnect: async () => {},
        send: async (record: ProducerRecord) => {
          sent.push(record);
          return [];
        },
      };
    },
  } as unknown as Kafka;
  return { kafka, sent, producerOptions };
}

function letter(offset: number, over: Partial<DeadLetter> = {}, record: Partial<SourceRecord> = {}): DeadLetter {
  return {
    record: { offset, timestamp: 1_764_064_800_000 + offset, key: Buffer.from(`k${offset}`), value: Buffer.from(`{"bad":${offset}}`), ...record },
    reason: 'rejected',
    code: 27,
    message: 'Code: 27, e.displayText() = DB::Exception: Cannot parse input (at row 1)',
    ...over,
  };
}

describe('createDeadLetterSink → parseDeadLetterHeaders round trip', () => {
  const source = { topic: 'orders', partition: 4, table: 'orders_tbl' };

  it('produces key and value unchanged, with acks=-1, to <topic>.dlq, and the headers read back', async () => {
    const { kafka, sent } = fakeKafka();
    const sink = createDeadLetterSink({ kafka, dlqSetting: '' });
    const letters = [letter(10), letter(11, { reason: 'null_value', code: undefined, message: 'record has no value' }, { value: null })];
    const before = Date.now();
    await sink.send(source, letters);
    const after = Date.now();

    expect(sent).toHaveLength(1);
    const rec = sent[0]!;
    expect(rec.topic).toBe('orders.dlq');
    expect(rec.acks).toBe(-1);
    expect(rec.messages).toHaveLength(2);
    const [m0, m1] = rec.messages;
    expect(m0!.key).toEqual(Buffer.from('k10'));
    expect(m0!.value).toEqual(Buffer.from('{"bad":10}'));
    expect(m0!.timestamp).toBe(String(1_764_064_800_010));
    expect(m1!.value).toBeNull(); // a tombstone stays a tombstone

    const info0 = parseDeadLetterHeaders(m0!.headers)!;
    expect(info0).toMatchObject({
      topic: 'orders',
      partition: 4,
      offset: 10,
      timestamp: 1_764_064_800_010,
      table: 'orders_tbl',
      errorClass: 'rejected',
      errorCode: 27,
      errorMessage: letters[0]!.message,
      version: VERSION,
    });
    const failedAt = Date.parse(info0.failedAt);
    expect(failedAt).toBeGreaterThanOrEqual(before - 1);
    expect(failedAt).toBeLessThanOrEqual(after + 1);

    const info1 = parseDeadLetterHeaders(m1!.headers)!;
    expect(info1).toMatchObject({ offset: 11, errorClass: 'null_value', errorCode: undefined, errorMessage: 'record has no value' });
    // Every header value is a string.
    for (const v of Object.values(m0!.headers!)) expect(typeof v).toBe('string');
  });

  it('keeps the record’s own headers, but not forged sluice.* ones', async () => {
    const { kafka, sent } = fakeKafka();
    const sink = createDeadLetterSink({ kafka, dlqSetting: '' });
    await sink.send(source, [letter(1, {}, { headers: { 'x-trace': Buffer.from('abc'), [HEADER.offset]: Buffer.from('999'), 'sluice.other': 'x' } })]);
    const headers = sent[0]!.messages[0]!.headers!;
    expect(headers['x-trace']).toEqual(Buffer.from('abc'));
    expect(headers['sluice.other']).toBeUndefined();
    expect(parseDeadLetterHeaders(headers)!.offset).toBe(1);
  });

  it('sends to the configured topic for every source topic', async () => {
    const { kafka, sent } = fakeKafka();
    const sink = createDeadLetterSink({ kafka, dlqSetting: 'dead' });
    await sink.send(source, [letter(1)]);
    await sink.send({ ...source, topic: 'clicks' }, [letter(2)]);
    expect(sent.map((s) => s.topic)).toEqual(['dead', 'dead']);
    expect(parseDeadLetterHeaders(sent[1]!.messages[0]!.headers)!.topic).toBe('clicks');
  });

  it('refuses to send when dead-lettering is off', async () => {
    const { kafka, sent } = fakeKafka();
    const sink = createDeadLetterSink({ kafka, dlqSetting: 'none' });
    await expect(sink.send(source, [letter(1)])).rejects.toThrow(/off/);
    expect(sent).toHaveLength(0);
  });

  it('cuts a long error message to about 1,000 bytes on a character boundary', async () => {
    const { kafka, sent } = fakeKafka();
    const sink = createDeadLetterSink({ kafka, dlqSetting: '' });
    const long = 'a'.repeat(999) + '€'.repeat(500); // '€' is 3 bytes: byte 1000 falls inside one
    await sink.send(source, [letter(1, { message: long })]);
    const msg = parseDeadLetterHeaders(sent[0]!.messages[0]!.headers)!.errorMessage;
    expect(msg).not.toContain('\uFFFD');
    expect(long.startsWith(msg.replace(/…$/, ''))).toBe(true);
    expect(Buffer.byteLength(msg.replace(/…$/, ''))).toBeLessThanOrEqual(1000);
    expect(msg.length).toBeGreaterThan(900);
  });

  it('leaves a short message whole', async () => {
    const { kafka, sent } = fakeKafka();
    const sink = createDeadLetterSink({ kafka, dlqSetting: '' });
    await sink.send(source, [letter(1, { message: 'short' })]);
    expect(parseDeadLetterHeaders(sent[0]!.messages[0]!.headers)!.errorMessage).toBe('short');
  });
});

describe('RatioGuard (injected clock)', () => {
  function guard(maxRatio = 0.25, windowMs = 60_000, minSample = 100) {
    const clock = { now: 1_000_000 };
    return { clock, g: new RatioGuard(maxRatio, windowMs, () => clock.now, minSample) };
  }

  it('always allows below the minimum sample, even at 100% bad', () => {
    const { g } = guard();
    expect(g.allows(99, 99)).toBe(true);
    g.record(50, 50);
    expect(g.allows(49, 49)).toBe(true);
  });

  it('defaults the minimum sample to DLQ_MIN_SAMPLE', () => {
    const g = new RatioGuard(0.1, 60_000, () => 0);
    expect(g.allows(DLQ_MIN_SAMPLE - 1, DLQ_MIN_SAMPLE - 1)).toBe(true);
    expect(g.allows(DLQ_MIN_SAMPLE, DLQ_MIN_SAMPLE)).toBe(false);
  });

  it('trips when the ratio over the window exceeds maxRatio; exactly at it is allowed', () => {
    const { g } = guard(0.25);
    g.record(1000, 100);
    expect(g.allows(0, 0)).toBe(true); // 10%
    expect(g.allows(150, 0)).toBe(true); // 250 / 1000 = 25%
    expect(g.allows(151, 0)).toBe(false);
    expect(g.allows(200, 200)).toBe(true); // 300 / 1200 = 25%
    expect(g.allows(201, 200)).toBe(false);
  });

  it('counts the batch being judged together with the window', () => {
    const { g } = guard(0.5, 60_000, 100);
    expect(g.allows(100, 100)).toBe(false); // 100 of 100 in this batch alone
    g.record(900, 0);
    expect(g.allows(100, 100)).toBe(true); // 100 of 1000
  });

  it('allows does not record: asking twice gives the same answer', () => {
    const { g } = guard();
    g.record(1000, 0);
    expect(g.allows(250, 0)).toBe(true);
    expect(g.allows(250, 0)).toBe(true);
    expect(g.allows(251, 0)).toBe(false);
  });

  it('sums every bucket within the window', () => {
    const { clock, g } = guard(0.25, 60_000, 100);
    for (let i = 0; i < 30; i++) {
      g.record(100, 30); // 30% each second
      clock.now += 1000;
    }
    expect(g.allows(0, 0)).toBe(false);
  });

  it('forgets buckets older than the window', () => {
    const { clock, g } = guard(0.25, 60_000, 100);
    g.record(1000, 900);
    expect(g.allows(0, 0)).toBe(false);
    clock.now += 59_000;
    expect(g.allows(0, 0)).toBe(false); // still inside the window
    clock.now += 2_000;
    expect(g.allows(0, 0)).toBe(true); // expired
    // And it stays forgotten (the bucket is gone, not just skipped).
    clock.now -= 2_000;
    expect(g.allows(0, 0)).toBe(true);
  });

  it('old bad records do not hide a fresh flood, and old good ones do not dilute it', () => {
    const { clock, g } = guard(0.25, 10_000, 100);
    g.record(100_000, 0); // a quiet hour… long ago
    clock.now += 60_000;
    g.record(200, 150);
    expect(g.allows(0, 0)).toBe(false);
  });

  it('maxRatio 0 trips on the first dead letter past the sample; 1 never trips', () => {
    const zero = guard(0, 60_000, 100).g;
    zero.record(1000, 0);
    expect(zero.allows(0, 10)).toBe(true);
    expect(zero.allows(1, 10)).toBe(false);
    const one = guard(1, 60_000, 100).g;
    one.record(1000, 1000);
    expect(one.allows(500, 500)).toBe(true);
  });
});

describe('dead letters fit the topic (fit.ts through the sink)', () => {
  const source = { topic: 'orders', partition: 0, table: 'orders_tbl' };

  it('splits letters into produce requests within max.message.bytes, in order, and resumes after acknowledged ones', async () => {
    const { kafka, sent } = fakeKafka(10_000);
    const sink = createDeadLetterSink({ kafka, dlqSetting: '' });
    const letters = [1, 2, 3, 4, 5].map((o) => letter(o, {}, { value: Buffer.alloc(3_000, 'x') }));
    const progress = { sent: 0 };
    expect(await sink.send(source, letters, progress)).toEqual({ truncated: 0 });
    expect(sent.length).toBeGreaterThan(1);
    expect(sent.flatMap((r) => r.messages.map((m) => Number(m.headers![HEADER.offset])))).toEqual([1, 2, 3, 4, 5]);
    expect(progress.sent).toBe(5);
    for (const r of sent) expect(61 + r.messages.reduce((n, m) => n + recordBound(m), 0)).toBeLessThanOrEqual(10_000);
    // A retry with the same progress produces nothing twice.
    sent.length = 0;
    await sink.send(source, letters, progress);
    expect(sent).toHaveLength(0);
  });

  it('cuts a letter that can never fit, marks it, and keeps the source coordinates', async () => {
    const { kafka, sent } = fakeKafka(10_000);
    const sink = createDeadLetterSink({ kafka, dlqSetting: '' });
    const big = Buffer.alloc(50_000, 'y');
    expect(await sink.send(source, [letter(7, {}, { value: big })])).toEqual({ truncated: 1 });
    const m = sent[0]!.messages[0]!;
    expect(m.headers![TRUNCATED_HEADER]).toBe('value');
    expect(m.headers![ORIGINAL_BYTES_HEADER]).toBe(String(50_000 + 2));
    expect(m.headers![HEADER.offset]).toBe('7');
    expect(big.subarray(0, (m.value as Buffer).length).equals(m.value as Buffer)).toBe(true);
    expect(61 + recordBound(m)).toBeLessThanOrEqual(10_000);
  });

  it('drops the record\'s own headers (not the sluice ones) when they alone are too large', () => {
    const m = { key: Buffer.from('k'), value: Buffer.from('{}'), headers: { 'x-huge': Buffer.alloc(20_000), [HEADER.offset]: '9' } };
    const fitted = fitLetter(m, 10_000);
    expect(fitted.headers!['x-huge']).toBeUndefined();
    expect(fitted.headers![HEADER.offset]).toBe('9');
    expect(fitted.headers![TRUNCATED_HEADER]).toBe('headers');
    expect((fitted.value as Buffer).toString()).toBe('{}');
    expect(61 + recordBound(fitted)).toBeLessThanOrEqual(10_000);
  });

  it('packs consecutive letters and never leaves a run empty', () => {
    const ms = [100, 9_000, 100, 100].map((n) => ({ value: Buffer.alloc(n) }));
    const runs = packLetters(ms, 10_000);
    expect(runs.flat()).toEqual(ms);
    for (const r of runs) expect(r.length).toBeGreaterThan(0);
  });
});
