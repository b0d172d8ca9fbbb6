/**
 * The layout's one rule, checked on every run: imports under src/ run one
 * way, from the CLI down to the shared base (scripts/check-layout.mjs holds
 * the order). A module that needs something from a stage above it is in the
 * wrong stage, or the thing it needs is.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const SCRIPT = new URL('../../scripts/check-layout.mjs', import.meta.url).pathname;

describe('src/ layout', () => {
  it('has no upward import (scripts/check-layout.mjs)', () => {
    const r = spawnSync(process.execPath, [SCRIPT], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('every import under src/ runs downward');
  });
});
