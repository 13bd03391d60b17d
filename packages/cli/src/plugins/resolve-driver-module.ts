import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, parse, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HypervisorError } from '@cvmweb/core';
import { globalNodeModules } from './global-node-modules.js';

/** Options of {@link resolveDriverModule}. */
export interface ResolveDriverModuleOptions {
  /** Where a relative path starts. */
  baseDir: string;
  /** The working directory: package names are looked up in its `node_modules` and its parents' first. */
  cwd: string;
  /** The environment (`npm_config_prefix` / `NPM_CONFIG_PREFIX` move the global `node_modules`). */
  env: NodeJS.ProcessEnv;
  /** Further `node_modules` directories to search after the working directory's (default: cvmweb's own, then npm's global one). */
  globalDirs?: readonly string[];
}

/** Conditions of a package's `exports` that an `import()` in Node.js honours. */
const CONDITIONS = new Set(['import', 'node', 'default']);

/**
 * The file a driver module specifier names, for `import()`:
 *
 * - an absolute path or a `file:` URL, as is; a relative path (`./`, `../`) from `baseDir`;
 *   a directory is read as a package (its `package.json`);
 * - a package name, with an optional subpath (`@example/cvmweb-driver-qemu`,
 *   `cvmweb-driver-acme/driver`): looked up in the `node_modules` of the working directory and
 *   of each of its parents, then in the global ones — the `node_modules` cvmweb itself is
 *   installed in and npm's global directory ({@link globalNodeModules}). The package's
 *   `exports` (conditions `import`, `node`, `default`; no `*` patterns), else its `main`,
 *   else `index.js`, names the file.
 *
 * @throws {HypervisorError} `NOT_FOUND` (-9) when nothing is there (details: `specifier`, and
 *   `searched`, the `node_modules` directories looked in, for a package name); `NOT_VALIDATED`
 *   (-12) when the package is there but names no file to import (a broken `package.json`, an
 *   `exports` without an `import` entry, a missing `main` file).
 */
export function resolveDriverModule(specifier: string, options: ResolveDriverModuleOptions): string {
  if (specifier.startsWith('file:')) return fileTarget(filePath(specifier), specifier);
  if (isPathSpecifier(specifier)) return fileTarget(resolve(options.baseDir, specifier), specifier);
  const { name, subpath } = splitPackageSpecifier(specifier);
  const searched = [
    ...nodeModulesChain(options.cwd),
    ...(options.globalDirs ?? defaultGlobalDirs(options.env)),
  ].filter((dir, i, all) => all.indexOf(dir) === i);
  for (const dir of searched) {
    const packageDir = join(dir, name);
    if (existsSync(join(packageDir, 'package.json'))) return packageEntry(packageDir, subpath, specifier);
  }
  throw new HypervisorError(
    'NOT_FOUND',
    `Driver module ${specifier} is not installed in the working directory or globally`,
    { details: { specifier, searched } },
  );
}

function filePath(url: string): string {
  try {
    return fileURLToPath(url);
  } catch (error) {
    throw new HypervisorError('NOT_FOUND', `Driver module ${url} is not a valid file: URL`, {
      details: { specifier: url },
      cause: error,
    });
  }
}

/** True when `specifier` is a path or a `file:` URL rather than a package name. */
export function isPathSpecifier(specifier: string): boolean {
  return (
    specifier.startsWith('file:') ||
    isAbsolute(specifier) ||
    specifier === '.' ||
    specifier === '..' ||
    /^\.\.?[\\/]/.test(specifier)
  );
}

/** Where cvmweb is installed (its own `node_modules` chain), then npm's global `node_modules`. */
function defaultGlobalDirs(env: NodeJS.ProcessEnv): string[] {
  return [...nodeModulesChain(dirname(fileURLToPath(import.meta.url))), globalNodeModules(env)];
}

/** `<dir>/node_modules` for `dir` and each of its parents, as Node.js looks packages up. */
function nodeModulesChain(start: string): string[] {
  const dirs: string[] = [];
  let dir = resolve(start);
  const { root } = parse(dir);
  for (;;) {
    if (parse(dir).base !== 'node_modules') dirs.push(join(dir, 'node_modules'));
    if (dir === root) return dirs;
    dir = dirname(dir);
  }
}

