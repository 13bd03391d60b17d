import type { ErrorCodeName } from '../errors/error-code.js';
import { abortedError, HypervisorError } from '../errors/hypervisor-error.js';
import { type Clock, systemClock } from './clock.js';

/** Options of {@link waitUntil}. */
export interface WaitUntilOptions {
  /** What is awaited, for the time-out error's message: `<what> did not happen within <n> ms`. */
  what: string;
  /** How long to keep probing, in ms of `clock` time. */
  timeoutMs: number;
  /** The pause between the end of one probe and the start of the next, in ms; default 100. */
  intervalMs?: number;
  /** The clock that measures the time-out and the pauses; default the system clock. */
  clock?: Clock;
  /** Ends the wait early: it rejects with an aborted `CONTROL` (-3) error. */
  signal?: AbortSignal;
  /** The code of the time-out error; default `QUERY` (-5). */
  code?: ErrorCodeName;
  /** Says what the last probe saw, for the time-out error's message. */
  lastSeen?: () => string;
}

/**
 * Waits for a condition that no event announces (a process gone, a file written, a server
 * answering): calls `probe` until it resolves with something other than `undefined`, pausing
 * `intervalMs` between two calls, and resolves with that value. A probe that throws ends the wait
 * with its error. After `timeoutMs` it rejects with a {@link HypervisorError} (`code`, default
 * `QUERY`) whose details say `timedOut: true`, `what` and `timeoutMs`; an aborted `signal` rejects
 * with an aborted `CONTROL` error. The probe gets the signal.
 *
 * This is cvmweb's one condition poll for code that runs without a test framework; tests use
 * `vi.waitFor` or `expect.poll`.
 */
export async function waitUntil<T>(
  probe: (signal?: AbortSignal) => Promise<T | undefined> | T | undefined,
  options: WaitUntilOptions,
): Promise<Exclude<T, undefined>> {
  const { what, timeoutMs, intervalMs = 100, clock = systemClock, signal, code = 'QUERY' } = options;
  const deadline = clock.now() + timeoutMs;
  for (;;) {
    if (signal?.aborted) throw abortedError(what, signal.reason);
    const value = await probe(signal);
    if (signal?.aborted) throw abortedError(what, signal.reason);
    if (value !== undefined) return value as Exclude<T, undefined>;
    if (clock.now() >= deadline) {
      const seen = options.lastSeen?.();
      throw new HypervisorError(
        code,
        `${what} did not happen within ${timeoutMs} ms${seen ? `; last saw ${seen}` : ''}`,
        {
          details: { timedOut: true, what, timeoutMs },
        },
      );
    }
    await clock.sleep(intervalMs, signal);
  }
}
