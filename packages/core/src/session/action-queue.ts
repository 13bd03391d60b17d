import { TaskQueue } from '../concurrency/task-queue.js';

/**
 * Runs a session's actions one at a time, in call order. A queued action whose signal aborts
 * leaves the queue at once and rejects with `CONTROL` (-3) and `aborted: true`, changing nothing.
 * @internal
 */
export class ActionQueue {
  readonly #queue = new TaskQueue();

  /** An action is running or queued. */
  get busy(): boolean {
    return this.#queue.busy;
  }

  /** Runs `run` after every action queued before it. */
  enqueue<T>(signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
    return this.#queue.run(run, { signal, what: 'the action' });
  }
}
