import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock } from '../clock/clock.js';
import { HypervisorError, toHypervisorError } from '../errors/hypervisor-error.js';
import { isErrno } from '../files/is-errno.js';
import { syncDirectory } from '../files/write-file-atomic.js';
import { isProcessAlive } from '../process/is-process-alive.js';

/** The content of `registry.lock` (and of a takeover marker): who holds it. */
export interface LockContent {
  /** The holder's process id. */
  readonly pid: number;
  /** When the holder took it, ms since the epoch. */
  readonly startedAt: number;
  /** Random, so no two locks ever have the same content. */
  readonly nonce: string;
}

/** The lock file's name in the registry directory. */
export const LOCK_FILE = 'registry.lock';
/** A lock file that cannot be parsed (an older version's, being written) is busy this long, then stale. */
const UNREADABLE_LOCK_GRACE_MS = 5_000;
/** How often, and how long apart, a process retries while another one takes over a stale lock. */
const TAKEOVER_RETRIES = 50;
const TAKEOVER_RETRY_MS = 10;
/** Markers of takeovers of takeovers (each left by a process that died mid-takeover) followed at most. */
const MAX_BREAK_DEPTH = 4;

/** What is at a lock path now. @internal */
export type Observed =
  | { state: 'gone' }
  | { state: 'held'; holder: LockContent | undefined; key: string; ageMs: number };

/**
 * Takes `<directory>/registry.lock`, taking over a stale one atomically, so that of any number of
 * processes starting at once exactly one holds the lock.
 *
 * - The lock's content is written completely to a private temporary file first and then
 *   hard-linked to `registry.lock`; `link` fails if the name exists, so creating is exclusive
 *   and a lock file is never seen empty or half-written.
 * - A lock is stale when its process is gone (or it is unreadable and older than 5 s). To remove
 *   a stale lock, a process must first create the marker `registry.lock.break-<key>`, where
 *   `<key>` identifies that very lock file (a hash of its content, inode and mtime); then, holding
 *   the marker, it removes `registry.lock` only if it is still that same file. Only one process
 *   can hold the marker of one stale lock, and no other process removes a lock it did not see
 *   stale, so two processes can never both remove a stale lock and each create their own. A marker
 *   left by a process that died mid-takeover is itself taken over the same way.
 * - A failed attempt (busy, full disk, …) leaves no file behind.
 *
 * @throws HypervisorError `STILL_WORKING` (details `{ pid, directory }`) while another live
 *   process holds the lock, `IO` when the lock cannot be written or read.
 * @internal
 */
