/** The offsets `sluice check` samples (kafka/sample.ts): the last N of each partition. */
import { describe, expect, it } from 'vitest';
import { sampleRanges } from '../../../src/kafka/sample.js';

describe('sampleRanges', () => {
  it('reads the last N offsets of each partition, fewer when the log is shorter or trimmed', () => {
    expect(sampleRanges('t', [{ partition: 1, low: '0', high: '5000' }, { partition: 0, low: '40', high: '90' }, { partition: 2, low: '7', high: '7' }], 1000)).toEqual([
      { topic: 't', partition: 0, from: 40, to: 90 },
      { topic: 't', partition: 1, from: 4000, to: 5000 },
      { topic: 't', partition: 2, from: 7, to: 7 },
    ]);
  });
});
