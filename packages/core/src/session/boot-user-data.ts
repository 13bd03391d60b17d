import { join } from 'node:path';
import { isErrno } from '../files/is-errno.js';
import { readRegularFile } from '../files/read-regular-file.js';
import { writeFileAtomic } from '../files/write-file-atomic.js';

/** The file in a VM's directory holding the expanded user data of its last boot. */
export const BOOT_USER_DATA_FILE_NAME = 'user-data';

/**
 * Keeps the expanded user data of a boot beside its context medium in the VM's own directory
 * (mode 0600 in a 0700 directory), so the VM can be started again with it (the daemon's
 * `DF_AUTOSTART`) without the session registry ever holding expanded placeholders. The medium
 * holds the same text anyway, for as long as the VM exists; `close()` removes both.
 * @internal
 */
export async function keepBootUserData(
  directory: string,
  userData: string,
  signal?: AbortSignal,
): Promise<void> {
  await writeFileAtomic(join(directory, BOOT_USER_DATA_FILE_NAME), userData, {
    mode: 0o600,
    ...(signal ? { signal } : {}),
  });
}

/** The user data {@link keepBootUserData} kept in `directory`, or `undefined` when there is none. @internal */
export async function readBootUserData(directory: string, signal?: AbortSignal): Promise<string | undefined> {
  try {
    const read = await readRegularFile(join(directory, BOOT_USER_DATA_FILE_NAME), {
      followLinks: false,
      ...(signal ? { signal } : {}),
    });
    return read.kind === 'file' ? read.text : undefined;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw error;
  }
}
