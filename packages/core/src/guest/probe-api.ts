import { Socket } from 'node:net';

/**
 * One look at a VM's API: a TCP connection to `host:port`, an HTTP `GET /`,
 * and at least one byte of answer within `timeoutMs`. Resolves `true` when the
 * API answered, `false` otherwise; never rejects.
 */
export function probeApi(
  host: string,
  port: number,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
) {
  const { timeoutMs = 2000, signal } = options;
  return new Promise<boolean>((resolve) => {
    if (signal?.aborted) return resolve(false);
    const socket = new Socket();
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(ok);
    };
    const onAbort = () => finish(false);
    const timer = setTimeout(() => finish(false), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
    socket.once('data', (chunk: Buffer) => finish(chunk.length > 0));
    socket.connect(port, host, () => {
      const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      socket.write(`GET / HTTP/1.0\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`);
    });
  });
}
