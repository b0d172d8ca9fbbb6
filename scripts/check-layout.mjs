#!/usr/bin/env node
// check-layout — imports under src/ run one way, from the CLI down to the
// shared base, never upward:
//
//   cli → main → config → pipeline → dlq → formats → (clickhouse, kafka) → ops → base
//
// (base = errors, retry, version). A module may import its own folder and
// any stage below it; clickhouse and kafka do not import each other. Type-only
// imports count too: a type that has to be imported upward lives in the
// wrong stage. Usage: `node scripts/check-layout.mjs` — prints each upward
// import and exits 1, or prints one "ok" line and exits 0. No dependencies,
// so a reviewer can run it on any checkout.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve(dirname(new URL(import.meta.url).pathname), '..', 'src');
const RANK = { cli: 9, main: 8, config: 7, pipeline: 6, dlq: 5, formats: 4, clickhouse: 3, kafka: 3, ops: 2, base: 1 };
const BASE = new Set(['errors', 'retry', 'version']);

const stageOf = (file) => {
  const top = relative(SRC, file).split('/')[0].replace(/\.(ts|js)$/, '');
  return BASE.has(top) ? 'base' : top;
};
const walk = (dir) => readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? walk(join(dir, n)) : n.endsWith('.ts') ? [join(dir, n)] : []));

const problems = [];
for (const file of walk(SRC)) {
  const from = stageOf(file);
  if (!(from in RANK)) problems.push(`${relative(SRC, file)}: stage "${from}" is not in scripts/check-layout.mjs RANK`);
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s*['"](\.[^'"]+)['"]/gm)) {
    const to = stageOf(resolve(dirname(file), m[1]));
    if (to === from) continue;
    if (!(RANK[to] < RANK[from])) problems.push(`${relative(SRC, file)} (${from}) imports ${m[1]} (${to}): upward or sideways`);
  }
}
if (problems.length > 0) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log('check-layout: ok, every import under src/ runs downward');
