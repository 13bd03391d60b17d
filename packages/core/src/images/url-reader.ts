import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { abortedError, HypervisorError, toHypervisorError } from '../errors/hypervisor-error.js';

/** What {@link UrlReader.open} found: a body from the asked offset (or from 0), or a range past the end. @internal */
export type OpenedUrl =
  | {
      readonly status: 'body';
      /** The body starts at the asked offset; `false`: it starts at 0. */
      readonly resumed: boolean;
      /** The size of the whole file; 0 while unknown. */
      readonly total: number;
      readonly body: AsyncIterable<Uint8Array>;
    }
  | { readonly status: 'unsatisfiable' };

/** A `file:` URL: read from the disk, also offline. @internal */
export function isFileUrl(url: string): boolean {
  return url.startsWith('file:');
}

/**
 * Reads what a URL names, from an offset: the one place where `file:` URLs and HTTP(S) differ.
 * A file is streamed from the disk; an HTTP URL is fetched with a `Range` request (and without
 * compression, which would make byte offsets meaningless). Failures are `HypervisorError`s named
 * after `what`: `NOT_FOUND` for a missing file or an HTTP 404/410, `IO` otherwise, aborted
 * `CONTROL` when `signal` fires.
 * @internal
 */
export class UrlReader {
  readonly #fetch: typeof fetch;

  constructor(fetchFunction: typeof fetch) {
    this.#fetch = fetchFunction;
  }

  /** Opens `url` from byte `offset`; a server without ranges sends the whole file (`resumed: false`). */
  async open(url: string, offset: number, signal: AbortSignal, what: string): Promise<OpenedUrl> {
    if (isFileUrl(url)) {
      try {
        const path = fileURLToPath(url);
        const info = await stat(path);
        const start = offset <= info.size ? offset : 0;
        return {
          status: 'body',
          resumed: start > 0,
          total: info.size,
          body: createReadStream(path, { start, signal }),
        };
      } catch (error) {
        throw fileError(error, what, url);
      }
    }
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (offset > 0) headers['range'] = `bytes=${offset}-`;
    const response = await this.#request(url, headers, signal, what);
    if (offset > 0 && response.status === 416) {
      await response.body?.cancel().catch(() => {});
      return { status: 'unsatisfiable' };
    }
    if (!response.ok) throw await statusError(response, what, url);
    if (response.body === null) {
      throw new HypervisorError('IO', `${what}: the server sent no body`, { details: { url } });
    }
    const length = Number(response.headers.get('content-length') ?? Number.NaN);
    if (response.status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
      if (offset === 0 || range === null || Number(range[1]) !== offset) {
        await response.body.cancel().catch(() => {});
        if (offset === 0) {
          throw new HypervisorError('IO', `${what}: the server sent a part of the file unasked`, {
            details: { url },
          });
        }
        return this.open(url, 0, signal, what);
      }
      const total = range[3] === '*' ? (Number.isFinite(length) ? offset + length : 0) : Number(range[3]);
      return { status: 'body', resumed: true, total, body: response.body };
    }
    return {
      status: 'body',
      resumed: false,
      total: Number.isFinite(length) ? length : 0,
      body: response.body,
    };
  }

  /** The first `limit` bytes of `url` as UTF-8 text. */
  async readText(url: string, limit: number, signal: AbortSignal, what: string): Promise<string> {
    const opened = await this.open(url, 0, signal, what);
    if (opened.status !== 'body') return '';
    const chunks: Uint8Array[] = [];
    let size = 0;
    try {
      for await (const chunk of opened.body) {
        chunks.push(chunk);
        size += chunk.byteLength;
        if (size >= limit) break;
      }
    } catch (error) {
      if (signal.aborted) throw abortedError(what, signal.reason);
      throw toHypervisorError(error, 'IO', `${what} from ${url} failed`, { url });
    }
    return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
  }

  async #request(
    url: string,
    headers: Record<string, string>,
    signal: AbortSignal,
    what: string,
  ): Promise<Response> {
    try {
      return await this.#fetch(url, { headers, signal, redirect: 'follow' });
    } catch (error) {
      if (signal.aborted) throw abortedError(what, signal.reason);
      throw toHypervisorError(error, 'IO', `${what} from ${url} failed`, { url });
    }
  }
}

function fileError(error: unknown, what: string, url: string): HypervisorError {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
    return new HypervisorError('NOT_FOUND', `${what}: ${url} does not exist`, {
      cause: error,
      details: { url },
    });
  }
  return toHypervisorError(error, 'IO', `${what} from ${url} failed`, { url });
}

async function statusError(response: Response, what: string, url: string): Promise<HypervisorError> {
  await response.body?.cancel().catch(() => {});
  const code = response.status === 404 || response.status === 410 ? 'NOT_FOUND' : 'IO';
  return new HypervisorError(
    code,
    `${what} from ${url} failed: HTTP ${response.status} ${response.statusText}`,
    {
      details: { url, status: response.status },
    },
  );
}
