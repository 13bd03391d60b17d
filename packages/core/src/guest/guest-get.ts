import { request } from 'node:http';

/** What one request to the guest got: an answer, or nothing (refused, reset, timed out). */
export type GuestAnswer =
  | {
      /** The HTTP status code of the answer. */
      status: number;
      /** The answer's body as text. */
      body: string;
    }
  | undefined;

/**
 * One HTTP GET on a fresh connection; `undefined` when nothing answered within `timeoutMs` (real
 * time) or `signal` aborted it.
 */
export function guestGet(
  url: string,
  path: string,
  timeoutMs: number,
  options?: { signal?: AbortSignal },
): Promise<GuestAnswer> {
  return new Promise((resolve) => {
    if (options?.signal?.aborted) return resolve(undefined);
    const target = new URL(path, url);
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'GET',
        agent: false,
        headers: { connection: 'close' },
        timeout: timeoutMs,
        ...(options?.signal ? { signal: options.signal } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', () => resolve(undefined));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}
