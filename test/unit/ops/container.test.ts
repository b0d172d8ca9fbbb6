/**
 * container: Dockerfile, .dockerignore and docker-compose.yml checked against
 * the sources they must agree with — package.json, the CI scripts,
 * scripts/image.sh and src/config.ts — so a drift fails here, without
 * building anything (test/integration/container.test.ts builds and runs it). The
 * files are read as text (no YAML parser is installed); the Dockerfile's
 * HEALTHCHECK command is also run for real against a local HTTP server.
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../../src/config.js';

const ROOT = new URL('../../../', import.meta.url).pathname;
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

const pkg = JSON.parse(read('package.json')) as {
  bin: Record<string, string>;
  engines: { node: string };
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const tsconfig = JSON.parse(read('tsconfig.json')) as { compilerOptions: { outDir: string; rootDir: string } };

// ---- Dockerfile ---------------------------------------------------------

interface Instruction {
  readonly op: string;
  readonly args: string;
}

/** Instructions in order: comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const lines = text.split('\n').filter((l) => !/^\s*#/.test(l));
  const joined = lines.join('\n').replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => {
      const [, op, args] = /^(\S+)\s*(.*)$/.exec(l)!;
      return { op: op!.toUpperCase(), args: args!.replace(/\s+/g, ' ').trim() };
    });
}

/** Stages split at FROM; the first instruction of each is its FROM. */
function stages(instructions: Instruction[]): Instruction[][] {
  const out: Instruction[][] = [];
  for (const i of instructions) {
    if (i.op === 'FROM') out.push([]);
    out.at(-1)?.push(i);
  }
  return out;
}

const dockerfile = parseDockerfile(read('Dockerfile'));
const [buildStage, runtimeStage, ...extraStages] = stages(dockerfile);
const runs = (stage: Instruction[]) => stage.filter((i) => i.op === 'RUN').map((i) => i.args);
const only = (stage: Instruction[], op: string) => {
  const found = stage.filter((i) => i.op === op);
  expect(found, `exactly one ${op}`).toHaveLength(1);
  return found[0]!.args;
};
/** `npm run [--flags] <script>` → `npm run <script>`. */
const npmRun = (cmd: string) => cmd.replace(/^npm run (?:--\S+ )*/, 'npm run ');

