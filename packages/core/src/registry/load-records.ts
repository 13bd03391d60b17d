import { lstat, mkdir, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { HypervisorError } from '../errors/hypervisor-error.js';
import { isErrno } from '../files/is-errno.js';
import { readRegularFile } from '../files/read-regular-file.js';
import { syncDirectory } from '../files/write-file-atomic.js';
import {
  type DamagedRecord,
  type DamageReason,
  describeDamagedRecord,
  salvageFields,
} from './damaged-record.js';
import { deepFreeze, type RecordIndex } from './record-index.js';
import type { SessionRecord } from './session-record.js';
import { SESSION_ID_PATTERN, validateSessionRecord } from './session-record-schema.js';

/** The folder of record files, and the one damaged record files are moved to. */
export const SESSIONS_FOLDER = 'sessions';
/** @internal */
export const DAMAGED_FOLDER = 'damaged';
/** Errors that say nothing about the file read (too many open files, no memory, interrupted). */
const TRANSIENT = ['EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN', 'EINTR'];
/** Records read at once while loading. */
const LOAD_CONCURRENCY = 32;
/** A record file larger than this is not read (records are a few KiB; user data is limited). */
const MAX_RECORD_BYTES = 64 * 1024 * 1024;

/** Receives a warning: its message and details. */
export type RegistryWarningListener = (
  message: string,
  details: { file: string; cause: unknown; damaged?: DamagedRecord },
) => void;

/** Options of {@link loadRecords}. @internal */
export interface LoadRecordsOptions {
  readOnly: boolean;
  durable: boolean;
  onWarning: RegistryWarningListener | undefined;
  signal: AbortSignal | undefined;
}

type Entry =
  | { kind: 'record'; record: SessionRecord; file: string }
  | { kind: 'damaged'; damaged: DamagedRecord; cause: unknown }
  | { kind: 'gone' };

/**
 * Loads every `*.json` record of `<directory>/sessions` into `index` and returns the damaged ones:
 * files that are not regular files, cannot be read, are not JSON, fail validation, carry another
 * id than their name, or hold a name an older record holds. Unless `readOnly`, each damaged file is
 * moved to `<directory>/damaged/` (never deleted) and `*.tmp` leftovers of a crashed write are
 * deleted. Every file already in `damaged/` is reported again on every load, until a person
 * repairs it (moves it back) or removes it. Nothing is ever opened that could block (a FIFO) or
 * followed (a symbolic link). Each damaged record is also reported through `onWarning`.
 *
 * @internal
 */
export async function loadRecords(
  directory: string,
  index: RecordIndex,
  options: LoadRecordsOptions,
): Promise<DamagedRecord[]> {
  const { readOnly, signal } = options;
  const sessions = join(directory, SESSIONS_FOLDER);
  const aside = join(directory, DAMAGED_FOLDER);
  const names = await list(sessions, true); // a writer makes the folder again when it writes
  const earlier = await list(aside, true).catch((error: unknown) => {
    if (isErrno(error, 'ENOTDIR')) return []; // not a folder: nothing set aside yet, and nothing can be
    throw error;
  });
  const warn = (damaged: DamagedRecord, cause: unknown) => {
    try {
      options.onWarning?.(describeDamagedRecord(damaged), { file: damaged.foundAt, cause, damaged });
    } catch {
      // A listener's failure must not make the registry unusable.
    }
  };

  const loaded: { record: SessionRecord; file: string }[] = [];
  const found: { damaged: DamagedRecord; cause: unknown }[] = [];
  const setAside: { damaged: DamagedRecord; cause: unknown }[] = [];
  const jobs = [
    ...names.map((name) => ({ folder: sessions, name, inAside: false })),
    ...earlier.map((name) => ({ folder: aside, name, inAside: true })),
  ];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      if (signal?.aborted) return;
      const { folder, name, inAside } = jobs[next++] as (typeof jobs)[number];
      const file = join(folder, name);
      if (!inAside && name.endsWith('.tmp')) {
        if (!readOnly) await unlink(file).catch(() => undefined);
        continue;
      }
      if (!inAside && !name.endsWith('.json')) continue;
      if (inAside && name.startsWith('.')) continue;
      const entry = await readEntry(file, name, inAside);
      if (entry.kind === 'gone') continue;
      if (entry.kind === 'record') loaded.push(entry);
      else (inAside ? setAside : found).push(entry);
    }
  };
  await Promise.all(Array.from({ length: Math.min(LOAD_CONCURRENCY, jobs.length) }, worker));

  loaded.sort((a, b) => a.record.createdAt - b.record.createdAt || (a.record.id < b.record.id ? -1 : 1));
  for (const { record, file } of loaded) {
    const holder = index.find(record.scope, record.name);
    if (holder) {
      const message = `scope ${record.scope} already has a session named "${record.name}" (${holder.id}, older)`;
      found.push({
        damaged: damagedAt(file, record.id, 'duplicate-name', message, record),
        cause: undefined,
      });
      continue;
    }
    index.set(deepFreeze(record));
  }

  const damaged: DamagedRecord[] = [];
  const byPlace = (a: { damaged: DamagedRecord }, b: { damaged: DamagedRecord }) =>
    a.damaged.foundAt < b.damaged.foundAt ? -1 : 1;
  setAside.sort(byPlace);
  found.sort(byPlace);
  for (const entry of setAside) {
    damaged.push(entry.damaged);
    warn(entry.damaged, entry.cause);
  }
  if (signal?.aborted) return damaged; // the caller throws; nothing is moved by an aborted open
  for (const entry of found) {
    const moved = readOnly ? entry.damaged : await moveAside(entry.damaged, aside, options.durable);
    damaged.push(moved);
    warn(moved, entry.cause);
  }
  return damaged;
}

