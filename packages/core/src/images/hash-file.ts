import type { Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { abortedError, toHypervisorError } from '../errors/hypervisor-error.js';

/**
 * Feeds the file at `path` into `hash`; returns the bytes read.
 *
 * @throws {HypervisorError} aborted `CONTROL` named `what` when `signal` fires; `IO` when the
 *   file cannot be read.
 * @internal
 */
export async function hashFile(path: string, hash: Hash, signal: AbortSignal, what: string): Promise<number> {
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(path, { signal })) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).byteLength;
    }
  } catch (error) {
    if (signal.aborted) throw abortedError(what, signal.reason);
    throw toHypervisorError(error, 'IO', `Reading ${path} failed`, { path });
  }
  return bytes;
}
