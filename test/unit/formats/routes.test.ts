/**
 * Routing rules (formats/routes.ts) and envelope reading (formats/envelope.ts):
 * parsing with clear errors, first-match order, wildcards, per-topic binding,
 * JSON envelope paths found without decoding the payload, and times.
 */
import { describe, expect, it } from 'vitest';
import { EnvelopeReader, envelopedDecoder, parseFieldRef, parseJsonEnvelope, parseTime } from '../../../src/formats/envelope.js';
import { envelopeFromEnv } from '../../../src/formats/envelope-config.js';
import { DEADLETTER, DROP, parseRoutes, routeTables, routerFor } from '../../../src/formats/routes.js';
import type { SourceRecord } from '../../../src/kafka/record.js';
import { compactChunk } from '../../../src/kafka/record.js';
import { RowWriter } from '../../../src/formats/row-writer.js';
import { OK, type RowDecoder } from '../../../src/formats/decoder.js';

const rec = (headers: Record<string, string> | undefined, value = '{}', offset = 0): SourceRecord => ({ offset, timestamp: 1_700_000_000_000, key: null, value: Buffer.from(value), headers });

describe('parseRoutes', () => {
  it('reads rules separated by ; or newlines, with comments, in order', () => {
    const rules = parseRoutes('header.type=order.* -> orders ; header.type=click & topic=web -> clicks\n# a comment\nenvelope.kind=debug -> !drop\n* -> events # default');
    expect(rules.map((r) => r.target)).toEqual(['orders', 'clicks', DROP, 'events']);
    expect(rules.map((r) => r.line)).toEqual([1, 1, 3, 4]);
    expect(rules[1]!.conditions.map((c) => c.field.text)).toEqual(['header.type', 'topic']);
    expect(routeTables(rules)).toEqual(['orders', 'clicks', 'events']);
  });

  it.each([
    ['header.type=click => clicks', /has no "-> table"/],
    ['header.type=click -> clicks; bogus.x=1 -> t', /"bogus.x" is not a field/],
    ['payload.type=click -> clicks', /cannot be used here/],
    ['header.type=click -> drop table x', /is not a table name/],
    [' -> t', /has no condition/],
    ['header.type -> t', /is not <field>=<pattern>/],
    ['a=1 -> t\nheader.type=x -> `t`', /line 1: "a" is not a field/],
    ['# only a comment', /has no rule/],
  ])('refuses %j', (text, why) => {
    expect(() => parseRoutes(text)).toThrow(why);
  });
});

describe('routerFor', () => {
  const reader = new EnvelopeReader(undefined);

  it('takes the first matching rule; * matches any run; an absent header matches nothing', () => {
    const r = routerFor(parseRoutes('header.type=order.* -> orders; header.type=*click* -> clicks; header.src=app & header.type=view -> app_views; header.type=x -> !deadletter'), 'events', reader);
    expect(r.fixed).toBeUndefined();
    expect(r.route(rec({ type: 'order.created' }))).toBe('orders');
    expect(r.route(rec({ type: 'order.' }))).toBe('orders');
    expect(r.route(rec({ type: 'orders' }))).toBeUndefined();
    expect(r.route(rec({ type: 'dblclick.v2' }))).toBe('clicks');
    expect(r.route(rec({ type: 'view', src: 'app' }))).toBe('app_views');
    expect(r.route(rec({ type: 'view', src: 'web' }))).toBeUndefined();
    expect(r.describe(undefined)).toBe('no route matches (header.type="view", header.src="web")');
    expect(r.route(rec({ type: 'x' }))).toBe(DEADLETTER);
    expect(r.route(rec(undefined))).toBeUndefined();
    // Regex metacharacters in a pattern are literal.
    const dots = routerFor(parseRoutes('header.v=1.0 -> a; * -> b'), 't', reader);
    expect(dots.route(rec({ v: '1x0' }))).toBe('b');
  });

  it('settles topic conditions once: a topic whose records all go to one table is fixed', () => {
    const rules = parseRoutes('topic=clicks-* -> clicks; topic=mixed & header.type=a -> a; topic=mixed -> other');
    expect(routerFor(rules, 'clicks-eu', reader).fixed).toBe('clicks');
    expect(routerFor(rules, 'mixed', reader).fixed).toBeUndefined();
    expect(routerFor(rules, 'mixed', reader).route(rec({ type: 'b' }))).toBe('other');
    expect(routerFor(rules, 'nothing', reader).fixed).toBeUndefined();
    expect(routerFor(rules, 'nothing', reader).route(rec({ type: 'a' }))).toBeUndefined();
  });

  it('routes on JSON envelope fields, reading the value only up to them', () => {
    const json = parseJsonEnvelope('meta.env:data');
    const r = routerFor(parseRoutes('envelope.kind=click -> clicks'), 't', new EnvelopeReader(json));
    expect(r.route(rec(undefined, '{"meta": {"env": {"kind": "click"}}, "data": {"id": 1}}'))).toBe('clicks');
    expect(r.route(rec(undefined, '{"meta": {"env": {"kind": "cl\\u0069ck"}}, "data": {"id": 1}}'))).toBe('clicks');
    // Whatever follows the envelope is never read: broken JSON after it does not matter.
    expect(r.route(rec(undefined, '{"meta": {"env": {"kind": "click"}}, "data": not json'))).toBe('clicks');
    expect(r.route(rec(undefined, '{"data": {"id": 1}, "meta": {"env": {"kind": "view"}}}'))).toBeUndefined();
    expect(r.route(rec(undefined, 'not json'))).toBeUndefined();
  });
});

