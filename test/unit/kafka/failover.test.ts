/** MirrorMaker 2's checkpoint records and topic naming (kafka/failover.ts), no services. */
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, detectPolicy, remoteTopic, sourceTopic } from '../../../src/kafka/failover.js';

const str = (s: string) => {
  const b = Buffer.alloc(2 + Buffer.byteLength(s));
  b.writeInt16BE(Buffer.byteLength(s));
  b.write(s, 2);
  return b;
};

describe('decodeCheckpoint', () => {
  // Bytes as MirrorMaker 2 4.1.1 wrote them here (group g1, topic probe1, partition 1: 1999 → 1920).
  const key = Buffer.concat([str('g1'), str('probe1'), Buffer.from([0, 0, 0, 1])]);
  const value = Buffer.from('0000' + '00000000000007cf' + '0000000000000780' + '0000', 'hex');

  it('reads group, topic, partition, upstream and downstream offsets', () => {
    expect(decodeCheckpoint(key, value)).toEqual({ group: 'g1', topic: 'probe1', partition: 1, upstream: 1999, downstream: 1920 });
  });

  it('ignores what is not a version-0 checkpoint', () => {
    expect(decodeCheckpoint(null, value)).toBeUndefined();
    expect(decodeCheckpoint(key, Buffer.from('0001', 'hex'))).toBeUndefined();
    expect(decodeCheckpoint(Buffer.concat([key, Buffer.from([0])]), value)).toBeUndefined();
    expect(decodeCheckpoint(key.subarray(0, 5), value)).toBeUndefined();
  });
});

describe('replication policies', () => {
  it('names the remote topic as MirrorMaker 2 does', () => {
    expect(remoteTopic('events', 'P', 'default')).toBe('P.events');
    expect(remoteTopic('events', 'P', 'identity')).toBe('events');
  });

  it('records P.events read on B as events only with the alias set (SLUICE_MIRROR_SOURCE_ALIAS)', () => {
    expect(sourceTopic('P.events', 'P')).toBe('events');
    expect(sourceTopic('P.events', '')).toBe('P.events');
    expect(sourceTopic('events', 'P')).toBe('events');
    expect(sourceTopic('PP.events', 'P')).toBe('PP.events');
  });

  it('detects the policy from the names on B, the prefixed one first', () => {
    expect(detectPolicy(new Set(['P.events', 'events']), 'events', 'P')).toBe('default');
    expect(detectPolicy(new Set(['events']), 'events', 'P')).toBe('identity');
    expect(detectPolicy(new Set(['other']), 'events', 'P')).toBeUndefined();
  });
});