describe('Dockerfile', () => {
  it('has a build stage and a runtime stage on the same Node base (ARG NODE_IMAGE, default node:20-bookworm-slim), satisfying engines.node', () => {
    expect(buildStage).toBeDefined();
    expect(runtimeStage).toBeDefined();
    expect(extraStages).toEqual([]);
    // The only instruction before the first FROM: the base, overridable with
    // --build-arg (scripts/image.sh passes a local base when no registry answers).
    expect(dockerfile[0]).toEqual({ op: 'ARG', args: 'NODE_IMAGE=node:20-bookworm-slim' });
    expect(dockerfile[1]!.op).toBe('FROM');
    expect(buildStage![0]!.args).toBe('${NODE_IMAGE} AS build');
    expect(runtimeStage![0]!.args).toBe('${NODE_IMAGE}');
    const minMajor = Number(/^>=\s*(\d+)/.exec(pkg.engines.node)![1]);
    expect(20).toBeGreaterThanOrEqual(minMajor);
  });

  it('builds with exactly the commands CI uses, then drops the dev dependencies', () => {
    // .ci/run installs; scripts/test.sh (npm test) builds.
    const ciInstall = /^npm ci\b.*$/m.exec(read('.ci/run'))?.[0].trim();
    const testBuild = /^npm run (?:--\S+ )*build$/m.exec(read('scripts/test.sh'))?.[0].trim();
    expect(ciInstall, '.ci/run runs npm ci').toBeDefined();
    expect(testBuild, 'scripts/test.sh runs the build script').toBeDefined();
    expect(pkg.scripts.build).toBeDefined();

    const steps = runs(buildStage!);
    expect(steps).toEqual([ciInstall, npmRun(testBuild!), 'npm prune --omit=dev', 'rm -rf node_modules/.bin node_modules/@types node_modules/undici-types']);
  });

  it('copies into the build stage what the build reads, and nothing the .dockerignore drops', () => {
    const copied = buildStage!.filter((i) => i.op === 'COPY').flatMap((i) => i.args.split(' ').slice(0, -1));
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'patches', 'tsconfig.json', tsconfig.compilerOptions.rootDir]));
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const path of copied) expect(ignored, `${path} is ignored but copied`).not.toContain(path);
  });

  it('copies patches/ before npm ci (its postinstall applies them), and the folder always exists', () => {
    const copyPatches = buildStage!.findIndex((i) => i.op === 'COPY' && i.args === 'patches ./patches');
    const install = buildStage!.findIndex((i) => i.op === 'RUN' && /^npm ci\b/.test(i.args));
    expect(copyPatches, 'COPY patches ./patches').toBeGreaterThan(0);
    expect(copyPatches).toBeLessThan(install);
    expect(statSync(join(ROOT, 'patches')).isDirectory()).toBe(true);
  });

  it('runtime stage: only dist/, production node_modules and package.json, as a non-root user, NODE_ENV=production', () => {
    const copies = runtimeStage!.filter((i) => i.op === 'COPY').map((i) => i.args.split(' '));
    for (const c of copies) expect(c[0], 'runtime copies come from the build stage').toBe('--from=build');
    const sources = copies.map((c) => c[1]!.replace(/^\/app\//, ''));
    expect(sources.sort()).toEqual([tsconfig.compilerOptions.outDir, 'node_modules', 'package.json'].sort());

    const user = only(runtimeStage!, 'USER');
    expect(['root', '0', '0:0']).not.toContain(user);
    expect(user).toBe('node');
    // USER comes before what it is meant to cover.
    const index = (op: string) => runtimeStage!.findIndex((i) => i.op === op);
    expect(index('USER')).toBeLessThan(index('ENTRYPOINT'));
    expect(index('USER')).toBeLessThan(index('HEALTHCHECK'));

    expect(runtimeStage!.filter((i) => i.op === 'ENV').map((i) => i.args)).toEqual(['NODE_ENV=production']);
  });

  it('sets no SLUICE_* variable: configuration comes only from the environment at run time', () => {
    for (const i of dockerfile.filter((i) => i.op === 'ENV' || i.op === 'ARG')) expect(i.args).not.toMatch(/SLUICE_/);
  });

  it('ENTRYPOINT runs the package bin (dist/cli/index.js) and CMD is `run`', () => {
    const bin = pkg.bin.sluice!;
    expect(bin).toBe(`${tsconfig.compilerOptions.outDir}/cli/index.js`);
    expect(JSON.parse(only(runtimeStage!, 'ENTRYPOINT'))).toEqual(['node', bin]);
    expect(JSON.parse(only(runtimeStage!, 'CMD'))).toEqual(['run']);
    expect(read('src/cli/index.ts')).toContain("case 'run':");
  });

  it('EXPOSE and HEALTHCHECK use SLUICE_METRICS_PORT with the default from src/config.ts', () => {
    const port = SETTINGS.SLUICE_METRICS_PORT!.default;
    expect(only(runtimeStage!, 'EXPOSE')).toBe(port);
    const script = healthcheckScript();
    expect(script).toContain('/healthz');
    expect(script).toContain(`(process.env.SLUICE_METRICS_PORT||${port})`);
  });

  it('HEALTHCHECK exits 0 on a 200 from /healthz, 1 on a 503 and when nothing listens', async () => {
    let status = 200;
    const server = http.createServer((req, res) => {
      res.writeHead(req.url === '/healthz' ? status : 404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      expect(await runHealthcheck(port)).toBe(0);
      status = 503;
      expect(await runHealthcheck(port)).toBe(1);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    expect(await runHealthcheck(port)).toBe(1);
  });
});

/** The `node -e` script of the exec-form HEALTHCHECK CMD. */
function healthcheckScript(): string {
  const args = only(runtimeStage!, 'HEALTHCHECK');
  const exec = /\bCMD (\[.*\])$/.exec(args);
  expect(exec, 'HEALTHCHECK uses the exec form').not.toBeNull();
  const argv = JSON.parse(exec![1]!) as string[];
  expect(argv.slice(0, 2)).toEqual(['node', '-e']);
  return argv[2]!;
}

function runHealthcheck(port: number): Promise<number> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['-e', healthcheckScript()], { env: { ...process.env, SLUICE_METRICS_PORT: String(port) }, timeout: 15_000 }, (err) =>
      resolve(err ? (typeof err.code === 'number' ? err.code : -1) : 0),
    );
  });
}

describe('.dockerignore', () => {
  it('keeps local installs, builds, service data, history and tests out of the build context', () => {
    const patterns = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(patterns).toEqual(expect.arrayContaining(['node_modules', '.local', 'dist', '.git', 'test', 'bench/results']));
  });
});

// ---- patched dependencies ------------------------------------------------

