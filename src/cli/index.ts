#!/usr/bin/env node
/**
 * cli — the process entry point: `sluice run | replay | offsets | check | version`.
 *
 * Contract: the only module that reads process.argv, installs signal
 * handlers or calls process.exit. Exit codes: 0 success (or clean
 * shutdown), 1 runtime failure, 2 bad usage or configuration. A bad setting
 * prints one line naming it; secrets are never printed.
 * Signals: the first SIGTERM/SIGINT starts a graceful stop (flush, commit,
 * leave the group); a second one exits at once.
 */
import { loadConfig, redactedConfig } from '../config.js';
import { ConfigError, errorMessage } from '../errors.js';
import { createLogger } from '../ops/log.js';
import { createSink } from '../main.js';
import { VERSION } from '../version.js';

const USAGE = `sluice ${VERSION} — Kafka → ClickHouse sink

usage:
  sluice run                 consume SLUICE_TOPICS into ClickHouse (configured by SLUICE_* env vars)
  sluice check               validate the configuration and reach Kafka and ClickHouse, then exit
  sluice replay [options]    re-insert dead-lettered records (sluice replay --help)
  sluice offsets <command>   lag | find | reset (sluice offsets --help)
  sluice version
`;

async function run(check: boolean): Promise<number> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    process.stderr.write(`sluice: configuration error: ${errorMessage(err)}\n`);
    return 2;
  }
  const log = createLogger(config.logLevel);
  log.info('sink.config', { version: VERSION, config: redactedConfig(config) });
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
  if (check) {
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

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return run(false);
    case 'check':
      return run(true);
    case 'replay': {
      const { replayCommand } = await import('./replay.js');
      return replayCommand(rest, { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), env: process.env, isTTY: Boolean(process.stderr.isTTY) });
    }
    case 'offsets': {
      const { offsetsCommand } = await import('./offsets.js');
      return offsetsCommand(rest, { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), env: process.env });
    }
    case 'version':
    case '--version':
      process.stdout.write(VERSION + '\n');
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`sluice: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`sluice: ${errorMessage(err)}\n`);
    process.exit(1);
  },
);