describe('EnvelopeReader', () => {
  it('finds the payload range, and says why there is none', () => {
    const reader = new EnvelopeReader(parseJsonEnvelope('envelope:payload'));
    const v = Buffer.from(' {"envelope": {"a": [1, {"b": "}"}]}, "payload" : {"x": "y"} } ');
    const p = reader.payload(v, 0, v.length);
    expect(p.ok && v.subarray(p.start, p.end).toString()).toBe('{"x": "y"}');
    expect(reader.payload(Buffer.from('{"envelope": {}}'), 0, 16)).toEqual({ ok: false, reason: 'the envelope has no payload field payload' });
    expect(reader.payload(Buffer.from('[1]'), 0, 3)).toEqual({ ok: false, reason: 'the value is not a JSON object' });
    const broken = reader.payload(Buffer.from('{"envelope": {"a": tru}, "payload": {}}'), 0, 38);
    expect(broken.ok).toBe(false);
  });

  it('reads fields as text and as times', () => {
    const reader = new EnvelopeReader(parseJsonEnvelope('envelope:payload'));
    const r = rec({ accepted_at: '2026-11-28T10:00:00.5Z', n: '1764324000' }, '{"envelope": {"src": "web", "n": 42, "ok": true, "o": {"a": 1}, "nul": null, "at": "2026-11-28 10:00:00"}, "payload": {"ts": 1764324000123}}');
    const ref = (t: string) => parseFieldRef(t);
    expect(reader.text(ref('envelope.src'), 'topic-a', r)).toBe('web');
    expect(reader.text(ref('envelope.n'), 'topic-a', r)).toBe('42');
    expect(reader.text(ref('envelope.ok'), 'topic-a', r)).toBe('true');
    expect(reader.text(ref('envelope.o'), 'topic-a', r)).toBe('{"a": 1}');
    expect(reader.text(ref('envelope.nul'), 'topic-a', r)).toBeUndefined();
    expect(reader.text(ref('envelope.missing'), 'topic-a', r)).toBeUndefined();
    expect(reader.text(ref('topic'), 'topic-a', r)).toBe('topic-a');
    expect(reader.time(ref('header.accepted_at'), r)).toBe(Date.UTC(2026, 10, 28, 10, 0, 0, 500));
    expect(reader.time(ref('header.n'), r)).toBe(1764324000_000);
    expect(reader.time(ref('envelope.at'), r)).toBe(Date.UTC(2026, 10, 28, 10));
    expect(reader.time(ref('payload.ts'), r)).toBe(1764324000123);
    expect(reader.time(ref('kafka.timestamp'), r)).toBe(1_700_000_000_000);
    expect(reader.time(ref('envelope.src'), r)).toBeUndefined();
  });

  it('reads records laid out in a shared chunk the same way', () => {
    const [a, b] = compactChunk([
      { offset: '0', timestamp: '1', key: null, value: Buffer.from('{"envelope": {"k": "one"}, "payload": {}}') },
      { offset: '1', timestamp: '2', key: null, value: Buffer.from('{"envelope": {"k": "two"}, "payload": {}}'), headers: { h: Buffer.from('x') } },
    ]);
    const reader = new EnvelopeReader(parseJsonEnvelope('envelope:payload'));
    expect(reader.text(parseFieldRef('envelope.k'), 't', a!)).toBe('one');
    expect(reader.text(parseFieldRef('envelope.k'), 't', b!)).toBe('two');
    expect(reader.text(parseFieldRef('header.h'), 't', b!)).toBe('x');
  });

  it('hands only the payload to the inner decoder', () => {
    const seen: string[] = [];
    const inner: RowDecoder = { schema: undefined as never, layout: 'RowBinary', decode: (v, _o, s = 0, e = v.length) => (seen.push(Buffer.from(v.subarray(s, e)).toString()), OK) };
    const d = envelopedDecoder(inner, new EnvelopeReader(parseJsonEnvelope('e:p')));
    expect(d.decode(Buffer.from('{"e": {}, "p": {"id": 7}}'), new RowWriter(16)).ok).toBe(true);
    expect(seen).toEqual(['{"id": 7}']);
    const none = d.decode(Buffer.from('{"e": {}}'), new RowWriter(16));
    expect(none.ok === false && none.reason).toBe('envelope: the envelope has no payload field p');
  });

  it('parses times: ms, seconds, ISO-8601 with or without a zone; nothing else', () => {
    expect(parseTime('1764324000123')).toBe(1764324000123);
    expect(parseTime('1764324000.25')).toBe(1764324000250);
    expect(parseTime('2026-11-28T12:00:00+02:00')).toBe(Date.UTC(2026, 10, 28, 10));
    expect(parseTime('2026-11-28')).toBe(Date.UTC(2026, 10, 28));
    for (const bad of ['', 'yesterday', '-5', '2026-13-45', 'Nov 28 2026', '12:00']) expect(parseTime(bad)).toBeUndefined();
  });
});

