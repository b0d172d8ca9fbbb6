/**
 * /readyz reasons (src/ops/health.ts): which part, what kind of failure and
 * for how long — never an error's text, a URL or row content, since anyone
 * who reaches the status port reads them. A clock is injected.
 */
import { describe, expect, it } from 'vitest';
import { ClickHouseError, SluiceError } from '../../../src/errors.js';
import { Health } from '../../../src/ops/health.js';
import { createMetrics } from '../../../src/ops/metrics.js';

const ROW = '{"ssn":"078-05-1120","card":"4111 1111 1111 1111"}';

function health(stalled = new Map<string, { reason: string; since: number }>()) {
  let now = 1_000_000;
  const metrics = createMetrics({ processMetrics: false });
  const h = new Health({ readyStallMs: 60_000, stalled: () => stalled, readyGauge: metrics.ready, now: () => now });
  return { h, advance: (ms: number) => (now += ms), stalled };
}

describe('Health.ready reasons', () => {
  it('ClickHouse unreachable: code and class, how long, no URL or server text', () => {
    const { h, advance } = health();
    h.groupJoined(true);
    const cause = Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:8123'), { code: 'ECONNREFUSED' });
    expect(h.clickhouse(new ClickHouseError('transient', cause.message, undefined, undefined, { cause }))).toBe(true);
    // The same failure again changes nothing (the caller logs once).
    expect(h.clickhouse(new ClickHouseError('transient', cause.message, undefined, undefined, { cause }))).toBe(false);
    advance(20_000);
    expect(h.ready()).toEqual({ ok: false, reasons: ['clickhouse_unreachable code=ECONNREFUSED class=transient (for 20 s)'] });
    expect(h.clickhouse(undefined)).toBe(true);
    expect(h.ready()).toEqual({ ok: true, reasons: [] });
  });

  it('a stalled partition: topic:partition, the worker\'s reason and the duration, once past readyStallMs', () => {
    const { h, advance, stalled } = health();
    h.groupJoined(true);
    stalled.set('events:3', { reason: 'insert failing code=60 class=fatal', since: 1_000_000 });
    advance(59_000);
    expect(h.ready().ok).toBe(true);
    advance(16_000);
    expect(h.ready()).toEqual({ ok: false, reasons: ['partition events:3 stalled: insert failing code=60 class=fatal (for 75 s)'] });
  });

  it('a consumer that stopped for good: the error code and class only', () => {
    const { h } = health();
    h.groupJoined(false);
    const cause = Object.assign(new Error(`Broker at 10.9.9.9:9092 said: ${ROW}`), { name: 'KafkaJSProtocolError', type: 'TOPIC_AUTHORIZATION_FAILED', code: 29 });
    h.consumerCrashed(new SluiceError('fatal', cause.message, { cause }));
    const body = JSON.stringify(h.ready());
    expect(h.ready().reasons).toEqual([
      'consumer_crashed code=TOPIC_AUTHORIZATION_FAILED class=fatal',
      'not a member of the consumer group (joining or rebalancing)',
    ]);
    for (const leak of ['078-05-1120', '4111', '10.9.9.9', 'said']) expect(body).not.toContain(leak);
  });
});
