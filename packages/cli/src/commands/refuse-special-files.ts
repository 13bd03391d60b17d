import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { HypervisorError } from '@cvmweb/core';

/**
 * Refuses to go on when one of `names` in `stateDir` exists but is not a regular file (a FIFO, a
 * socket, a device, a directory), before anything opens it: reading a FIFO would hang the command.
 * Missing files are fine.
 *
 * @throws HypervisorError `INVALID_USAGE` (details `{ path }`) naming the file and what it is.
 */
export async function refuseSpecialFiles(stateDir: string, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const path = join(stateDir, name);
    const info = await stat(path).catch(() => undefined);
    if (!info || info.isFile()) continue;
    const what = info.isDirectory() ? 'a directory' : info.isFIFO() ? 'a FIFO' : 'a special file';
    throw new HypervisorError('INVALID_USAGE', `${path} is ${what}, not a file: move it away or delete it`, {
      details: { path },
    });
  }
}
