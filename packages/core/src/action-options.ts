/** Options every asynchronous method of the contract accepts, last. */
export interface ActionOptions {
  /** Cancels the call. A driver must stop work, remove what the call half-made, and reject. */
  signal?: AbortSignal;
}

/** A progress report: `done` of `total` steps finished, and what happens now. */
export type ProgressListener = (done: number, total: number, message: string) => void;

/** {@link ActionOptions} for long actions, which report progress steps. */
export interface ProgressOptions extends ActionOptions {
  /**
   * Receives `(done, total, message)` for each step of a long action. The message can reach a
   * web page through the bridge: say what happens in words, never a path, command line or secret.
   */
  onProgress?: ProgressListener;
  /** Receives one line for each hypervisor command the driver runs (the original plugin's `debug` event). */
  onDebug?: (message: string) => void;
}