export async function acquireLock(directory: string, durable: boolean): Promise<LockContent> {
  const file = join(directory, LOCK_FILE);
  const mine: LockContent = {
    pid: process.pid,
    startedAt: Date.now(),
    nonce: randomBytes(8).toString('hex'),
  };
  const temporary = join(directory, `${LOCK_FILE}.${mine.pid}.${mine.nonce}.tmp`);
  try {
    const handle = await open(temporary, 'wx', 0o600);
    try {
      await handle.writeFile(JSON.stringify(mine), 'utf8');
      if (durable) await handle.sync();
    } finally {
      await handle.close();
    }
    for (let attempt = 0; ; attempt++) {
      if (await linkExclusive(temporary, file)) {
        try {
          if (durable) await syncDirectory(directory);
        } catch (error) {
          await releaseLock(directory, mine); // a failed start leaves no lock
          throw error;
        }
        await sweepLeftovers(directory);
        return mine;
      }
      const observed = await observeLock(file);
      if (observed.state === 'gone') continue;
      const { holder } = observed;
      if (holder ? isProcessAlive(holder.pid) : observed.ageMs < UNREADABLE_LOCK_GRACE_MS) {
        throw new HypervisorError(
          'STILL_WORKING',
          holder
            ? `The session registry at ${directory} is in use by process ${holder.pid}`
            : `The session registry at ${directory} is being locked by another process`,
          { details: holder ? { pid: holder.pid, directory } : { directory } },
        );
      }
      if ((await removeStale(file, observed.key, temporary, 0)) === 'busy') {
        if (attempt >= TAKEOVER_RETRIES) {
          throw new HypervisorError(
            'STILL_WORKING',
            `The stale lock of the session registry at ${directory} is being taken over by another process`,
            { details: { directory } },
          );
        }
        await systemClock.sleep(TAKEOVER_RETRY_MS);
      }
    }
  } catch (error) {
    throw toHypervisorError(error, 'IO', `Could not lock the session registry at ${directory}`, {
      directory,
      file,
    });
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}

/** Removes the lock file if it still holds `lock` (a process that took it over keeps its own). */
export async function releaseLock(directory: string, lock: LockContent): Promise<void> {
  const file = join(directory, LOCK_FILE);
  const observed = await observeLock(file).catch(() => undefined);
  const holder = observed?.state === 'held' ? observed.holder : undefined;
  if (holder?.pid === lock.pid && holder.startedAt === lock.startedAt && holder.nonce === lock.nonce) {
    await unlink(file).catch(() => undefined);
  }
}

/**
 * Removes the stale lock (or marker) `file` seen with `key`, unless it changed meanwhile: takes
 * the marker `<file>.break-<key>` (a link of `temporary`, our own lock content) first. `'busy'`:
 * another live process is doing it; `'retry'`: look again.
 */
async function removeStale(
  file: string,
  key: string,
  temporary: string,
  depth: number,
): Promise<'busy' | 'retry'> {
  const marker = `${file}.break-${key}`;
  if (!(await linkExclusive(temporary, marker))) {
    const other = await observeLock(marker);
    if (other.state === 'gone') return 'retry';
    const breaker = other.holder;
    if (breaker ? isProcessAlive(breaker.pid) : other.ageMs < UNREADABLE_LOCK_GRACE_MS) return 'busy';
    // Its process died mid-takeover: take over the marker the same way, then look again.
    if (depth >= MAX_BREAK_DEPTH) return 'busy';
    return (await removeStale(marker, other.key, temporary, depth + 1)) === 'busy' ? 'busy' : 'retry';
  }
  try {
    const now = await observeLock(file);
    if (now.state === 'held' && now.key === key) {
      await unlink(file).catch((error: unknown) => {
        if (!isErrno(error, 'ENOENT')) throw error;
      });
    }
  } finally {
    await unlink(marker).catch(() => undefined);
  }
  return 'retry';
}

/**
 * Reads the lock (or marker) at `file` through one handle: its holder, a key that identifies this
 * very file (content, inode, mtime), and its age. Never follows a symbolic link or blocks on a FIFO.
 *
 * @internal
 */
export async function observeLock(file: string): Promise<Observed> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return { state: 'gone' };
    throw error;
  }
  try {
    const info = await handle.stat();
    const text = info.isFile() && info.size <= 4096 ? await handle.readFile('utf8') : '';
    const key = createHash('sha256')
      .update(`${text}\0${info.ino}\0${info.mtimeMs}\0${info.size}`)
      .digest('hex')
      .slice(0, 16);
    return { state: 'held', holder: parseLock(text), key, ageMs: Date.now() - info.mtimeMs };
  } finally {
    await handle.close();
  }
}

function parseLock(text: string): LockContent | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockContent>;
    if (Number.isInteger(value.pid) && (value.pid as number) > 0 && typeof value.startedAt === 'number') {
      return {
        pid: value.pid as number,
        startedAt: value.startedAt,
        nonce: typeof value.nonce === 'string' ? value.nonce : '',
      };
    }
  } catch {
    // unreadable
  }
  return undefined;
}

/**
 * Creates `target` as a hard link of the complete file `source`; false when `target` exists.
 * On a file system without hard links, an exclusive copy.
 */
async function linkExclusive(source: string, target: string): Promise<boolean> {
  try {
    await link(source, target);
    return true;
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return false;
    if (!isErrno(error, 'EPERM') && !isErrno(error, 'ENOTSUP') && !isErrno(error, 'EOPNOTSUPP')) throw error;
  }
  try {
    await copyFile(source, target, constants.COPYFILE_EXCL);
    return true;
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return false;
    throw error;
  }
}

/** Removes temporary lock files and takeover markers left by processes that died. Best effort. */
async function sweepLeftovers(directory: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(`${LOCK_FILE}.`)) continue;
    const path = join(directory, name);
    const temporary = /^registry\.lock\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
    if (temporary) {
      if (!isProcessAlive(Number(temporary[1]))) await unlink(path).catch(() => undefined);
    } else if (name.includes('.break-')) {
      const observed = await observeLock(path).catch(() => undefined);
      if (observed?.state === 'held' && observed.holder && !isProcessAlive(observed.holder.pid)) {
        await unlink(path).catch(() => undefined);
      }
    }
  }
}
