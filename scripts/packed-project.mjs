// A project outside the workspace that installs our packages as npm users get them: every
// publishable package (packages/*) packed once with `npm pack`, its tarballs installed next to
// what the caller asks for from the npm registry. Shared by scripts/test-guide.mjs and
// scripts/test-packed.mjs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Runs a command; throws with its output when it fails.
 * @param {string} command
 * @param {string[]} args
 * @param {import('node:child_process').SpawnSyncOptions} [options]
 * @returns {string} its standard output
 */
export function run(command, args, options) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.status !== 0) {
    process.stdout.write(result.stdout ?? '');
    process.stderr.write(result.stderr ?? '');
    throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
  }
  return String(result.stdout ?? '');
}

/**
 * The environment of a user's shell: no npm settings of the workspace's `npm run`, no workspace
 * or node_modules bin on PATH, LC_ALL=C.
 * @returns {NodeJS.ProcessEnv}
 */
export function cleanEnv() {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  env.PATH = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((entry) => !entry.startsWith(ROOT) && !entry.includes(`${sep}node_modules${sep}`))
    .join(delimiter);
  env.LC_ALL = 'C';
  return env;
}

/**
 * A new directory in the system's temporary directory, never inside the repository (so nothing
 * there resolves through the workspace).
 * @param {string} prefix
 */
export function temporaryDirectory(prefix) {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  if (!relative(realpathSync(ROOT), dir).startsWith(`..${sep}`)) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`the temporary directory ${dir} is inside the repository`);
  }
  return dir;
}

/** The version of a package the repository itself installs (to test with the same one). */
export function repositoryVersion(/** @type {string} */ name) {
  const require = createRequire(join(ROOT, 'package.json'));
  return JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;
}

/**
 * Packs every publishable package once, as `npm publish` would, into `<dir>/tarballs`.
 * @param {string} dir
 * @param {NodeJS.ProcessEnv} env
 * @returns {{ name: string, tarball: string }[]}
 */
export function packWorkspaces(dir, env) {
  const tarballs = join(dir, 'tarballs');
  mkdirSync(tarballs, { recursive: true });
  const packed = JSON.parse(
    run('npm', ['pack', '--workspaces', '--json', '--pack-destination', tarballs], { cwd: ROOT, env }),
  );
  return packed.map((/** @type {{ name: string, filename: string }} */ p) => ({
    name: p.name,
    tarball: join(tarballs, p.filename),
  }));
}

/**
 * A fresh project `<dir>/<name>` (ESM) that installs the tarballs and `registry` (name → version)
 * from the npm registry as devDependencies.
 * @param {{ dir: string, name: string, env: NodeJS.ProcessEnv, packed: { name: string, tarball: string }[], registry: Record<string, string> }} options
 * @returns {string} the project's directory
 */
export function installProject({ dir, name, env, packed, registry }) {
  const project = join(dir, name);
  mkdirSync(project);
  const ours = Object.fromEntries(packed.map((p) => [p.name, `file:${p.tarball}`]));
  writeFileSync(
    join(project, 'package.json'),
    `${JSON.stringify({ name, private: true, type: 'module', devDependencies: { ...ours, ...registry } }, null, 2)}\n`,
  );
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: project,
    env,
  });
  return project;
}
