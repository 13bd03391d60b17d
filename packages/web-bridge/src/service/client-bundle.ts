import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cached = new Map<string, string>();

/** What the single-file `cvmweb` embeds instead of files: the browser bundles by file name, and `version`. */
type EmbeddedAssets = Readonly<Record<string, string>>;

/**
 * Defined (as an object literal) only by the bundler of the single-file `cvmweb`
 * (packages/cli/scripts/build-sea.mjs), which has no `dist/` beside it to read.
 */
declare const __CVMWEB_EMBEDDED_BRIDGE_ASSETS__: EmbeddedAssets;

let embedded: EmbeddedAssets | null | undefined;

/** The embedded assets, or `null` in a normal install (the identifier is not defined there). */
function embeddedAssets(): EmbeddedAssets | null {
  if (embedded === undefined) {
    try {
      embedded = __CVMWEB_EMBEDDED_BRIDGE_ASSETS__;
    } catch {
      embedded = null;
    }
  }
  return embedded;
}

/** The package's root directory (the one holding its package.json). */
export function packageRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(directory, 'package.json'))) {
    const parent = dirname(directory);
    if (parent === directory) throw new Error('@cvmweb/web-bridge: package.json not found');
    directory = parent;
  }
  return directory;
}

/** The path of the classic-script client built by `tsup` (`dist/cvmweb.global.js`). */
export function clientBundlePath(): string {
  return join(packageRoot(), 'dist', 'cvmweb.global.js');
}

/** A browser bundle the build wrote into `dist/` (read once), or `undefined` before the package is built. */
function builtBundle(file: string): string | undefined {
  let text = embeddedAssets()?.[file] ?? cached.get(file);
  if (text === undefined) {
    try {
      text = readFileSync(join(packageRoot(), 'dist', file), 'utf8');
    } catch {
      return undefined;
    }
    cached.set(file, text);
  }
  return text;
}

/** The browser bundle served at `/cvmweb.js` (read once), or `undefined` before the package is built. */
export function clientBundle(): string | undefined {
  return builtBundle('cvmweb.global.js');
}

/** The console's ES module (noVNC) served at `/console.js` (read once), or `undefined` before the package is built. */
export function consoleBundle(): string | undefined {
  return builtBundle('console.js');
}

/** The test page's script served at `/test-page.js` (read once), or `undefined` before the package is built. */
export function testPageBundle(): string | undefined {
  return builtBundle('test-page.global.js');
}

let version: string | undefined;

/** This package's version (from its package.json), reported by `/info` and the hello frame. */
export function bridgeVersion(): string {
  version ??= embeddedAssets()?.['version'];
  if (version === undefined) {
    try {
      version = String(
        JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version ?? '0.0.0',
      );
    } catch {
      version = '0.0.0';
    }
  }
  return version;
}