describe('patches/ (patch-package)', () => {
  const patches = readdirSync(join(ROOT, 'patches')).filter((f) => f.endsWith('.patch'));

  it('every install applies them and fails loudly when one does not apply or no longer matches its version', () => {
    expect(pkg.scripts.postinstall).toBe('patch-package --error-on-fail --error-on-warn');
    // A production-only install (npm ci --omit=dev) runs postinstall too.
    expect(pkg.dependencies['patch-package']).toBeDefined();
    expect(pkg.devDependencies['patch-package']).toBeUndefined();
    expect((pkg as unknown as { files: string[] }).files).toContain('patches');
  });

  it('each patch is named for the exact version package.json pins and node_modules holds', () => {
    expect(patches.length).toBeGreaterThan(0);
    for (const file of patches) {
      // patch-package names a patch <name>+<version>.patch, `@scope+name` for a scoped package.
      const [, fileName, version] = /^(.+)\+(\d+\.\d+\.\d+)\.patch$/.exec(file) ?? [];
      expect(fileName, file).toBeDefined();
      const name = fileName!.startsWith('@') ? fileName!.replace('+', '/') : fileName!;
      expect(pkg.dependencies[name], `${name} is pinned to ${version}`).toBe(version);
      const installed = JSON.parse(read(`node_modules/${name}/package.json`)) as { version: string };
      expect(installed.version, `installed ${name}`).toBe(version);
    }
  });
});

// ---- docker-compose.yml --------------------------------------------------

interface Block {
  readonly header: string;
  readonly body: string[];
}

/** Keys at exactly `indent` spaces in `lines`, each with the more-indented lines under it. */
function blocks(lines: string[], indent: number): Map<string, Block> {
  const out = new Map<string, Block>();
  const key = new RegExp(`^ {${indent}}([A-Za-z0-9._-]+):(.*)$`);
  let current: Block | undefined;
  for (const line of lines) {
    const m = key.exec(line);
    if (m) {
      current = { header: m[2]!, body: [] };
      out.set(m[1]!, current);
    } else if (current && (line.trim() === '' || line.trim().startsWith('#') || line.startsWith(' '.repeat(indent + 1)))) {
      current.body.push(line);
    } else {
      current = undefined;
    }
  }
  return out;
}

const compose = read('docker-compose.yml');
const top = blocks(compose.split('\n'), 0);
const services = blocks(top.get('services')?.body ?? [], 2);

/** A service's lines with `<<: *anchor` merges resolved from top-level `x-…: &anchor` blocks. */
function serviceLines(name: string): string[] {
  const body = services.get(name)?.body ?? [];
  const merged: string[] = [];
  for (const line of body) {
    const ref = /^\s*<<:\s*\*([\w-]+)\s*$/.exec(line);
    if (!ref) continue;
    const anchored = [...top.values()].find((b) => new RegExp(`&${ref[1]}\\b`).test(b.header));
    expect(anchored, `anchor &${ref[1]} exists`).toBeDefined();
    merged.push(...anchored!.body);
  }
  return [...merged, ...body];
}

/** Compose duration (`45s`, `1m30s`, `1500ms`) in milliseconds. */
function durationMs(text: string): number {
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001 };
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|us|h|m|s)/g)];
  expect(parts.map((p) => p[0]).join(''), `"${text}" is a duration`).toBe(text);
  return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2]!]!, 0);
}

/** `KEY: value` of a service's environment, quotes and trailing comments removed. */
function environment(lines: string[]): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of lines) {
    const m = /^\s+(SLUICE_[A-Z0-9_]+):\s*("([^"]*)"|(\S+))/.exec(line);
    if (m) env.set(m[1]!, m[3] ?? m[4]!);
  }
  return env;
}

const sluiceServices = [...services.keys()].filter((s) => serviceLines(s).some((l) => /^\s+build:/.test(l)));

