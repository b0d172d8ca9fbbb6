#!/usr/bin/env node
/**
 * cli — the process entry point: `sluice run | check | replay | offsets | failover | version`.
 *
 * Stage: cli/ is the top of the house. One file per command (run.ts for run
 * and check, replay.ts, offsets.ts) does argument parsing (args.ts, through
 * node:util parseArgs) and output only; the work lives in main.ts (the sink)
 * and the stages below. cli/ may import anything; nothing imports cli/.
 *
 * Contract: cli/ is the only place that reads process.argv, installs signal
 * handlers or calls process.exit (here, with the command's exit code; and
 * run.ts on a second signal). Exit codes: 0 success (or clean shutdown),
 * 1 runtime failure, 2 bad usage or configuration. A bad setting prints one
 * line naming it; secrets are never printed. Every command takes --help.
 */
import { errorMessage } from '../errors.js';
import { VERSION } from '../version.js';

const USAGE = `sluice ${VERSION} — Kafka → ClickHouse sink

usage:
  sluice run                 consume SLUICE_TOPICS into ClickHouse (SLUICE_* env vars: sluice run --help)
  sluice check [--sample N]  validate the configuration, reach Kafka and ClickHouse, report schema drift, exit
  sluice replay [options]    re-insert dead-lettered records (sluice replay --help)
  sluice offsets <command>   lag | find | reset (sluice offsets --help)
  sluice failover [options]  resume a consumer group on a MirrorMaker 2 backup cluster (sluice failover --help)
  sluice version
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
    case 'check': {
      const { runCommand } = await import('./run.js');
      return runCommand(rest, { check: command === 'check' });
    }
    case 'replay': {
      const { replayCommand } = await import('./replay.js');
      return replayCommand(rest, { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), env: process.env, isTTY: Boolean(process.stderr.isTTY) });
    }
    case 'offsets': {
      const { offsetsCommand } = await import('./offsets.js');
      return offsetsCommand(rest, { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), env: process.env });
    }
    case 'failover': {
      const { failoverCommand } = await import('./failover.js');
      return failoverCommand(rest, { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), env: process.env });
    }
    case 'version':
    case '--version':
      if (rest.includes('--help') || rest.includes('-h')) {
        process.stdout.write('usage: sluice version\n\nprints the version and exits\n');
        return 0;
      }
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
