import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { ProgressListener } from '../action-options.js';
import { abortedError, HypervisorError, toHypervisorError } from '../errors/hypervisor-error.js';
import { removeFile, statOrUndefined } from './cache-files.js';
import { hashFile } from './hash-file.js';
import type { UrlReader } from './url-reader.js';

const PROGRESS_INTERVAL_MS = 100;

/** What {@link downloadVerified} fetches, where to, and for whom. @internal */
export interface DownloadRequest {
  readonly reader: UrlReader;
  readonly url: string;
  /** The sha256 the whole file must have, lower-case hex. */
  readonly sha256: string;
  /** The partial file: resumed from when it exists, left in place for the next try on failure. */
  readonly partial: string;
  /** `image 1.3`: for messages. */
  readonly label: string;
  readonly signal: AbortSignal;
  readonly onProgress: ProgressListener;
}

/**
 * Fills `partial` with the file at `url` and verifies it against `sha256`. A partial file left
 * by an earlier try is hashed and resumed with a `Range` request; a server that ignores the
 * range sends the whole file again, and the download restarts from zero. Resolves when
 * `partial` holds exactly the verified file.
 *
 * @throws {HypervisorError} `NOT_VALIDATED` (the file does not match; the partial is deleted),
 *   `IO` (with the partial kept for resuming), aborted `CONTROL` on signal (partial kept), and
 *   what {@link UrlReader.open} throws.
 * @internal
 */
export async function downloadVerified(request: DownloadRequest): Promise<void> {
  const { reader, url, sha256, partial, label, signal, onProgress } = request;
  const what = `Downloading ${label}`;
  let hash = createHash('sha256');
  let offset = 0;
  if ((await statOrUndefined(partial)) !== undefined) {
    onProgress(0, 0, `Checking the partial download of ${label}`);
    offset = await hashFile(partial, hash, signal, `Verifying ${label}`);
  }
  let opened = await reader.open(url, offset, signal, what);
  if (opened.status === 'unsatisfiable') {
    // The partial may hold the whole file already (a crash before the rename).
    if (hash.copy().digest('hex') === sha256) return;
    offset = 0;
    opened = await reader.open(url, 0, signal, what);
    if (opened.status === 'unsatisfiable') {
      throw new HypervisorError('IO', `${what}: the server refused the request`, { details: { url } });
    }
  }
  if (!opened.resumed && offset > 0) {
    offset = 0;
    hash = createHash('sha256');
  }
  const { total, body } = opened;
  let done = offset;
  let reported = Date.now();
  onProgress(done, total, what);
  try {
    const handle = await open(partial, offset > 0 ? 'a' : 'w');
    try {
      for await (const chunk of body) {
        await handle.write(chunk);
        hash.update(chunk);
        done += chunk.byteLength;
        if (Date.now() - reported >= PROGRESS_INTERVAL_MS) {
          reported = Date.now();
          onProgress(done, total, what);
        }
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (signal.aborted) throw abortedError(what, signal.reason);
    throw toHypervisorError(error, 'IO', `${what} from ${url} failed`, { url, received: done });
  }
  onProgress(done, total || done, what);
  if (total > 0 && done < total) {
    throw new HypervisorError('IO', `${what} from ${url} failed: the connection ended early`, {
      details: { url, received: done, expectedSize: total },
    });
  }
  const actual = hash.digest('hex');
  if (actual !== sha256) {
    await removeFile(partial);
    throw new HypervisorError(
      'NOT_VALIDATED',
      `${what}: the file from ${url} does not match its sha256 (expected ${sha256}, got ${actual}); it was deleted`,
      { details: { expected: sha256, actual, url } },
    );
  }
}