describe('docker-compose.yml', () => {
  it('has kafka, clickhouse and two sluice replicas built from this Dockerfile', () => {
    expect([...services.keys()]).toEqual(expect.arrayContaining(['kafka', 'clickhouse', 'sluice-1', 'sluice-2']));
    expect(sluiceServices.sort()).toEqual(['sluice-1', 'sluice-2']);
  });

  it('runs the image scripts/image.sh builds, health-checked by the image\'s own HEALTHCHECK', () => {
    const tag = /^IMAGE="\$\{IMAGE:-([^}]+)\}"$/m.exec(read('scripts/image.sh'))?.[1];
    expect(tag, 'scripts/image.sh names its default tag').toBeDefined();
    for (const s of sluiceServices) {
      const lines = serviceLines(s);
      const image = lines.map((l) => /^\s+image:\s*(\S+)/.exec(l)?.[1]).filter(Boolean);
      expect(image, `${s}: image`).toEqual([tag]);
      expect(lines.some((l) => /^\s+healthcheck:/.test(l)), `${s} must not override the image's HEALTHCHECK`).toBe(false);
    }
  });

  it('uses only SLUICE_* names that src/config.ts accepts (unknown ones stop start-up)', () => {
    const used = [...new Set(compose.match(/SLUICE_[A-Z0-9_]+/g) ?? [])];
    expect(used.length).toBeGreaterThan(0);
    for (const name of used) expect(Object.keys(SETTINGS), `${name} is not a setting`).toContain(name);
  });

  it('gives each replica the required settings, the same group, init and a stop grace above SLUICE_SHUTDOWN_TIMEOUT_MS', () => {
    const shutdownMs = Number(SETTINGS.SLUICE_SHUTDOWN_TIMEOUT_MS!.default);
    const required = Object.entries(SETTINGS)
      .filter(([, s]) => s.doc.startsWith('Required'))
      .map(([k]) => k);
    expect(required).toEqual(expect.arrayContaining(['SLUICE_TOPICS', 'SLUICE_TABLE']));
    const envs = sluiceServices.map((s) => environment(serviceLines(s)));
    for (const [i, s] of sluiceServices.entries()) {
      const lines = serviceLines(s);
      for (const k of required) expect(envs[i]!.get(k), `${s}: ${k}`).toBeTruthy();
      expect(envs[i]).toEqual(envs[0]);
      expect(lines.some((l) => /^\s+init:\s*true\b/.test(l)), `${s}: init: true`).toBe(true);
      const grace = lines.map((l) => /^\s+stop_grace_period:\s*(\S+)/.exec(l)?.[1]).filter(Boolean);
      expect(grace, `${s}: stop_grace_period`).toHaveLength(1);
      expect(durationMs(grace[0]!)).toBeGreaterThan(shutdownMs);
    }
  });

  it('publishes each replica\'s metrics port (the default, since compose does not set it) on its own host port', () => {
    const port = SETTINGS.SLUICE_METRICS_PORT!.default;
    expect(compose).not.toMatch(/SLUICE_METRICS_PORT/);
    const hostPorts = sluiceServices.map((s) => {
      const line = serviceLines(s).find((l) => /^\s+ports:/.test(l)) ?? '';
      const m = /"(?:[\d.]+:)?(\d+):(\d+)"/.exec(line);
      expect(m, `${s}: ports`).not.toBeNull();
      expect(m![2]).toBe(port);
      return m![1];
    });
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
  });

  it('creates the topics and the table the replicas are pointed at', () => {
    const env = environment(serviceLines(sluiceServices[0]!));
    for (const topic of env.get('SLUICE_TOPICS')!.split(',')) expect(compose).toMatch(new RegExp(`--create --if-not-exists --topic ${topic} `));
    const mount = /^\s+- \.\/(docker\/[\w.-]+\.sql):\/docker-entrypoint-initdb\.d\//m.exec(compose);
    expect(mount, 'clickhouse mounts an init SQL file').not.toBeNull();
    expect(read(mount![1]!)).toMatch(new RegExp(`CREATE TABLE IF NOT EXISTS default\\.${env.get('SLUICE_TABLE')}\\b`));
  });
});

// ---- runtime dependencies --------------------------------------------------

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = `${dir}/${name}`;
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Module specifiers a compiled file still imports at run time (`import type` is erased). */
function runtimeImports(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/\b(?:import|export)\s+(type\s+)?[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/g)) if (!m[1]) found.push(m[2]!);
  for (const m of text.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]!);
  for (const m of text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) found.push(m[1]!);
  return found;
}

const packageName = (specifier: string) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
const isBuiltin = (specifier: string) => specifier.startsWith('node:') || builtinModules.includes(packageName(specifier));

describe('runtime image dependencies', () => {
  it('the import scan sees value imports across lines, dynamic imports and re-exports, and skips type-only ones', () => {
    const text = [
      "import type { Foo } from 'types-only';",
      "import {\n  a,\n  type B,\n} from '@scope/pkg/sub';",
      "import Default, { c } from \"dq\";",
      "export * from 'reexported';",
      "const m = await import('lazy');",
      "import 'side-effect';",
      "import { x } from './local.js';",
    ].join('\n');
    expect(runtimeImports(text).sort()).toEqual(['./local.js', '@scope/pkg/sub', 'dq', 'lazy', 'reexported', 'side-effect']);
    expect(packageName('@scope/pkg/sub')).toBe('@scope/pkg');
    expect(isBuiltin('node:fs') && isBuiltin('fs') && !isBuiltin('kafkajs')).toBe(true);
  });

  it('src/ imports only packages in dependencies (the runtime stage has no devDependencies)', () => {
    const packages = new Map<string, string[]>();
    for (const file of sources('src')) {
      for (const spec of runtimeImports(read(file))) {
        if (spec.startsWith('.') || isBuiltin(spec)) continue;
        const name = packageName(spec);
        packages.set(name, [...(packages.get(name) ?? []), file]);
      }
    }
    // The scan must see the sink's real dependencies, or it proves nothing.
    expect([...packages.keys()]).toEqual(expect.arrayContaining(['kafkajs', '@clickhouse/client', 'prom-client']));
    const missing = [...packages].filter(([name]) => !(name in pkg.dependencies)).map(([name, files]) => `${name} (${[...new Set(files)].join(', ')})`);
    expect(missing, 'imported by src/ but not in dependencies').toEqual([]);
  });
});
