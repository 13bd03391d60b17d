/** A request to stop a long-running command: SIGINT, SIGTERM or an abort. */
export interface StopRequest {
  /** Settles at the first SIGINT, SIGTERM or abort of the signal. */
  readonly requested: Promise<void>;
  /** Stops listening (the command is ending). */
  dispose(): void;
}

/**
 * Listens for SIGINT and SIGTERM (and `signal`) from now on. A command takes
 * it before it announces itself (pid file, start-up line), so a signal sent
 * the moment it is announced stops it cleanly instead of killing it.
 */
export function listenForStop(signal?: AbortSignal): StopRequest {
  let done: () => void = () => undefined;
  const requested = new Promise<void>((resolve) => {
    done = () => {
      dispose();
      resolve();
    };
  });
  const dispose = () => {
    process.off('SIGINT', done);
    process.off('SIGTERM', done);
    signal?.removeEventListener('abort', done);
  };
  process.on('SIGINT', done);
  process.on('SIGTERM', done);
  if (signal?.aborted) done();
  else signal?.addEventListener('abort', done, { once: true });
  return { requested, dispose };
}
