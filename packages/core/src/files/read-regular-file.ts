import { constants, type Stats } from 'node:fs';
import { lstat, open, stat } from 'node:fs/promises';
import { abortedError } from '../errors/hypervisor-error.js';

/** Options of {@link readRegularFile}. */
export interface ReadRegularFileOptions {
  /** Follow a symbolic link at `path` (default `true`); `false` reports the link as special. */
  followLinks?: boolean;
  /** Refuse (as `too-large`) a file longer than this many bytes (default 64 MiB). */
  maxBytes?: number;
  /** Cancels the read: rejects with the aborted error (`CONTROL`, `aborted: true`). */
  signal?: AbortSignal;
}

/** What {@link readRegularFile} found at a path. */
export type RegularFileRead =
  | {
      /** A regular file, read. */
      readonly kind: 'file';
      /** Its content. */
      readonly text: string;
    }
  | {
      /** Not a regular file; not read. */
      readonly kind: 'special';
      /** What it is instead: "a FIFO", "a directory", … */
      readonly what: string;
    }
  | {
      /** A regular file above the size limit; not read. */
      readonly kind: 'too-large';
      /** Its size in bytes. */
      readonly size: number;
    };

/**
 * Reads `path` as UTF-8 text only if it is a regular file, without ever blocking: a FIFO, socket,
 * device or directory (or a symbolic link, when `followLinks` is false) is reported as `special`
 * (`what`: "a FIFO", "a directory", …) and never read; the file is opened non-blocking and checked
 * again through its handle, so a file swapped for a FIFO in between cannot hang the caller either.
 * Rejects with the file system's error otherwise (`ENOENT` for a missing file), or the aborted
 * error when `signal` fires.
 */
export async function readRegularFile(
  path: string,
  options: ReadRegularFileOptions = {},
): Promise<RegularFileRead> {
  const { followLinks = true, maxBytes = 64 * 1024 * 1024, signal } = options;
  if (signal?.aborted) throw abortedError(`reading ${path}`, signal.reason);
  const first = followLinks ? await stat(path) : await lstat(path);
  if (!first.isFile()) return { kind: 'special', what: describeFileType(first) };
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | (followLinks ? 0 : constants.O_NOFOLLOW);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, flags);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP')
      return { kind: 'special', what: 'a symbolic link' };
    throw error;
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) return { kind: 'special', what: describeFileType(info) };
    if (info.size > maxBytes) return { kind: 'too-large', size: info.size };
    return { kind: 'file', text: await handle.readFile(signal ? { encoding: 'utf8', signal } : 'utf8') };
  } finally {
    await handle.close();
  }
}

/** "a directory", "a FIFO", "a socket", "a symbolic link", "a device or special file". */
function describeFileType(info: Stats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  if (info.isSymbolicLink()) return 'a symbolic link';
  return 'a device or special file';
}
