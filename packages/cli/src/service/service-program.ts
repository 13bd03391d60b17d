import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HypervisorError } from '@cvmweb/core';

/** True when this process is a Node single executable application (`node:sea`, Node ≥ 20.12). */
export function isSingleExecutable(): boolean {
  try {
    // getBuiltinModule (Node ≥ 20.16) works in an ES module and in the CommonJS bundle of a SEA
    // alike; before it, a SEA's CommonJS bundle still has `require` (an ES module has none).
    const load =
      (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule ??
      (typeof require === 'function' ? require : undefined);
    const sea = load?.('node:sea') as { isSea?: () => boolean } | undefined;
    return sea?.isSea?.() === true;
  } catch {
    return false;
  }
}

/**
 * The absolute program and leading arguments a login service runs for `cvmweb`: the single
 * executable itself when this is one, otherwise the Node binary and the CLI's `bin.js` beside this
 * module (symbolic links resolved). A `bin.js` in npx's cache (`_npx`) is refused: npm deletes that
 * cache, and the service would then fail at every login.
 */
export function cvmwebProgram(moduleUrl: string = import.meta.url): string[] {
  if (isSingleExecutable()) return [process.execPath];
  const bin = join(dirname(fileURLToPath(moduleUrl)), 'bin.js');
  if (!existsSync(bin)) {
    throw new HypervisorError('NOT_FOUND', `cannot find the cvmweb command (${bin})`, {
      details: { field: 'bin' },
    });
  }
  const real = realpathSync(bin);
  if (/[\\/]_npx[\\/]/.test(real)) {
    throw new HypervisorError(
      'INVALID_USAGE',
      'cvmweb runs from npx\'s cache, which npm may delete: install it first ("npm install --global @cvmweb/cli"), then run "cvmweb service install"',
      { details: { cli: true, field: 'bin', bin: real } },
    );
  }
  return [process.execPath, real];
}
