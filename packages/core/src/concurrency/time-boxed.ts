import { type Clock, systemClock } from '../clock/clock.js';

/** How a {@link timeBoxed} call ended: its value, or why there is none. */
export type TimeBoxedOutcome<T> =
  | {
      /** The work settled in time. */
      readonly ok: true;
      /** What the work resolved with. */
      readonly value: T;
    }
  | {
      /** The work did not settle in time, was aborted, or threw. */
      readonly ok: false;
      /** `timeout`: the time box ran out; `aborted`: the caller's signal fired; `failed`: the work threw. */
      readonly why: 'timeout' | 'aborted' | 'failed';
      /** The `TimeoutError`, the signal's reason, or what the work threw. */
      readonly error: unknown;
    };

/** Options of {@link timeBoxed}. */
export interface TimeBoxOptions {
  /** The time box, ms. */
  timeoutMs: number;
  /** Whose timer measures it. Default the system clock. */
  clock?: Clock;
  /** The caller's signal: when it fires the work is aborted and the call ends at once. */
  signal?: AbortSignal;
}

/**
 * Runs `work` with a signal of its own, aborted when the caller's `signal` fires or when
 * `timeoutMs` passed on `clock`; work that ignores its signal is abandoned at that moment
 * (its late result is dropped). Never rejects: the outcome says how it ended.
 *
 * The work's signal is wired to the caller's by one listener, and the timer is a sleep of
 * the clock; both are removed when the call ends. No `AbortSignal.any()` over the caller's
 * signal: with a long-lived one (the daemon's stop signal) each composed signal would stay
 * attached to it for its whole life (nodejs/node#55351).
 */
export async function timeBoxed<T>(
  work: (signal: AbortSignal) => Promise<T>,
  options: TimeBoxOptions,
): Promise<TimeBoxedOutcome<T>> {
  const { timeoutMs, clock = systemClock, signal } = options;
  if (signal?.aborted) return { ok: false, why: 'aborted', error: signal.reason };
  const controller = new AbortController();
  const timer = new AbortController();
  let cut!: (outcome: TimeBoxedOutcome<T>) => void;
  const cutShort = new Promise<TimeBoxedOutcome<T>>((resolve) => {
    cut = resolve;
  });
  // The outcome is settled before the work's signal fires, so a work that rejects on abort loses the race.
  const onAbort = () => {
    cut({ ok: false, why: 'aborted', error: signal?.reason });
    controller.abort(signal?.reason);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  clock.sleep(timeoutMs, timer.signal).then(() => {
    const error = new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError');
    cut({ ok: false, why: 'timeout', error });
    controller.abort(error);
  }, noop);
  let running: Promise<T>;
  try {
    running = work(controller.signal);
  } catch (error) {
    running = Promise.reject(error);
  }
  try {
    return await Promise.race([
      running.then(
        (value): TimeBoxedOutcome<T> => ({ ok: true, value }),
        (error: unknown): TimeBoxedOutcome<T> => ({ ok: false, why: 'failed', error }),
      ),
      cutShort,
    ]);
  } finally {
    timer.abort();
    signal?.removeEventListener('abort', onAbort);
  }
}

function noop(): void {}
