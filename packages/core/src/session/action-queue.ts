import { abortedError } from '../errors/hypervisor-error.js';

interface Queued {
  readonly run: () => Promise<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/**
 * Runs a session's actions one at a time, in call order. A queued action whose signal aborts
 * leaves the queue at once and rejects with `CONTROL` (-3) and `aborted: true`, changing nothing.
 * @internal
 */
export class ActionQueue {
  #queue: Queued[] = [];
  #running = false;

  /** An action is running or queued. */
  get busy(): boolean {
    return this.#running || this.#queue.length > 0;
  }

  /** Runs `run` after every action queued before it. */
  enqueue<T>(signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortedError('the action', signal.reason));
    return new Promise<T>((resolve, reject) => {
      const entry: Queued = {
        run,
        resolve: resolve as (value: unknown) => void,
        reject,
        signal,
        onAbort: () => {
          const index = this.#queue.indexOf(entry);
          if (index >= 0) {
            this.#queue.splice(index, 1);
            reject(abortedError('the action', signal?.reason));
          }
        },
      };
      signal?.addEventListener('abort', entry.onAbort, { once: true });
      this.#queue.push(entry);
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      for (let entry = this.#queue.shift(); entry; entry = this.#queue.shift()) {
        entry.signal?.removeEventListener('abort', entry.onAbort);
        try {
          entry.resolve(await entry.run());
        } catch (error) {
          entry.reject(error);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
