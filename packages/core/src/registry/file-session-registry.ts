import { chmod, mkdir, rmdir, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { ActionOptions } from '../action-options.js';
import { KeyedQueue } from '../concurrency/keyed-queue.js';
import type { Hypervisor } from '../driver/driver.js';
import { abortedError, HypervisorError, toHypervisorError } from '../errors/hypervisor-error.js';
import { isErrno } from '../files/is-errno.js';
import { syncDirectory, writeFileAtomic } from '../files/write-file-atomic.js';
import { type DamagedRecord, damagedRecordError, reservingRecord } from './damaged-record.js';
import { loadRecords, type RegistryWarningListener, SESSIONS_FOLDER } from './load-records.js';
import { reconcile } from './reconcile.js';
import { nameKey, nameTakenError, RecordIndex, snapshotRecord } from './record-index.js';
import { acquireLock, type LockContent, releaseLock } from './registry-lock.js';
import type { SessionRecord } from './session-record.js';
import { SESSION_ID_PATTERN } from './session-record-schema.js';
import type { ReconcileOptions, ReconcileReport, SessionRegistry } from './session-registry.js';

/** Options of {@link openSessionRegistry}. */
export interface OpenSessionRegistryOptions extends ActionOptions {
  /** The registry's directory; created (mode 0700) when missing, unless `readOnly`. */
  directory: string;
  /**
   * Open a snapshot for reading only (`cvmweb sessions` while the service runs): no lock is
   * taken, nothing on disk is changed, and `put`, `delete` and `reconcile` reject with `NOT_ALLOWED`.
   * A missing directory reads as an empty registry.
   */
  readOnly?: boolean;
  /**
   * fsync each record file and the directory after every write (default `true`). `false` keeps
   * writes atomic (a crash leaves the old or the new record) but a power loss may lose recent ones.
   */
  durable?: boolean;
  /**
   * Receives a message and details for each damaged record file (see {@link DamagedRecord}):
   * one that is not a regular file, cannot be read, is not JSON or not a valid record, or holds
   * a name an older record holds. `details.damaged` describes it.
   */
  onWarning?: RegistryWarningListener;
}

/**
 * Opens (creating when needed) the file session registry in `options.directory`:
 *
 * - `<directory>/sessions/<id>.json`: one JSON file per record, mode 0600, in a 0700 directory.
 *   Each write goes to `<id>.json.<random>.tmp`, is fsynced (when `durable`), renamed over the
 *   record, and the directory is fsynced, so a crash leaves the old or the new record, never a torn one.
 * - `<directory>/registry.lock`: `{ pid, startedAt, nonce }`, written whole and then linked into
 *   place exclusively, so one process at a time writes. A lock whose process is gone (or an
 *   unreadable lock older than a few seconds) is stale and taken over atomically: of any number
 *   of processes starting at once, exactly one gets it (see `docs/architecture.md`). A start that
 *   fails leaves no lock or temporary file behind, nor the folders it made (unless it was refused
 *   because another process holds the registry).
 *
 * On open every record is loaded into memory (reads are synchronous afterwards, `find` is O(1));
 * leftover `*.tmp` files of a crashed write are deleted. A damaged record file (not a regular
 * file, unreadable, not JSON, invalid, another id than its name, a name an older record holds) is
 * moved to `<directory>/damaged/` (left in place when `readOnly`), listed by
 * {@link SessionRegistry.damaged} and reported through `onWarning`, on every open until a person
 * repairs it (moves it back to `sessions/`) or deletes it. Meanwhile it keeps its session id, its
 * VM and its name reserved (see {@link DamagedRecord}): `put` refuses them with `INVALID_STATE`.
 * Writes to one record run one at a time, in call order; writes to different records run concurrently.
 *
 * A PID reused by an unrelated live process makes a stale lock look alive: remove
 * `registry.lock` by hand then.
 *
 * @throws HypervisorError `STILL_WORKING` (details `{ pid, directory }`) when another live
 *   process holds the lock; `INVALID_USAGE` for a bad directory; `IO` when the directory or
 *   the lock cannot be made or read; `CONTROL` (aborted) when `signal` fires.
 *
 * @example
 * ```ts
 * const registry = await openSessionRegistry({ directory: join(homedir(), '.cvmweb') });
 * try { await registry.reconcile(hypervisor); } finally { await registry.close(); }
 * ```
 */
export async function openSessionRegistry(options: OpenSessionRegistryOptions): Promise<SessionRegistry> {
  if (typeof options?.directory !== 'string' || options.directory.length === 0) {
    throw new HypervisorError('INVALID_USAGE', 'The session registry needs a directory', {
      details: { field: 'directory' },
    });
  }
  const directory = resolve(options.directory);
  const readOnly = options.readOnly ?? false;
  const durable = options.durable ?? true;
  const { signal } = options;
  const checkAbort = () => {
    if (signal?.aborted) throw abortedError('Opening the session registry', signal.reason);
  };
  checkAbort();
  const sessions = join(directory, SESSIONS_FOLDER);

  let lock: LockContent | undefined;
  // Directories this call created: a failed open removes them again (when still empty) — while it
  // holds the lock, or when no other process was found holding it, never under another holder's feet.
  const created: string[] = [];
  const removeCreated = async () => {
    for (const folder of [...created].reverse()) await rmdir(folder).catch(() => undefined);
  };
  const undo = async (error: unknown) => {
    const busy = error instanceof HypervisorError && error.codeName === 'STILL_WORKING';
    if (!lock) {
      if (!busy) await removeCreated();
      return;
    }
    await removeCreated(); // the sessions folder, while this process holds the lock
    await releaseLock(directory, lock);
    await removeCreated(); // the registry's folder, now without the lock (kept if another process is in it)
  };
  try {
    if (!readOnly) {
      try {
        for (const folder of [directory, sessions]) {
          const first = await mkdir(folder, { recursive: true, mode: 0o700 });
          // `first` is the outermost folder made; record it and each one below it, down to `folder`.
          const chain: string[] = [];
          for (let at = folder; first !== undefined; at = dirname(at)) {
            chain.unshift(at);
            if (at === first || dirname(at) === at) break;
          }
          created.push(...chain);
        }
        await chmod(sessions, 0o700);
      } catch (error) {
        throw toHypervisorError(error, 'IO', `Could not create the session registry at ${directory}`, {
          directory,
        });
      }
      checkAbort();
      lock = await acquireLock(directory, durable);
    }
    checkAbort();
    const index = new RecordIndex();
    const damaged = await loadRecords(directory, index, {
      readOnly,
      durable,
      onWarning: options.onWarning,
      signal,
    });
    checkAbort();
    return new FileSessionRegistry({ directory, sessions, index, damaged, readOnly, durable, lock });
  } catch (error) {
    await undo(error);
    throw toHypervisorError(error, 'IO', `Could not load the session registry at ${directory}`, {
      directory,
    });
  }
}

class FileSessionRegistry implements SessionRegistry {
  readonly directory: string;
  readonly #sessions: string;
  readonly #index: RecordIndex;
  readonly #damaged: readonly DamagedRecord[];
  /** Hypervisor-side names of the VMs reconcile kept for damaged records, by session id. */
  readonly #vmNamesOfDamaged = new Map<string, string[]>();
  readonly #readOnly: boolean;
  readonly #durable: boolean;
  readonly #lock: LockContent | undefined;
  /** The writes of each record, one at a time, in call order. A write, once started, is never interrupted. */
  readonly #writes = new KeyedQueue<string>();
  /** `(scope, name)` keys claimed by puts in flight: key → owning id and count. */
  readonly #reserved = new Map<string, { id: string; count: number }>();
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(init: {
    directory: string;
    sessions: string;
    index: RecordIndex;
    damaged: readonly DamagedRecord[];
    readOnly: boolean;
    durable: boolean;
    lock: LockContent | undefined;
  }) {
    this.directory = init.directory;
    this.#sessions = init.sessions;
    this.#index = init.index;
    this.#damaged = Object.freeze([...init.damaged]);
    this.#readOnly = init.readOnly;
    this.#durable = init.durable;
    this.#lock = init.lock;
  }

  list(): SessionRecord[] {
    return this.#index.list();
  }

  get(id: string): SessionRecord | undefined {
    return this.#index.get(id);
  }

  find(scope: string, name: string): SessionRecord | undefined {
    return this.#index.find(scope, name);
  }

  damaged(): readonly DamagedRecord[] {
    return this.#damaged;
  }

  async put(record: SessionRecord, options?: ActionOptions): Promise<void> {
    this.#checkWritable('Writing a session record', options);
    const { record: copy, json } = snapshotRecord(record, this.#index.get(record?.id), 2);
    const key = nameKey(copy.scope, copy.name);
    const committed = this.#index.idOf(copy.scope, copy.name);
    const reserved = this.#reserved.get(key);
    if (committed !== undefined && committed !== copy.id) throw nameTakenError(copy, committed);
    if (reserved !== undefined && reserved.id !== copy.id) throw nameTakenError(copy, reserved.id);
    const held = { id: this.#index.get(copy.id) !== undefined, name: committed === copy.id };
    const damaged = reservingRecord(this.#damaged, copy, held, (id) => this.#vmNamesOfDamaged.get(id) ?? []);
    if (damaged) throw damagedRecordError(damaged, copy.scope, copy.name);
    if (reserved) reserved.count++;
    else this.#reserved.set(key, { id: copy.id, count: 1 });
    try {
      await this.#writes.run(copy.id, async () => {
        await this.#writeFile(copy.id, json);
        this.#index.set(copy);
      });
    } finally {
      const entry = this.#reserved.get(key);
      if (entry && --entry.count === 0) this.#reserved.delete(key);
    }
  }

  async delete(id: string, options?: ActionOptions): Promise<void> {
    this.#checkWritable('Deleting a session record', options);
    if (typeof id !== 'string' || !SESSION_ID_PATTERN.test(id)) return;
    await this.#writes.run(id, async () => {
      const file = join(this.#sessions, `${id}.json`);
      try {
        await unlink(file);
      } catch (error) {
        if (!isErrno(error, 'ENOENT')) {
          throw toHypervisorError(error, 'IO', `Could not delete session record ${id}`, { id, file });
        }
      }
      if (this.#durable)
        await syncDirectory(this.#sessions).catch((error: unknown) => {
          throw toHypervisorError(error, 'IO', `Could not sync directory ${this.#sessions}`);
        });
      this.#index.delete(id);
    });
  }

  async reconcile(hypervisor: Hypervisor, options?: ReconcileOptions): Promise<ReconcileReport> {
    this.#checkWritable('Reconciling the session registry', options);
    const report = await reconcile(this, hypervisor, options);
    // The VM names of damaged records tell which names they hold (see reservingRecord).
    for (const vm of report.kept) {
      const names = this.#vmNamesOfDamaged.get(vm.sessionId) ?? [];
      if (!names.includes(vm.name)) this.#vmNamesOfDamaged.set(vm.sessionId, [...names, vm.name]);
    }
    return report;
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= (async () => {
      await this.#writes.onIdle();
      if (this.#lock) await releaseLock(this.directory, this.#lock);
    })();
    return this.#closing;
  }

  #checkWritable(what: string, options: ActionOptions | undefined): void {
    if (this.#closed)
      throw new HypervisorError('INVALID_STATE', `${what} failed: the session registry is closed`);
    if (this.#readOnly) {
      throw new HypervisorError('NOT_ALLOWED', `${what} failed: the session registry was opened read-only`, {
        details: { directory: this.directory },
      });
    }
    if (options?.signal?.aborted) throw abortedError(what, options.signal.reason);
  }

  async #writeFile(id: string, json: string): Promise<void> {
    const file = join(this.#sessions, `${id}.json`);
    const write = () => writeFileAtomic(file, json, { mode: 0o600, durable: this.#durable });
    try {
      await write().catch(async (error: unknown) => {
        // The sessions folder was removed under the registry (by hand, or by a start that failed
        // while this one was starting): make it again, once.
        if (!isErrno(error, 'ENOENT')) throw error;
        await mkdir(this.#sessions, { recursive: true, mode: 0o700 });
        await write();
      });
    } catch (error) {
      throw toHypervisorError(error, 'IO', `Could not write session record ${id}`, { id, file });
    }
  }
}
