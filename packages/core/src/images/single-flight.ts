import type { ProgressListener } from '../action-options.js';
import { abortedError } from '../errors/hypervisor-error.js';

/** The work a {@link SingleFlight} shares: gets the shared signal and a progress sink for all callers. */
export type SharedTask<T> = (signal: AbortSignal, onProgress: ProgressListener) => Promise<T>;

/** Options of {@link SingleFlight.run}. */
export interface SingleFlightRunOptions {
  /** Cancels this caller's wait; the shared work stops only when every caller has aborted. */
  signal?: AbortSignal;
  /** Receives the shared work's progress, starting with the latest report when joining late. */
  onProgress?: ProgressListener;
  /** Names the work in the aborted error: `Downloading image 1.3`. */
  what: string;
}

interface Caller {
  readonly onProgress: ProgressListener | undefined;
}

interface Flight<T> {
  readonly controller: AbortController;
  readonly callers: Set<Caller>;
  promise: Promise<T>;
  settled: Promise<void>;
  /** Every caller aborted: the work is winding down and takes no new callers. */
  cancelled: boolean;
  last: [number, number, string] | undefined;
}

/**
 * Runs one task per key however many callers ask for it at once ("single flight"): every
 * caller of a key gets the same outcome and every caller's listener gets the progress.
 *
 * A caller aborting rejects that caller alone (an aborted `CONTROL` error); the task's own
 * signal fires only when every caller has aborted. A task started for a key whose previous
 * task was cancelled but is still winding down waits for it to finish first, so two tasks of
 * one key never run together (they would write the same files).
 */
export class SingleFlight<T> {
  readonly #flights = new Map<string, Flight<T>>();

  /** Joins the running task of `key`, or starts `task` for it. */
  run(key: string, task: SharedTask<T>, options: SingleFlightRunOptions): Promise<T> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortedError(options.what, signal.reason));
    let flight = this.#flights.get(key);
    if (flight === undefined || flight.cancelled) flight = this.#start(key, task, flight, options.what);
    return this.#join(flight, options);
  }

  /** True when a task of `key` runs and takes callers. */
  has(key: string): boolean {
    const flight = this.#flights.get(key);
    return flight !== undefined && !flight.cancelled;
  }

  #start(key: string, task: SharedTask<T>, previous: Flight<T> | undefined, what: string): Flight<T> {
    const controller = new AbortController();
    const flight: Flight<T> = {
      controller,
      callers: new Set(),
      promise: Promise.resolve() as Promise<never>,
      settled: Promise.resolve(),
      cancelled: false,
      last: undefined,
    };
    const broadcast: ProgressListener = (done, total, message) => {
      flight.last = [done, total, message];
      for (const caller of flight.callers) notify(caller.onProgress, flight.last);
    };
    flight.promise = (previous?.settled ?? Promise.resolve()).then(() => {
      if (controller.signal.aborted) throw abortedError(what, controller.signal.reason);
      return task(controller.signal, broadcast);
    });
    flight.settled = flight.promise.then(
      () => this.#forget(key, flight),
      () => this.#forget(key, flight),
    );
    this.#flights.set(key, flight);
    return flight;
  }

  #forget(key: string, flight: Flight<T>): void {
    if (this.#flights.get(key) === flight) this.#flights.delete(key);
  }

  #join(flight: Flight<T>, options: SingleFlightRunOptions): Promise<T> {
    const { signal, onProgress, what } = options;
    return new Promise<T>((resolve, reject) => {
      const caller: Caller = { onProgress };
      const cleanup = () => {
        flight.callers.delete(caller);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        cleanup();
        reject(abortedError(what, signal?.reason));
        if (flight.callers.size === 0) {
          flight.cancelled = true;
          flight.controller.abort(signal?.reason);
        }
      };
      flight.callers.add(caller);
      if (flight.last !== undefined) notify(onProgress, flight.last);
      signal?.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (value) => {
          cleanup();
          resolve(value);
        },
        (error: unknown) => {
          cleanup();
          reject(error);
        },
      );
    });
  }
}

function notify(listener: ProgressListener | undefined, report: [number, number, string]): void {
  try {
    listener?.(...report);
  } catch {
    // A listener's bug must not break the work other callers share.
  }
}