/** The package name of a package specifier: `@scope/name` or `name`, without a subpath. */
export function packageNameOf(specifier: string): string {
  return specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');
}

function splitPackageSpecifier(specifier: string): { name: string; subpath: string } {
  const name = packageNameOf(specifier);
  const rest = specifier.slice(name.length);
  const parts = rest.split('/').slice(1);
  if ((specifier.startsWith('@') && !name.includes('/')) || parts.some((part) => part === '')) {
    throw new HypervisorError('NOT_FOUND', `Driver module ${specifier} is not a valid package name or path`, {
      details: { specifier },
    });
  }
  return { name, subpath: parts.length > 0 ? `./${parts.join('/')}` : '.' };
}

/** A path: a file as is, a directory as a package. */
function fileTarget(path: string, specifier: string): string {
  const stats = statSync(path, { throwIfNoEntry: false });
  if (stats?.isDirectory()) return packageEntry(path, '.', specifier);
  if (stats?.isFile()) return path;
  throw new HypervisorError('NOT_FOUND', `Driver module ${specifier} does not exist (${path})`, {
    details: { specifier, path },
  });
}

/** The file a package's `exports`, `main` or `index.js` names for `subpath` (`.` or `./…`). */
function packageEntry(packageDir: string, subpath: string, specifier: string): string {
  const manifest = readManifest(packageDir);
  let target: string | undefined;
  if (manifest?.['exports'] !== undefined && manifest['exports'] !== null) {
    target = exportsTarget(manifest['exports'], subpath);
    if (target === undefined) {
      throw new HypervisorError(
        'NOT_VALIDATED',
        `Driver module ${specifier}: the package does not export ${subpath === '.' ? 'its main entry' : subpath} for import()`,
        { details: { specifier, packageDir } },
      );
    }
  } else {
    const main = typeof manifest?.['main'] === 'string' ? manifest['main'] : undefined;
    target = subpath === '.' ? (main ?? 'index.js') : subpath;
  }
  const path = resolve(packageDir, target);
  for (const candidate of [path, `${path}.js`, join(path, 'index.js')]) {
    if (statSync(candidate, { throwIfNoEntry: false })?.isFile()) return candidate;
  }
  throw new HypervisorError('NOT_VALIDATED', `Driver module ${specifier}: ${path} does not exist`, {
    details: { specifier, path },
  });
}

function readManifest(packageDir: string): Record<string, unknown> | undefined {
  let text: string;
  try {
    text = readFileSync(join(packageDir, 'package.json'), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const manifest: unknown = JSON.parse(text);
    return typeof manifest === 'object' && manifest !== null
      ? (manifest as Record<string, unknown>)
      : undefined;
  } catch (error) {
    throw new HypervisorError('NOT_VALIDATED', `${join(packageDir, 'package.json')} is not valid JSON`, {
      details: { packageDir },
      cause: error,
    });
  }
}

/** The target of `subpath` in a package's `exports` field, for an `import()` in Node.js. */
function exportsTarget(exports: unknown, subpath: string): string | undefined {
  const isSubpathMap =
    typeof exports === 'object' &&
    exports !== null &&
    !Array.isArray(exports) &&
    Object.keys(exports).some((key) => key.startsWith('.'));
  if (!isSubpathMap) return subpath === '.' ? conditionalTarget(exports) : undefined;
  return conditionalTarget((exports as Record<string, unknown>)[subpath]);
}

function conditionalTarget(target: unknown): string | undefined {
  if (typeof target === 'string') return target.startsWith('./') ? target : undefined;
  if (Array.isArray(target)) {
    for (const entry of target) {
      const found = conditionalTarget(entry);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof target !== 'object' || target === null) return undefined;
  for (const [condition, value] of Object.entries(target)) {
    if (!CONDITIONS.has(condition)) continue;
    const found = conditionalTarget(value);
    if (found !== undefined) return found;
  }
  return undefined;
}
