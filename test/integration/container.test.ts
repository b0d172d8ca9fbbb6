/**
 * Issue 14: the container image, built from the real Dockerfile
 * (scripts/image.sh build: podman, a local Node base when no registry is
 * reachable) and run against the local Kafka and ClickHouse with
 * `--network host`. Checks what a deployment relies on: records land exactly
 * once, /metrics and /healthz answer from inside the container, the image's
 * HEALTHCHECK passes, the sink runs as uid 1000, a SLUICE_* typo exits 2 with
 * one line, SIGTERM (`podman stop`) flushes, commits and leaves the group,
 * and the image holds only dist/, production node_modules and package.json.
 *
 * Podman missing or unable to run a container is a failure with the reason,
 * never a skip: the README says the image builds and runs on this machine.
 * The build is always invoked: podman's layer cache makes it take seconds
 * when nothing changed, and a stale image would test old code.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EVENTS_DDL,
  committedByPartition,
  createTopic,
  endOffsets,
  event,
  freePort,
  metricSamples,
  metricSum,
  produce,
  randomName,
  scalar,
  sinkEnv,
  useClickHouse,
  waitFor,
  withAdmin,
} from '../helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const IMAGE_SH = `${ROOT}scripts/image.sh`;
const IMAGE = 'sluice:local';
// The same runtime scripts/image.sh uses (crun refuses this machine's cgroups).
const PODMAN_GLOBAL = ['--runtime', 'runc'];

const client = useClickHouse();

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to its end; never rejects (a missing binary is code -1 with the reason in stderr). */
function exec(file: string, args: string[], timeoutMs = 120_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: ROOT, timeout: timeoutMs, maxBuffer: 64 << 20, env: { ...process.env, IMAGE } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr: err && code === -1 ? `${stderr}${String(err.message)}` : stderr });
    });
  });
}

const podman = (args: string[], timeoutMs?: number) => exec('podman', [...PODMAN_GLOBAL, ...args], timeoutMs);
/** `podman run` with the machine's flags (scripts/image.sh run): options, then `--` and sluice's arguments. */
const runImage = (options: string[], args: string[] = []) => exec('bash', [IMAGE_SH, 'run', ...options, '--', ...args]);

