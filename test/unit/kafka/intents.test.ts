/**
 * Reading cut intents back from committed-offset metadata: only an intent
 * for exactly the committed offset counts (kafka/intents.ts).
 */
import { describe, expect, it } from 'vitest';
import { parseCutIntent } from '../../../src/kafka/intents.js';
import { cutIntentMetadata } from '../../../src/pipeline/committer.js';

describe('parseCutIntent', () => {
  it('reads what the committer writes', () => {
    expect(parseCutIntent(cutIntentMetadata(100, 150), 100)).toBe(150);
  });

  it('ignores metadata for another offset, malformed metadata, and none', () => {
    expect(parseCutIntent(cutIntentMetadata(100, 150), 120)).toBeUndefined();
    expect(parseCutIntent('sluice.cut:100:90', 100)).toBeUndefined();
    expect(parseCutIntent('sluice.cut:100', 100)).toBeUndefined();
    expect(parseCutIntent('something else', 100)).toBeUndefined();
    expect(parseCutIntent('', 100)).toBeUndefined();
    expect(parseCutIntent(null, 100)).toBeUndefined();
  });
});
