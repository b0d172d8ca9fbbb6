/** The per-row histogram (ops/bulk-histogram.ts) renders as prom-client's histograms do. */
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BulkHistogram } from '../../../src/ops/bulk-histogram.js';

describe('BulkHistogram', () => {
  it('exposes the same buckets, sum and count as a prom-client Histogram fed the same values', async () => {
    const buckets = [0.1, 1, 10];
    const a = new Registry();
    const b = new Registry();
    const bulk = new BulkHistogram('lat_seconds', 'help', 'table', buckets, a);
    const ref = new Histogram({ name: 'lat_seconds', help: 'help', labelNames: ['table'], buckets, registers: [b] });
    const values = [0, 0.1, 0.10001, 0.5, 1, 3, 10, 11, 500];
    const s = bulk.series('t1');
    for (const v of values) {
      s.observe(v);
      ref.observe({ table: 't1' }, v);
    }
    bulk.series('t2').observe(2);
    ref.observe({ table: 't2' }, 2);
    const norm = (text: string) => text.split('\n').filter((l) => !l.startsWith('#') && l !== '').map((l) => l.replace(/\{le="([^"]+)",table="([^"]+)"\}/, '{table="$2",le="$1"}')).sort();
    expect(norm(await a.metrics())).toEqual(norm(await b.metrics()));
    expect(await a.metrics()).toContain('lat_seconds_bucket{le="+Inf",table="t1"} 9');
  });
});