async function list(folder: string, missingOk: boolean): Promise<string[]> {
  try {
    return await readdir(folder);
  } catch (error) {
    if (missingOk && isErrno(error, 'ENOENT')) return [];
    throw error;
  }
}

/** Reads one record file without blocking on a FIFO or following a link, and classifies it. */
async function readEntry(file: string, name: string, inAside: boolean): Promise<Entry> {
  const match = /^([A-Za-z0-9][A-Za-z0-9_-]{0,127})\.json(?:\.[0-9]+)?$/.exec(name);
  const id = match?.[1];
  const damaged = (reason: DamageReason, message: string, cause: unknown, text = '', parsed?: unknown) => ({
    kind: 'damaged' as const,
    damaged: damagedAt(file, id, reason, message, salvageFields(text, parsed)),
    cause,
  });
  try {
    const read = await readRegularFile(file, { followLinks: false, maxBytes: MAX_RECORD_BYTES });
    if (read.kind === 'special')
      return damaged('not-a-file', `is ${read.what}, not a record file`, undefined);
    if (read.kind === 'too-large') {
      return damaged('unreadable', `is ${read.size} bytes, too large for a session record`, undefined);
    }
    const { text } = read;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      const empty = text.trim().length === 0;
      return damaged('not-json', empty ? 'is empty' : 'is not complete JSON (truncated?)', error, text);
    }
    let record: SessionRecord;
    try {
      record = validateSessionRecord(parsed);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return damaged('invalid', `is not a valid session record: ${reason}`, error, text, parsed);
    }
    if (id === undefined || record.id !== id) {
      const message = `holds session ${record.id}, which is not its file name`;
      return damaged('id-mismatch', message, undefined, text, parsed);
    }
    if (inAside) {
      const message = 'reads as a valid record now: move it back to the sessions folder to restore it';
      return damaged('set-aside', message, undefined, text, parsed);
    }
    return { kind: 'record', record, file };
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return { kind: 'gone' }; // deleted by the writer while a read-only reader loads
    // Errors of this process or machine, not of the file: fail the open rather than set a sound record aside.
    if (TRANSIENT.some((code) => isErrno(error, code))) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    return damaged('unreadable', `cannot be read: ${reason}`, error);
  }
}

function damagedAt(
  file: string,
  id: string | undefined,
  reason: DamageReason,
  message: string,
  salvaged: DamagedRecord['salvaged'],
): DamagedRecord {
  const { id: inside, scope, name, vmName, vmId, driver } = salvaged;
  return deepFreeze({
    id: id !== undefined && SESSION_ID_PATTERN.test(id) ? id : undefined,
    file,
    foundAt: file,
    reason,
    message,
    salvaged: { ...omitUndefined({ id: inside, scope, name, vmName, vmId, driver }) },
  });
}

function omitUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Moves a damaged record file into `aside` (its name, or `<name>.<n>` when taken), so a person can
 * inspect and repair it. When that fails the file stays where it is, still reported and reserved.
 */
async function moveAside(entry: DamagedRecord, aside: string, durable: boolean): Promise<DamagedRecord> {
  const name = basename(entry.foundAt);
  try {
    await mkdir(aside, { recursive: true, mode: 0o700 });
    let target = join(aside, name);
    for (let n = 1; await exists(target); n++) target = join(aside, `${name}.${n}`);
    await rename(entry.foundAt, target);
    if (durable) {
      await syncDirectory(aside);
      await syncDirectory(dirname(entry.foundAt));
    }
    return deepFreeze({ ...entry, file: target });
  } catch (error) {
    if (error instanceof HypervisorError) throw error;
    return deepFreeze({ ...entry, message: `${entry.message} (could not be moved aside: ${String(error)})` });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return false;
    throw error;
  }
}
