import { watchParent } from './parent-watch.js';

/** Why a long-running command stops: a signal, the end of its parent process, or an abort. */
export type StopReason = 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'parent-exit' | 'abort';

/** A request to stop a long-running command: SIGINT, SIGTERM, SIGHUP, the parent's end or an abort. */
export interface StopRequest {
  /** Settles at the first SIGINT, SIGTERM, SIGHUP, end of the parent process or abort of the signal. */
  readonly requested: Promise<StopReason>;
  /** Stops listening (the command is ending). */
  dispose(): void;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Listens for SIGINT, SIGTERM and SIGHUP, for the end of the parent process (see
 * {@link watchParent}) and for `signal`, from now on. A command takes it before it announces
 * itself (pid file, start-up line), so a signal sent the moment it is announced stops it cleanly
 * instead of killing it. A stop asked for this way is a success: the command exits 0.
 */
export function listenForStop(signal?: AbortSignal): StopRequest {
  let done: (reason: StopReason) => void = () => undefined;
  const requested = new Promise<StopReason>((resolve) => {
    done = (reason) => {
      dispose();
      resolve(reason);
    };
  });
  const handlers = SIGNALS.map((name) => [name, () => done(name)] as const);
  const onAbort = () => done('abort');
  const stopWatching = watchParent(() => done('parent-exit'));
  const dispose = () => {
    for (const [name, handler] of handlers) process.off(name, handler);
    signal?.removeEventListener('abort', onAbort);
    stopWatching();
  };
  for (const [name, handler] of handlers) process.on(name, handler);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return { requested, dispose };
}
