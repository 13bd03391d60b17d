import { type QueuedTaskOptions, TaskQueue, type TaskQueueOptions } from './task-queue.js';

/**
 * One {@link TaskQueue} per key: the tasks of one key run in call order, at most
 * `concurrency` (default 1) at once, while different keys run independently. A key's queue
 * exists only while it has work, so the map does not grow with the keys ever used.
 */
export class KeyedQueue<K = string> {
  readonly #options: TaskQueueOptions;
  readonly #queues = new Map<K, TaskQueue>();
  readonly #idle: (() => void)[] = [];

  constructor(options: TaskQueueOptions = {}) {
    this.#options = { ...options };
  }

  /** Keys with a task running or waiting. */
  get size(): number {
    return this.#queues.size;
  }

  /** A task of `key` runs or waits. */
  busy(key: K): boolean {
    return this.#queues.has(key);
  }

  /**
   * Runs `task` after the tasks of `key` queued before it; see {@link TaskQueue.run}.
   *
   * @throws {HypervisorError} an aborted `CONTROL` (-3) error when `options.signal` fires
   *   before the task started; whatever `task` throws otherwise.
   */
  run<T>(key: K, task: () => Promise<T> | T, options?: QueuedTaskOptions): Promise<T> {
    let queue = this.#queues.get(key);
    if (queue === undefined) {
      queue = new TaskQueue(this.#options);
      this.#queues.set(key, queue);
    }
    const result = queue.run(task, options);
    const owned = queue;
    if (owned.busy) {
      void owned.onIdle().then(() => this.#forget(key, owned));
    } else {
      this.#forget(key, owned);
    }
    return result;
  }

  /** Resolves when no key has a task running or waiting. */
  onIdle(): Promise<void> {
    if (this.#queues.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #forget(key: K, queue: TaskQueue): void {
    if (queue.busy || this.#queues.get(key) !== queue) return;
    this.#queues.delete(key);
    if (this.#queues.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }
}
