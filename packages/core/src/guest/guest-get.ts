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
 * One HTTP GET of `path` (with its query) at `url` on a fresh connection; `undefined` when no
 * whole answer came within `timeoutMs` of real time (connecting, waiting and reading together),
 * when the connection failed, or when `signal` aborted it. Rejects only when `url` and `path` make no URL.
 */
export function guestGet(
  url: string,
  path: string,
  timeoutMs: number,
  options?: { signal?: AbortSignal },
): Promise<GuestAnswer> {
  return new Promise((resolve) => {
    const signal = options?.signal;
    if (signal?.aborted) return resolve(undefined);
    const target = new URL(path, url);
    let settled = false;
    const finish = (answer: GuestAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(answer);
    };
    const onAbort = () => finish(undefined);
    const req = request(
      {
        // An IPv6 literal's brackets belong to the URL, not to the address.
        host: target.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: 'GET',
        agent: false,
        headers: { connection: 'close' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => finish({ status: res.statusCode ?? 0, body }));
        res.on('error', () => finish(undefined));
      },
    );
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', () => finish(undefined));
    req.end();
  });
}
