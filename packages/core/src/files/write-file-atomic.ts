import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { abortedError } from '../errors/hypervisor-error.js';

/** Options of {@link writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /** File mode of a new file (default 0o644). */
  mode?: number;
  /**
   * Flush the file, and the directory after the rename, to disk (default `true`). Without it a
   * power loss may lose the write, but a crash of the process still never tears the file.
   */
  durable?: boolean;
  /** Cancels the write; the old file stays. */
  signal?: AbortSignal;
}

/**
 * Writes `data` to `path` so that a reader (or a crash) sees either the old
 * file or the complete new one, never a torn one: the bytes go to a temporary
 * file beside `path`, are flushed to disk when durable, and the temporary file
 * is renamed over `path`. Rejects with the file system's error (callers wrap it
 * with their own context); the temporary file is removed on failure.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const { mode = 0o644, durable = true, signal } = options;
  if (signal?.aborted) throw abortedError(`writing ${path}`, signal.reason);
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const handle = await open(temporary, 'wx', mode);
    try {
      await handle.writeFile(data, signal ? { signal } : {});
      if (durable) await handle.sync();
    } finally {
      await handle.close();
    }
    if (signal?.aborted) throw abortedError(`writing ${path}`, signal.reason);
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  if (durable) await syncDirectory(dirname(path));
}

/** fsyncs a directory so a rename or unlink in it is durable. Platforms that cannot (Windows) are skipped. */
export async function syncDirectory(directory: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(directory, 'r');
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw error;
  } finally {
    await handle?.close();
  }
}