describe('envelopeFromEnv', () => {
  it('needs SLUICE_ENVELOPE_JSON for envelope fields, and topic patterns that match a topic', () => {
    expect(() => envelopeFromEnv({ SLUICE_ROUTES: 'envelope.kind=a -> t' }, ['x'])).toThrow(/SLUICE_ROUTES: a rule reads envelope\.\*, but SLUICE_ENVELOPE_JSON is not set/);
    expect(() => envelopeFromEnv({ SLUICE_ACCEPTED_AT: 'envelope.at' }, ['x'])).toThrow(/SLUICE_ACCEPTED_AT/);
    expect(() => envelopeFromEnv({ SLUICE_ROUTES: 'topic=clickz -> t' }, ['clicks'])).toThrow(/no topic of SLUICE_TOPICS matches/);
    expect(() => envelopeFromEnv({ SLUICE_ROUTE_UNMATCHED: 'ignore' }, ['x'])).toThrow(/SLUICE_ROUTE_UNMATCHED/);
    expect(() => envelopeFromEnv({ SLUICE_ROUTES: '@/nonexistent/routes.txt' }, ['x'])).toThrow(/cannot read "\/nonexistent\/routes.txt": ENOENT/);
    expect(() => envelopeFromEnv({ SLUICE_ENVELOPE_COLUMNS: 'header.a:col,header.b:col' }, ['x'])).toThrow(/column col is given twice/);
    expect(() => envelopeFromEnv({ SLUICE_ENVELOPE_JSON: 'a:a' }, ['x'])).toThrow(/cannot be the same field/);
    const ok = envelopeFromEnv({ SLUICE_ENVELOPE_JSON: 'envelope:payload', SLUICE_ROUTES: 'envelope.kind=a -> t', SLUICE_EVENT_TIME: 'payload.ts', SLUICE_ENVELOPE_COLUMNS: 'envelope.src:source' }, ['x']);
    expect(ok.rules!.length).toBe(1);
    expect(ok.acceptedAt.source).toBe('kafka');
    expect([...ok.columns.keys()]).toEqual(['source']);
  });
});
