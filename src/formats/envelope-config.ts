/**
 * envelope-config — the envelope and routing settings, read and validated
 * together (they refer to each other).
 *
 * Contract: `envelopeFromEnv(env, topics)` returns a complete
 * EnvelopeConfig or throws a ConfigError naming the variable that is
 * wrong. SLUICE_ROUTES is inline rules or `@<file>` (routes.ts for the
 * syntax); a rule on `envelope.*` needs SLUICE_ENVELOPE_JSON; a rule's
 * `topic=` pattern must match one of SLUICE_TOPICS (a typo would route
 * nothing). `sluice check` loads the config, so it validates all of this,
 * and checks that every table the rules name exists.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { parseFieldRef, parseJsonEnvelope, type FieldRef, type JsonEnvelope } from './envelope.js';
import { parseRoutes, readsEnvelope, type Rule, type Unmatched } from './routes.js';

export interface EnvelopeConfig {
  /** SLUICE_ENVELOPE_JSON: the envelope and payload paths; undefined: the value is the payload. */
  readonly json: JsonEnvelope | undefined;
  /** SLUICE_ROUTES; undefined: SLUICE_TABLE maps topics to tables. */
  readonly rules: readonly Rule[] | undefined;
  readonly unmatched: Unmatched;
  /** Where the acceptance time is (SLUICE_ACCEPTED_AT). */
  readonly acceptedAt: FieldRef;
  /** Where the event's own time is (SLUICE_EVENT_TIME); undefined: not measured. */
  readonly eventTime: FieldRef | undefined;
  /** Column → the envelope field it receives (SLUICE_ENVELOPE_COLUMNS). */
  readonly columns: ReadonlyMap<string, FieldRef>;
}

export const ENVELOPE_SETTINGS: Readonly<Record<string, { default: string; doc: string }>> = {
  SLUICE_ROUTES: {
    default: '',
    doc: 'Routing rules instead of SLUICE_TABLE: `header.type=order.* -> orders; header.type=click -> clicks; * -> events` (`;` or newlines between rules, first match wins), or `@/path/to/routes.txt`. Conditions on `topic`, `header.<name>`, `envelope.<path>` with `*` wildcards, joined by `&`; targets a table, `!drop` or `!deadletter`. See "Envelopes and routing".',
  },
  SLUICE_ROUTE_UNMATCHED: { default: 'deadletter', doc: 'A record no route matches: `deadletter` (with the reason) or `drop` (counted in `sluice_records_dropped_total`).' },
  SLUICE_ENVELOPE_JSON: { default: '', doc: 'The record value is a JSON envelope: `<envelope path>:<payload path>` (e.g. `envelope:payload`); the payload becomes the row, `envelope.<path>` fields can route and fill columns. Unset: the whole value is the payload.' },
  SLUICE_ACCEPTED_AT: { default: 'kafka.timestamp', doc: 'Where the time the event was accepted is: `kafka.timestamp`, `header.<name>` or `envelope.<path>` (epoch ms or s, or ISO-8601). Start of `sluice_end_to_end_latency_seconds`; a record without it falls back to its Kafka timestamp.' },
  SLUICE_EVENT_TIME: { default: '', doc: 'Where the event\'s own time is (`header.<name>`, `envelope.<path>`, `payload.<path>`), for `sluice_event_to_accepted_seconds`. Unset: not measured.' },
  SLUICE_ENVELOPE_COLUMNS: { default: '', doc: 'Envelope fields stored in columns: `<field>:<column>` pairs, e.g. `header.type:event_type,envelope.accepted_at:accepted_at`. String columns take the text; DateTime/DateTime64/Int64 columns a time. A target table without that column ignores it.' },
};

export function envelopeFromEnv(env: NodeJS.ProcessEnv, topics: readonly string[]): EnvelopeConfig {
  const get = (key: string) => (env[key] ?? '').trim() || ENVELOPE_SETTINGS[key]!.default;
  const named = <T>(key: string, f: () => T): T => {
    try {
      return f();
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(key, (err as Error).message);
    }
  };
  const json = named('SLUICE_ENVELOPE_JSON', () => parseJsonEnvelope(get('SLUICE_ENVELOPE_JSON')));
  const needsJson = (key: string, ref: FieldRef) => {
    if ((ref.source === 'envelope') && !json) throw new ConfigError(key, `reads ${ref.text}, but SLUICE_ENVELOPE_JSON is not set`);
    return ref;
  };
  const rules = named('SLUICE_ROUTES', () => {
    const raw = get('SLUICE_ROUTES');
    if (raw === '') return undefined;
    const text = raw.startsWith('@') ? readRoutesFile(raw.slice(1)) : raw;
    const parsed = parseRoutes(text);
    if (readsEnvelope(parsed) && !json) throw new ConfigError('SLUICE_ROUTES', 'a rule reads envelope.*, but SLUICE_ENVELOPE_JSON is not set');
    for (const r of parsed) {
      for (const c of r.conditions) {
        if (c.field.source !== 'topic') continue;
        const p = c.pattern;
        if (!topics.some((t) => (typeof p === 'string' ? p === t : p.test(t)))) throw new ConfigError('SLUICE_ROUTES', `rule "${r.text}" (line ${r.line}) names a topic pattern no topic of SLUICE_TOPICS matches`);
      }
    }
    return parsed;
  });
  const unmatched = get('SLUICE_ROUTE_UNMATCHED');
  if (unmatched !== 'deadletter' && unmatched !== 'drop') throw new ConfigError('SLUICE_ROUTE_UNMATCHED', `must be deadletter or drop, got "${unmatched}"`);
  const acceptedAt = named('SLUICE_ACCEPTED_AT', () => needsJson('SLUICE_ACCEPTED_AT', parseFieldRef(get('SLUICE_ACCEPTED_AT'), ['kafka', 'header', 'envelope'])));
  const eventTimeText = get('SLUICE_EVENT_TIME');
  const eventTime = eventTimeText === '' ? undefined : named('SLUICE_EVENT_TIME', () => needsJson('SLUICE_EVENT_TIME', parseFieldRef(eventTimeText, ['header', 'envelope', 'payload'])));
  const columns = named('SLUICE_ENVELOPE_COLUMNS', () => {
    const out = new Map<string, FieldRef>();
    for (const part of get('SLUICE_ENVELOPE_COLUMNS').split(',')) {
      const item = part.trim();
      if (item === '') continue;
      const colon = item.lastIndexOf(':');
      if (colon < 0) throw new Error(`"${item}" is not <field>:<column>`);
      const column = item.slice(colon + 1).trim();
      if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(column)) throw new Error(`"${column}" is not a plain column name`);
      if (out.has(column)) throw new Error(`column ${column} is given twice`);
      out.set(column, needsJson('SLUICE_ENVELOPE_COLUMNS', parseFieldRef(item.slice(0, colon), ['header', 'envelope', 'kafka', 'topic'])));
    }
    return out;
  });
  return { json, rules, unmatched, acceptedAt, eventTime, columns };
}

function readRoutesFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('SLUICE_ROUTES', `cannot read "${path}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}