/** Throws with podman's own words when a podman command failed. */
function ok(r: Result, what: string): string {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-8).join('\n')}`);
  return r.stdout;
}

const envFlags = (env: Record<string, string>) => Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);

const containers: string[] = [];

/** Starts the image detached as a named container; returns the name. */
async function startContainer(env: Record<string, string>): Promise<string> {
  const name = randomName('sluice_ct');
  containers.push(name);
  ok(await runImage(['-d', '--name', name, ...envFlags(env)]), `podman run ${IMAGE}`);
  return name;
}

/** The container's output (stdout and stderr of the sink only — podman's own messages are not in it). */
async function logs(name: string): Promise<string[]> {
  const r = await podman(['logs', name]);
  return `${ok(r, 'podman logs')}\n${r.stderr}`.split('\n').filter((l) => l.trim() !== '');
}

const events = (lines: string[]) =>
  lines.flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });

/** GET http://127.0.0.1:<port><path> from inside the container, with the image's own node. */
async function getInside(name: string, port: number, path: string): Promise<{ status: number; body: string }> {
  const script = `fetch('http://127.0.0.1:${port}${path}').then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })), (e) => { console.error(String(e)); process.exit(1); })`;
  return JSON.parse(ok(await podman(['exec', name, 'node', '-e', script]), `GET ${path} inside ${name}`)) as { status: number; body: string };
}

// Why the image cannot be tested here, if it cannot. Every test throws it, so
// a machine without podman shows failed tests with the reason — not a failed
// hook that summaries count as skipped tests.
let unavailable: Error | undefined;
const image = () => {
  if (unavailable) throw unavailable;
};

beforeAll(async () => {
  const version = await exec('podman', ['--version']);
  if (version.code !== 0) {
    unavailable = new Error(
      `podman cannot run here, so the container image cannot be tested: ${version.stderr.trim()}\n` +
        'Install it with `bash scripts/image.sh install` (Debian: podman, runc, debootstrap); .ci/run does this on CI.',
    );
    return;
  }
  const build = await exec('bash', [IMAGE_SH, 'build'], 20 * 60_000);
  if (build.code !== 0) {
    unavailable = new Error(`scripts/image.sh build failed (exit ${build.code}):\n${build.stderr.trim().split('\n').slice(-15).join('\n')}`);
    return;
  }
  // The build's figures (base made, build time, image size) in the test log.
  process.stderr.write(build.stderr.split('\n').filter((l) => /^image: (local base ready|built) /.test(l)).join('\n') + '\n');
  const smoke = await runImage(['--rm'], ['version']);
  if (smoke.code !== 0) unavailable = new Error(`podman cannot run a container here: ${(smoke.stderr || smoke.stdout).trim().split('\n').slice(-5).join('\n')}`);
}, 25 * 60_000);

afterAll(async () => {
  if (containers.length) await podman(['rm', '--force', '--time', '0', ...containers]);
});

describe('container image', () => {
  it('holds only dist/, the production node_modules and package.json, owned by root, with no compiler and no tests', async () => {
    image();
    const lock = JSON.parse(readFileSync(`${ROOT}package-lock.json`, 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }> };
    const production = Object.entries(lock.packages)
      .filter(([path, p]) => path.startsWith('node_modules/') && !p.dev && !p.devOptional)
      .map(([path]) => path.slice('node_modules/'.length))
      // Declarations only (protobufjs lists @types/node): the Dockerfile removes them.
      .filter((name) => !name.startsWith('@types/') && name !== 'undici-types')
      .sort();
    const script = [
      'cd /app',
      'echo "top: $(ls -A | tr "\\n" " ")"',
      'echo "owner: $(stat -c %U -- . dist node_modules package.json | sort -u | tr "\\n" " ")"',
      // A package is a folder with a package.json, at node_modules/<name> or node_modules/@scope/<name>.
      // Nested copies too (a version another package needs, e.g. micromatch's own picomatch).
      'for p in node_modules/*/package.json node_modules/@*/*/package.json node_modules/*/node_modules/*/package.json node_modules/*/node_modules/@*/*/package.json node_modules/@*/*/node_modules/*/package.json; do [ -f "$p" ] && echo "package: ${p#node_modules/}"; done',
      'for c in gcc cc c++ g++ make tsc; do command -v $c >/dev/null && echo "compiler: $c"; done',
      'find dist -name "*.test.*" -o -name "*.spec.*" | sed "s/^/test file: /"',
      'for d in node_modules/vitest node_modules/typescript node_modules/@types node_modules/.bin test src; do [ -e "$d" ] && [ -n "$(ls -A $d 2>/dev/null || echo file)" ] && echo "dev: $d"; done',
      'echo "sizes: dist $(du -sk dist | cut -f1) KiB, node_modules $(du -sk node_modules | cut -f1) KiB"',
      'true',
    ].join('\n');
    const out = ok(await runImage(['--rm', '--entrypoint', 'sh'], ['-c', script]), 'listing the image').split('\n');
    const field = (prefix: string) => out.filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length).trim());

    expect(field('top: ')[0]!.split(' ').sort()).toEqual(['dist', 'node_modules', 'package.json']);
    expect(field('owner: ')).toEqual(['root']);
    expect(field('package: ').map((p) => p.replace(/\/package\.json$/, '')).sort()).toEqual(production);
    expect(production).toEqual(expect.arrayContaining(['kafkajs', '@clickhouse/client', 'prom-client']));
    expect(field('compiler: ')).toEqual([]);
    expect(field('test file: ')).toEqual([]);
    expect(field('dev: ')).toEqual([]);
    process.stderr.write(`image /app: ${field('sizes: ')[0] ?? ''}\n`);
  });

  it('lands records exactly once, serves /metrics and /healthz inside, passes HEALTHCHECK as uid 1000, and on SIGTERM flushes, commits and leaves the group', async () => {
    image();
    const topic = randomName('container');
    const table = randomName('container');
    const group = randomName('g');
    const port = await freePort();
    await createTopic(topic, 3);
    await client().command({ query: EVENTS_DDL(table) });
    const first = 6000;
    const second = 1500;
    await produce(topic, Array.from({ length: first }, (_, i) => event(i)), 3);

    // Batches cut at 1,000 records and never by time: the first 2,000 per
    // partition land, the last 500 per partition wait in the buffer until SIGTERM.
    const name = await startContainer(
      sinkEnv(topic, table, group, { SLUICE_METRICS_PORT: String(port), SLUICE_BATCH_MAX_ROWS: '1000', SLUICE_BATCH_MAX_WAIT_MS: '600000' }),
    );
    await waitFor('the first records to land', async () => (await scalar(client(), `SELECT count() FROM ${table}`)) === first);

    // The sink inside: the container's PID 1 is node running the CLI, as uid 1000.
    const status = ok(await podman(['exec', name, 'cat', '/proc/1/status', '/proc/1/cmdline']), 'reading /proc/1');
    expect(status).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { bin: { sluice: string } };
    expect(status).toContain(pkg.bin.sluice);
    expect(ok(await podman(['inspect', '--format', '{{.Config.User}}', name]), 'podman inspect').trim()).toBe('node');

    const health = await getInside(name, port, '/healthz');
    expect(health.status).toBe(200);
    const metrics = await getInside(name, port, '/metrics');
    expect(metrics.status).toBe(200);
    const inserted = [...metricSamples(metrics.body)].filter(([k]) => k.startsWith('sluice_records_inserted_total')).reduce((s, [, v]) => s + v, 0);
    expect(inserted).toBe(first);

    // The image's HEALTHCHECK command, run by podman in the container.
    const check = await podman(['healthcheck', 'run', name]);
    expect(check.code, `podman healthcheck run: ${check.stdout}${check.stderr}`).toBe(0);

    const running = await withAdmin(async (admin) => (await admin.describeGroups([group])).groups[0]!);
    expect(running.members).toHaveLength(1);

    await produce(topic, Array.from({ length: second }, (_, i) => event(first + i)), 3);
    // --network host: the host reaches the metrics port too.
    await waitFor('the last records to be buffered', async () => (await metricSum(port, 'sluice_records_consumed_total')) === first + second);
    expect(await scalar(client(), `SELECT count() FROM ${table}`)).toBe(first);

    ok(await podman(['stop', '--time', '45', name], 90_000), 'podman stop');
    const exit = ok(await podman(['inspect', '--format', '{{.State.ExitCode}}', name]), 'podman inspect').trim();
    const lines = await logs(name);
    expect(exit, lines.slice(-5).join('\n')).toBe('0');
    expect(events(lines).find((l) => l.event === 'sink.stopped')?.clean).toBe(true);

    expect(await scalar(client(), `SELECT count() FROM ${table}`)).toBe(first + second);
    expect(await scalar(client(), `SELECT uniqExact(id) FROM ${table}`)).toBe(first + second);
    const ends = await endOffsets(topic);
    expect(await committedByPartition(group, topic)).toEqual(ends);
    const stopped = await withAdmin(async (admin) => (await admin.describeGroups([group])).groups[0]!);
    expect(stopped.members).toHaveLength(0);
  });

  it('exits 2 with one line naming a mistyped SLUICE_* variable', async () => {
    image();
    const topic = randomName('container');
    const table = randomName('container');
    await createTopic(topic, 1);
    await client().command({ query: EVENTS_DDL(table) });
    const name = await startContainer({ ...sinkEnv(topic, table, randomName('g')), SLUICE_BATCH_MAX_ROW: '10' });
    const exit = ok(await podman(['wait', name], 90_000), 'podman wait').trim();
    const lines = await logs(name);
    expect(exit).toBe('2');
    expect(lines, lines.join('\n')).toHaveLength(1);
    expect(lines[0]).toMatch(/^sluice: configuration error: SLUICE_BATCH_MAX_ROW: unknown setting\b/);
  });
});
