import { resolve } from 'node:path';
import { abortedError, HypervisorError, toHypervisorError } from '../errors/hypervisor-error.js';
import { writeFileAtomic } from '../files/write-file-atomic.js';
import { cernvmContextFiles } from './cernvm-context.js';
import { cloudInitSeedFiles } from './cloud-init-seed.js';
import type { ContextIsoLayout } from './context-iso-layout.js';
import type { ContextFormat, ContextMedium } from './context-medium.js';
import { writeIso9660 } from './iso9660-writer.js';

/** The largest user data `start()` accepts: 1 MiB, counted in UTF-8 bytes. */
export const MAX_USER_DATA_BYTES = 1024 * 1024;

/** The file name of the medium inside the VM's directory. */
export const CONTEXT_MEDIUM_FILE_NAME = 'context.iso';

/** Options of {@link buildContextMedium}. */
export interface BuildContextMediumOptions {
  /** Which layout to build: `cernvm` (amiconfig `CONTEXT.SH`) or `cloud-init` (NoCloud seed). */
  readonly format: ContextFormat;
  /** The user data, at most {@link MAX_USER_DATA_BYTES} bytes in UTF-8. */
  readonly userData: string;
  /** The VM's directory, which must exist; the medium is written there as `context.iso`. */
  readonly directory: string;
  /** The NoCloud instance id (used and validated for `cloud-init` only). */
  readonly instanceId: string;
  /** The guest's host name (used and validated for `cloud-init` only). */
  readonly hostname: string;
  /** Cancels the build; the call then rejects with an aborted `CONTROL` error. */
  readonly signal?: AbortSignal;
}

/**
 * Builds the context medium of a VM and writes it as `<directory>/context.iso`.
 *
 * The image is written to a temporary file in the same directory, flushed to
 * disk and renamed over `context.iso`, so readers never see a half-written
 * medium; on failure the temporary file is removed and an existing
 * `context.iso` is left as it was.
 *
 * @returns The medium, with the absolute path of the file and its size in bytes.
 * @throws {HypervisorError} `INVALID_USAGE` with `details.field` (`format`,
 *   `userData`, `directory`, `instanceId`, `hostname`) for bad options; `IO`
 *   (with the file-system error as `cause`) when writing fails; an aborted
 *   `CONTROL` error when `signal` aborts.
 */
export async function buildContextMedium(options: BuildContextMediumOptions): Promise<ContextMedium> {
  const { format, userData, directory, instanceId, hostname, signal } = options;
  if (signal?.aborted) throw abortedError('Building the context medium', signal.reason);
  if (typeof userData !== 'string') throw invalid('userData', 'The user data must be a string');
  if (Buffer.byteLength(userData, 'utf8') > MAX_USER_DATA_BYTES) {
    throw invalid('userData', `The user data is larger than ${MAX_USER_DATA_BYTES} bytes`);
  }
  if (typeof directory !== 'string' || directory.length === 0 || directory.includes('\0')) {
    throw invalid('directory', 'The directory must be a non-empty path');
  }
  let layout: ContextIsoLayout;
  if (format === 'cloud-init') layout = cloudInitSeedFiles({ userData, instanceId, hostname });
  else if (format === 'cernvm') layout = cernvmContextFiles(userData);
  else throw invalid('format', `Unknown context format ${String(format)}; expected cernvm or cloud-init`);

  const image = writeIso9660(layout);
  const path = resolve(directory, CONTEXT_MEDIUM_FILE_NAME);
  try {
    // Not fsynced: the medium is rebuilt from the registry's user data on every fresh start.
    await writeFileAtomic(path, image, { durable: false, ...(signal ? { signal } : {}) });
  } catch (error) {
    throw toHypervisorError(error, 'IO', `Cannot write the context medium ${path}`, { path });
  }
  return { format, path, size: image.byteLength };
}

function invalid(field: string, message: string): HypervisorError {
  return new HypervisorError('INVALID_USAGE', message, { details: { field } });
}
