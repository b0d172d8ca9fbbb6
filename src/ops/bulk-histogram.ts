/**
 * bulk-histogram — a Prometheus histogram with one label, fed one value per
 * row from the write path's inner loop.
 *
 * Why not prom-client's Histogram: its `observe` hashes the label set on
 * every call (250–350 ns measured here), which per row is several percent
 * of the sink's CPU. Here the caller takes a series handle once per insert
 * (`series(label)`) and its `observe` is a bucket search and three adds.
 *
 * Contract: registered in the given registry under `name` and exposed like
 * prom-client's histograms (`_bucket{le}` cumulative, `_sum`, `_count`);
 * values are seconds; buckets ascending. Series are never removed (labels
 * are table names: few, from the config).
 */
import type { Registry } from 'prom-client';

export interface HistogramSeries {
  observe(seconds: number): void;
}

class Series implements HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly buckets: readonly number[]) {
    this.counts = new Float64Array(buckets.length);
  }

  observe(seconds: number): void {
    const b = this.buckets;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    if (i < b.length) this.counts[i]! += 1;
    this.sum += seconds;
    this.count++;
  }
}

export class BulkHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly all = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly label: string,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  series(value: string): HistogramSeries {
    let s = this.all.get(value);
    if (!s) this.all.set(value, (s = new Series(this.buckets)));
    return s;
  }

  /** What prom-client's registry reads when it renders /metrics. */
  get(): { name: string; help: string; type: string; aggregator: string; values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> } {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const [label, s] of this.all) {
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += s.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: this.buckets[i]!, [this.label]: label }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', [this.label]: label }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: { [this.label]: label }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { [this.label]: label }, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.all.clear();
  }
}
