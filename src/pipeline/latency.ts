/**
 * latency — end-to-end latency of every row that landed: the moment
 * ClickHouse acknowledged its insert minus the time its event was accepted
 * (SLUICE_ACCEPTED_AT: an envelope time, or the Kafka timestamp), and the
 * acceptance time minus the event's own time (SLUICE_EVENT_TIME), per table.
 *
 * Contract: `landed(table, records, ackMs)` observes one value per record
 * in `sluice_end_to_end_latency_seconds` (so its count equals the rows
 * inserted) and, for records that carry an event time, one in
 * `sluice_event_to_accepted_seconds`. A record whose envelope has no
 * acceptance time counts from its Kafka timestamp. Negative spans (clocks
 * apart) count as 0. Reading a header costs a lookup; an envelope or
 * payload field a scan of the value up to it, never a decode.
 */
import type { EnvelopeConfig } from '../formats/envelope-config.js';
import { EnvelopeReader } from '../formats/envelope.js';
import type { SourceRecord } from '../kafka/record.js';
import type { Metrics } from '../ops/metrics.js';

export function landedLatency(envelope: EnvelopeConfig, metrics: Metrics): (table: string, records: readonly SourceRecord[], ackMs: number) => void {
  const reader = new EnvelopeReader(envelope.json);
  const accepted = envelope.acceptedAt;
  const event = envelope.eventTime;
  const fromKafka = accepted.source === 'kafka';
  return (table, records, ackMs) => {
    const e2e = metrics.endToEndLatency.series(table);
    const e2a = event ? metrics.eventToAccepted.series(table) : undefined;
    for (const r of records) {
      const at = fromKafka ? r.timestamp : (reader.time(accepted, r) ?? r.timestamp);
      e2e.observe(Math.max(0, ackMs - at) / 1000);
      if (e2a) {
        const t = reader.time(event!, r);
        if (t !== undefined) e2a.observe(Math.max(0, at - t) / 1000);
      }
    }
  };
}
