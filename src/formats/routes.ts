/**
 * routes — which table each record goes to, decided from its envelope.
 *
 * Rules (SLUICE_ROUTES, inline or `@file`), one per line or separated by
 * `;`, `#` starting a comment, tried in order, the first match winning:
 *
 *     header.type=order.*            -> orders
 *     header.type=click & topic=web  -> clicks
 *     envelope.kind=debug.*          -> !drop
 *     *                              -> events
 *
 * A condition is `<field>=<pattern>` with a field of envelope.ts
 * (`topic`, `header.<name>`, `envelope.<path>`; never the payload: routing
 * must not open it) and a pattern where `*` matches any run of characters;
 * `&` joins conditions; `*` alone matches every record. A target is a
 * table, `!drop` (counted, never written) or `!deadletter` (dead-lettered
 * with the reason). A record no rule matches meets SLUICE_ROUTE_UNMATCHED.
 *
 * Contract:
 *  - `parseRoutes(text)` throws an Error naming the line and what is wrong.
 *  - `routerFor(topic)` is the rules that can apply to one topic, bound
 *    once (topic conditions are settled then); `fixed` is set when every
 *    record of the topic goes to one target whatever it carries, so the
 *    caller need not look at records at all. `route(record)` reads only
 *    the fields the topic's rules name, each at most once per record;
 *    headers cost a lookup, envelope fields a scan of the value up to them
 *    — the payload is never decoded for routing.
 *  - The same record always gets the same target: re-read batches split
 *    the same way, and each table's block repeats byte for byte.
 */
import type { SourceRecord } from '../kafka/record.js';
import { EnvelopeReader, parseFieldRef, type FieldRef } from './envelope.js';

export type RouteTarget = string | typeof DROP | typeof DEADLETTER;
export const DROP = '!drop';
export const DEADLETTER = '!deadletter';
export type Unmatched = 'deadletter' | 'drop';

interface Condition {
  readonly field: FieldRef;
  readonly pattern: RegExp | string;
}

export interface Rule {
  readonly line: number;
  readonly conditions: readonly Condition[];
  readonly target: RouteTarget;
  readonly text: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseRoutes(text: string): Rule[] {
  const rules: Rule[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const noComment = lines[i]!.replace(/#.*/, '');
    for (const part of noComment.split(';')) {
      const item = part.trim();
      if (item === '') continue;
      const where = lines.length > 1 ? `line ${i + 1}: ` : '';
      const arrow = item.indexOf('->');
      if (arrow < 0) throw new Error(`${where}"${item}" has no "-> table"`);
      const left = item.slice(0, arrow).trim();
      const target = item.slice(arrow + 2).trim();
      if (target !== DROP && target !== DEADLETTER && !IDENTIFIER.test(target)) {
        throw new Error(`${where}"${target}" is not a table name (or ${DROP}, ${DEADLETTER})`);
      }
      const conditions: Condition[] = [];
      if (left !== '*') {
        if (left === '') throw new Error(`${where}"${item}" has no condition (write * to match every record)`);
        for (const c of left.split('&')) {
          const eq = c.indexOf('=');
          if (eq < 0) throw new Error(`${where}"${c.trim()}" is not <field>=<pattern>`);
          let field: FieldRef;
          try {
            field = parseFieldRef(c.slice(0, eq), ['topic', 'header', 'envelope']);
          } catch (err) {
            throw new Error(`${where}${(err as Error).message}`);
          }
          conditions.push({ field, pattern: compile(c.slice(eq + 1).trim()) });
        }
      }
      rules.push({ line: i + 1, conditions, target, text: item });
    }
  }
  if (rules.length === 0) throw new Error('has no rule (write e.g. "header.type=click -> clicks; * -> events")');
  return rules;
}

/** A pattern without `*` is compared as it is; with, as an anchored regular expression. */
function compile(pattern: string): RegExp | string {
  if (!pattern.includes('*')) return pattern;
  return new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
}

function matches(pattern: RegExp | string, value: string | undefined): boolean {
  if (value === undefined) return false;
  return typeof pattern === 'string' ? pattern === value : pattern.test(value);
}

/** Every table the rules name. */
export function routeTables(rules: readonly Rule[]): string[] {
  return [...new Set(rules.map((r) => r.target).filter((t) => t !== DROP && t !== DEADLETTER))];
}

/** Whether any rule reads the JSON envelope (SLUICE_ENVELOPE_JSON must then be set). */
export function readsEnvelope(rules: readonly Rule[]): boolean {
  return rules.some((r) => r.conditions.some((c) => c.field.source === 'envelope'));
}

export interface TopicRouter {
  /** Set when every record of the topic goes to this target. */
  readonly fixed: RouteTarget | undefined;
  /** The target of one record; undefined: no rule matches. */
  route(record: SourceRecord): RouteTarget | undefined;
  /** The rule the last `route` matched (for reasons and logs). */
  readonly describe: (target: RouteTarget | undefined) => string;
}

export function routerFor(rules: readonly Rule[], topic: string, reader: EnvelopeReader): TopicRouter {
  // Topic conditions are settled here: keep the rules that can match, without them.
  const live: Array<{ conditions: Condition[]; target: RouteTarget }> = [];
  for (const r of rules) {
    const rest = r.conditions.filter((c) => c.field.source !== 'topic');
    if (r.conditions.every((c) => c.field.source !== 'topic' || matches(c.pattern, topic))) live.push({ conditions: rest, target: r.target });
  }
  const firstAll = live.findIndex((r) => r.conditions.length === 0);
  const reachable = firstAll < 0 ? live : live.slice(0, firstAll + 1);
  const fixed = reachable.length > 0 && reachable.every((r) => r.target === reachable[0]!.target) && firstAll >= 0 ? reachable[0]!.target : undefined;
  const fields: FieldRef[] = [];
  const slot = new Map<string, number>();
  const compiled = reachable.map((r) => ({
    target: r.target,
    conditions: r.conditions.map((c) => {
      let i = slot.get(c.field.text);
      if (i === undefined) slot.set(c.field.text, (i = fields.push(c.field) - 1));
      return { i, pattern: c.pattern };
    }),
  }));
  const values: Array<string | undefined> = new Array(fields.length);
  const read = new Uint8Array(fields.length);
  return {
    fixed,
    route(record) {
      if (fixed !== undefined) return fixed;
      read.fill(0);
      for (const r of compiled) {
        let ok = true;
        for (const c of r.conditions) {
          if (read[c.i] === 0) {
            values[c.i] = reader.text(fields[c.i]!, topic, record);
            read[c.i] = 1;
          }
          if (!matches(c.pattern, values[c.i])) {
            ok = false;
            break;
          }
        }
        if (ok) return r.target;
      }
      return undefined;
    },
    describe(target) {
      if (target !== undefined) return `routed to ${target}`;
      const named = fields.map((f, i) => `${f.text}=${read[i] ? JSON.stringify(values[i] ?? null) : '?'}`).join(', ');
      return `no route matches (${named || 'no field read'})`;
    },
  };
}
