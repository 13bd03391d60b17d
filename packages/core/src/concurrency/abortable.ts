import { abortedError } from '../errors/hypervisor-error.js';

/**
 * Waits for `promise`, or rejects at once with an aborted `CONTROL` (-3) error (the signal's
 * reason as `cause`) when `signal` fires first. The listener is removed either way; the work
 * behind `promise` goes on; it is only no longer waited for.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortedError(what, signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError(what, signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
