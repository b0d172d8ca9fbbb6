/**
 * run — `sluice run` and `sluice check`: configuration from SLUICE_* env
 * vars, the sink started, and (for run) kept running until a signal.
 *
 * Contract: `runCommand(args, { check })` returns the exit code: 0 clean
 * shutdown (or a passing check), 1 runtime failure or a shutdown that ran
 * out of time, 2 bad usage or configuration (one line naming the setting on
 * stderr). Signals: the first SIGTERM/SIGINT starts a graceful stop (flush,
 * commit, leave the group); a second one exits at once with 130 — the one
 * process.exit here, since a second signal means "now". `--help` prints
 * every SLUICE_* variable with its default. A password configured over a
 * cleartext transport is allowed but logged as one warn line at start-up.
 * `check`, once everything is reachable, also reads the last records of
 * each partition (`--sample N`, default 1000; 0 skips it) and prints the
 * schema drift and invalid records it finds (cli/drift.ts). That report is
 * advice: it never changes the exit code, and nothing is altered.
 */
import { SETTINGS, cleartextPasswords, loadConfig, redactedConfig } from '../config.js';
import { ConfigError, errorMessage } from '../errors.js';
import { createLogger } from '../ops/log.js';
import { createSink, sampleDrift } from '../main.js';
import { VERSION } from '../version.js';
import { readFlags } from './args.js';
import { formatDrift } from './drift.js';

/** Records read per partition by `sluice check` unless --sample says otherwise. */
export const DEFAULT_SAMPLE = 1000;

export function runUsage(check: boolean): string {
  const width = Math.max(...Object.keys(SETTINGS).map((k) => k.length));
  const vars = Object.entries(SETTINGS)
    .map(([name, s]) => `  ${name.padEnd(width)}  ${s.default === '' ? '(unset)' : s.default}\n  ${' '.repeat(width)}  ${s.doc}`)
    .join('\n');
  if (check) {
    return `usage: sluice check [--sample N]

Validate the configuration, reach Kafka and ClickHouse, check topics and
tables; then read the last N records of each partition (through a throwaway
consumer group, deleted afterwards; nothing is committed) and print, per
table, the fields records carry that the table lacks, with the ALTER TABLE …
ADD COLUMN statements (inferred types) that would keep them — printed, never
run — and how many sampled records would be dead-lettered, with the top
reasons. Exit code 0 when the sink can run, 2 (configuration, services,
topics, tables) or 1 when not; the report does not change it.

flags:
  --sample N  records read per partition (default ${DEFAULT_SAMPLE}; 0: no sample)

Configured by these environment variables (an unknown SLUICE_* variable is
refused):

${vars}
`;
  }
  return `usage: sluice run

consume SLUICE_TOPICS into ClickHouse until SIGTERM/SIGINT (a second signal exits at once). No flags: configured only by these environment variables
(an unknown SLUICE_* variable is refused):

${vars}
`;
}

export async function runCommand(args: readonly string[], opts: { check: boolean }): Promise<number> {
  let flags;
  try {
    flags = readFlags(args, opts.check ? { '--sample': 'value' } : {}, opts.check ? 'check' : 'run');
  } catch (err) {
    process.stderr.write(`sluice: ${errorMessage(err)}\n`);
    return 2;
  }
  if (flags === 'help') {
    process.stdout.write(runUsage(opts.check));
    return 0;
  }
  const sampleText = flags.get('--sample')?.[0] ?? String(DEFAULT_SAMPLE);
  const perPartition = /^\d{1,9}$/.test(sampleText) ? Number(sampleText) : NaN;
  if (!Number.isSafeInteger(perPartition)) {
    process.stderr.write(`sluice: --sample: "${sampleText}" is not a whole number of records (0 or more)\n`);
    return 2;
  }
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    process.stderr.write(`sluice: configuration error: ${errorMessage(err)}\n`);
    return 2;
  }
  const log = createLogger(config.logLevel);
  log.info('sink.config', { version: VERSION, config: redactedConfig(config) });
  // One line, however many transports: a warning to read, not a flood to filter.
  const cleartext = cleartextPasswords(config);
  if (cleartext.length > 0) log.warn('config.cleartext_password', { transports: cleartext });
  const sink = createSink(config, log);
  let stopping: Promise<boolean> | undefined;
  const onSignal = (signal: string) => {
    if (stopping) {
      log.warn('sink.forced_exit', { signal });
      process.exit(130);
    }
    log.info('sink.signal', { signal });
    stopping = sink.stop();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  try {
    await sink.start({ checkOnly: opts.check });
  } catch (err) {
    const code = err instanceof ConfigError ? 2 : 1;
    process.stderr.write(`sluice: ${err instanceof ConfigError ? 'configuration error: ' : ''}${errorMessage(err)}\n`);
    log.error('sink.start_failed', { error: err });
    await sink.stop().catch(() => {});
    return code;
  }
  if (opts.check) {
    await sink.stop();
    process.stdout.write('sluice: configuration OK, Kafka and ClickHouse reachable, tables present\n');
    if (perPartition > 0) {
      try {
        const drift = await sampleDrift(config, log, perPartition);
        process.stdout.write('\n' + formatDrift(drift, { perPartition, deadLetters: config.dlqTopic !== 'none' }));
      } catch (err) {
        // The sink can run; the advice could not be had. Say so, exit 0.
        process.stderr.write(`sluice: could not sample recent records: ${errorMessage(err)}\n`);
        log.warn('check.sample_failed', { error: err });
      }
    }
    return 0;
  }
  // Run until a signal's graceful stop completes.
  await new Promise<void>((resolve) => {
    const wait = setInterval(() => {
      if (stopping) {
        clearInterval(wait);
        resolve();
      }
    }, 100);
  });
  const clean = await stopping!;
  return clean ? 0 : 1;
}
