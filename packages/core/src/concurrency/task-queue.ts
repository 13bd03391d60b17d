import { abortedError } from '../errors/hypervisor-error.js';

/** Options of a {@link TaskQueue} or a {@link KeyedQueue}. */
export interface TaskQueueOptions {
  /** How many tasks run at once (per key, for a {@link KeyedQueue}); default 1, a serial queue. */
  concurrency?: number;
}

/** Options of one queued task. */
export interface QueuedTaskOptions {
  /**
   * Abandons the task while it waits for its turn: it leaves the queue without running and the
   * call rejects at once with an aborted `CONTROL` (-3) error. Once the task runs, the signal is
   * the task's own business (pass it to the work the task does).
   */
  signal?: AbortSignal;
  /** Names the task in the aborted error's message (`<what> was aborted`); default `the task`. */
  what?: string;
}

interface Waiting {
  readonly start: () => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/**
 * A first-in first-out queue of async tasks that runs at most `concurrency` of them at once
 * (one by default). A task starts in the call that queues it when a place is free, otherwise
 * when an earlier task settles. A task's rejection goes to its own caller only: the tasks
 * after it run as usual. A waiting task whose signal aborts leaves the queue without running.
 *
 * This and {@link KeyedQueue} (one such queue per key) are the one queue of cvmweb: the
 * per-VM calls of the guarded driver, the writes of one session record, the manifest updates
 * of one cached image and a session's actions all go through them.
 */
export class TaskQueue {
  readonly #concurrency: number;
  readonly #waiting: Waiting[] = [];
  readonly #idle: (() => void)[] = [];
  #running = 0;

  constructor(options: TaskQueueOptions = {}) {
    this.#concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
  }

  /** Tasks running now. */
  get running(): number {
    return this.#running;
  }

  /** Tasks waiting for their turn. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** A task runs or waits. */
  get busy(): boolean {
    return this.#running > 0 || this.#waiting.length > 0;
  }

  /**
   * Runs `task` after the tasks queued before it, when a place is free, and settles as it does.
   *
   * @throws {HypervisorError} an aborted `CONTROL` (-3) error when `options.signal` fires
   *   before the task started; whatever `task` throws otherwise.
   */
  run<T>(task: () => Promise<T> | T, options: QueuedTaskOptions = {}): Promise<T> {
    const { signal, what = 'the task' } = options;
    if (signal?.aborted) return Promise.reject(abortedError(what, signal.reason));
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.#running++;
        let result: Promise<T>;
        try {
          result = Promise.resolve(task());
        } catch (error) {
          result = Promise.reject(error);
        }
        // The caller's promise settles and the next task starts in the same turn, so `busy`
        // is already up to date when the caller resumes.
        result.then(
          (value) => {
            resolve(value);
            this.#settled();
          },
          (error: unknown) => {
            reject(error);
            this.#settled();
          },
        );
      };
      if (this.#running < this.#concurrency && this.#waiting.length === 0) return start();
      const entry: Waiting = {
        start: () => {
          signal?.removeEventListener('abort', entry.onAbort);
          start();
        },
        signal,
        onAbort: () => {
          const index = this.#waiting.indexOf(entry);
          if (index < 0) return;
          this.#waiting.splice(index, 1);
          reject(abortedError(what, signal?.reason));
          if (!this.busy) this.#notifyIdle();
        },
      };
      signal?.addEventListener('abort', entry.onAbort, { once: true });
      this.#waiting.push(entry);
    });
  }

  /** Resolves when no task runs or waits (at once when the queue is idle already). */
  onIdle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #settled(): void {
    this.#running--;
    while (this.#running < this.#concurrency && this.#waiting.length > 0) this.#waiting.shift()?.start();
    if (!this.busy) this.#notifyIdle();
  }

  #notifyIdle(): void {
    for (const resolve of this.#idle.splice(0)) resolve();
  }
}
