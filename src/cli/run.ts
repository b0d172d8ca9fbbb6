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
 */
import { SETTINGS, cleartextPasswords, loadConfig, redactedConfig } from '../config.js';
import { ConfigError, errorMessage } from '../errors.js';
import { createLogger } from '../ops/log.js';
import { createSink } from '../main.js';
import { VERSION } from '../version.js';
import { readFlags } from './args.js';

export function runUsage(check: boolean): string {
  const width = Math.max(...Object.keys(SETTINGS).map((k) => k.length));
  const vars = Object.entries(SETTINGS)
    .map(([name, s]) => `  ${name.padEnd(width)}  ${s.default === '' ? '(unset)' : s.default}\n  ${' '.repeat(width)}  ${s.doc}`)
    .join('\n');
  const what = check
    ? 'validate the configuration, reach Kafka and ClickHouse, check topics and tables, then exit (0 ok, 2 not)'
    : 'consume SLUICE_TOPICS into ClickHouse until SIGTERM/SIGINT (a second signal exits at once)';
  return `usage: sluice ${check ? 'check' : 'run'}

${what}. No flags: configured only by these environment variables
(an unknown SLUICE_* variable is refused):

${vars}
`;
}

export async function runCommand(args: readonly string[], opts: { check: boolean }): Promise<number> {
  let flags;
  try {
    flags = readFlags(args, {}, opts.check ? 'check' : 'run');
  } catch (err) {
    process.stderr.write(`sluice: ${errorMessage(err)}\n`);
    return 2;
  }
  if (flags === 'help') {
    process.stdout.write(runUsage(opts.check));
    return 0;
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
    await sink.start();
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
