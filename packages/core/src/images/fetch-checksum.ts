import { HypervisorError } from '../errors/hypervisor-error.js';
import type { FileSpec } from './file-spec.js';
import type { UrlReader } from './url-reader.js';

const CHECKSUM_TEXT_LIMIT = 64 * 1024;
const SHA256_TOKEN = /^[0-9a-fA-F]{64}$/;

/**
 * The published sha256 of a file: the first 64-hex-digit word of the first 64 KiB at
 * `spec.sha256Url` (a `sha256sum` line, or the bare checksum), lower-cased.
 *
 * @throws {HypervisorError} `NOT_VALIDATED` when the text holds no sha256; what
 *   {@link UrlReader.open} throws otherwise.
 * @internal
 */
export async function fetchChecksum(reader: UrlReader, spec: FileSpec, signal: AbortSignal): Promise<string> {
  const url = spec.sha256Url ?? '';
  const what = `Fetching the checksum of ${spec.label}`;
  const text = await reader.readText(url, CHECKSUM_TEXT_LIMIT, signal, what);
  const token = text.split(/\s+/).find((word) => SHA256_TOKEN.test(word));
  if (token === undefined) {
    throw new HypervisorError('NOT_VALIDATED', `${what}: ${url} holds no sha256`, {
      details: { url, version: spec.version },
    });
  }
  return token.toLowerCase();
}
