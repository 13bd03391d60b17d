import type { Stats } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { toHypervisorError } from '../errors/hypervisor-error.js';

// The file system calls of the image cache, with its error mapping.

/** `stat()` of `path`, or `undefined` when it cannot be read. */
export async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

/** The names in `path`; none when it does not exist; `IO` otherwise. */
export async function listDirectory(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw toHypervisorError(error, 'IO', `Reading ${path} failed`, { path });
  }
}

/** Removes `path` if it exists; `IO` when it cannot be removed. */
export async function removeFile(path: string): Promise<void> {
  try {
    await rm(path, { force: true });
  } catch (error) {
    throw toHypervisorError(error, 'IO', `Removing ${path} failed`, { path });
  }
}
