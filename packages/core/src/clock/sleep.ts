import { abortedError } from '../errors/hypervisor-error.js';

/** Options of {@link sleep}. */
export interface SleepOptions {
  /** Ends the sleep early: the promise rejects with an aborted `CONTROL` (-3) error. */
  signal?: AbortSignal;
  /** Names what waited in the aborted error's message (`<what> was aborted`); default `sleep`. */
  what?: string;
}

/**
 * Resolves after `ms` milliseconds of real time. When `signal` fires first (or has already
 * fired) it rejects at once with {@link abortedError}: code `CONTROL` (-3), `aborted: true`, and
 * the signal's reason as `cause`. The timer is cleared and the listener removed either way.
 *
 * This is the one real-time sleep of cvmweb; `systemClock` sleeps with it. Code that
 * takes a `Clock` sleeps through the clock instead, so tests can drive time.
 */
export function sleep(ms: number, options: SleepOptions = {}): Promise<void> {
  const { signal, what = 'sleep' } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(what, signal.reason));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(what, signal?.reason));
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
