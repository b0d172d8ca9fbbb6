/** `sluice check`'s drift report as printed (cli/drift.ts), on reports built by formats/drift.ts. */
import { describe, expect, it } from 'vitest';
import { formatDrift } from '../../../src/cli/drift.js';
import { drift, SAMPLE } from '../formats/drift-sample.js';

describe('formatDrift', () => {
  it('prints the fields, the statements (never run) and the top reasons', () => {
    const text = formatDrift({ tables: [drift(false, SAMPLE)], sample: { ranges: [], complete: false, unfinished: ['topic-a:2'] } }, { perPartition: 1000, deadLetters: true });
    expect(text).toContain('table db.events (topic topic-a; sampled 8 records, the last 1000 or fewer of each partition)');
    expect(text).toMatch(/country +3 of 8 records +Nullable\(String\) +1 null/);
    expect(text).toContain('    ALTER TABLE db.events ADD COLUMN score Int64;\n');
    expect(text).toContain('invalid records: 5 of 8 sampled would be dead-lettered; top reasons:');
    expect(text).toContain('e.g. topic-a:3 offset 103: column id: "x4" is not a UInt64');
    expect(text).toContain('not read to their end in time: topic-a:2');
  });

  it('says so when there is no drift and nothing invalid, and when bad records would stall without a DLQ', () => {
    const clean = formatDrift({ tables: [drift(false, SAMPLE.slice(0, 1).map((s) => s!.replace(/,"country".*\}/, '}')))], sample: { ranges: [], complete: true, unfinished: [] } }, { perPartition: 10, deadLetters: true });
    expect(clean).toContain('schema drift: none');
    expect(clean).toContain('invalid records: none of 1 sampled');
    const stalls = formatDrift({ tables: [drift(false, ['nope'])], sample: { ranges: [], complete: true, unfinished: [] } }, { perPartition: 10, deadLetters: false });
    expect(stalls).toContain('would stall their partition (SLUICE_DLQ_TOPIC=none)');
  });
});
