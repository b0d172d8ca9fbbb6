/** `sluice failover` arguments and its printed plan (cli/failover.ts), no services. */
import { describe, expect, it } from 'vitest';
import { failoverCommand, formatPlan, parseFailoverArgs } from '../../../src/cli/failover.js';
import type { FailoverPlan } from '../../../src/pipeline/failover.js';

const base = ['--to', '127.0.0.1:39092', '--source-alias', 'P', '--group', 'g', '--topic', 'events'];

describe('parseFailoverArgs', () => {
  it('takes defaults from the sink environment', () => {
    const a = parseFailoverArgs(['--to', 'b:9092', '--source-alias', 'P'], { SLUICE_GROUP_ID: 'sink', SLUICE_TOPICS: 'a,b', SLUICE_TABLE: 'a:ta,b:tb' });
    if (a === 'help') throw new Error('help');
    expect(a.group).toBe('sink');
    expect(a.topics).toEqual(['a', 'b']);
    expect(a.tables('b')).toBe('tb');
    expect([...a.methods]).toEqual(['warehouse', 'mm2', 'committed']);
    expect(a.execute).toBe(false);
  });

  it.each([
    [[], /--to: required/],
    [['--to', 'b:9092'], /--source-alias: required/],
    [[...base, '--policy', 'mirror'], /--policy: "mirror" is not default or identity/],
    [[...base, '--using', 'warehouse,guess'], /--using: "guess" is not one of/],
    [[...base.slice(2), '--to', 'nohost'], /--to: "nohost" is not host:port/],
  ])('refuses %j', (args, message) => {
    expect(() => parseFailoverArgs(args as string[], {})).toThrow(message);
  });

  it('exits 2 with one line naming the flag, before any connection', async () => {
    const err: string[] = [];
    const code = await failoverCommand([...base, '--using', 'x'], { out: () => {}, err: (s) => err.push(s), env: {} });
    expect(code).toBe(2);
    expect(err.join('')).toMatch(/^sluice failover: --using: "x"/);
  });
});

describe('formatPlan', () => {
  it('prints each candidate, the choice and the totals', () => {
    const plan: FailoverPlan = {
      group: 'g',
      alias: 'P',
      policies: { events: 'default' },
      rows: [
        {
          topic: 'events', remote: 'P.events', partition: 0, low: 0, end: 6000, current: 1213,
          candidates: { warehouse: { start: 3500, via: 'offset', reread: 0 }, mm2: { start: 1213, via: 'checkpoint', reread: 2287 } },
          chosen: { start: 3500, method: 'warehouse', reread: 0 },
          rereadAtLeast: false,
        },
      ],
      notes: ['committed: cluster P not used (cannot reach Kafka)'],
      totalReread: 0,
      totalToRead: 2500,
    };
    const text = formatPlan(plan, false);
    expect(text).toContain('group g: failover to cluster B (DRY RUN, nothing changed; add --execute to apply)');
    expect(text).toContain('topic events → P.events there (default replication policy)');
    expect(text).toMatch(/0 +0\.\.6000 +1213 +3500 offset \+0 +1213 checkpoint \+2287 +- +3500 warehouse +0 +2500/);
    expect(text).toContain('total: 0 records re-read, 2500 to read');
    expect(text).toContain('note: committed: cluster P not used');
  });
});
