import type { SessionStateValue } from '../state/session-state.js';

/** Arguments of the original plugin's `<action>Error` events: a message for people and the numeric code. */
export type ActionErrorArgs = [message: string, code: number];

/**
 * The typed events of a session: the original plugin's events, with their names and
 * argument orders, plus `reset`, `resetError` and `stateChanged`.
 */
export interface SessionEvents {
  /** `open()` finished: the VM exists. */
  open: [];
  /** `start()` finished: the VM runs. */
  start: [];
  /** `close()` finished: the VM and its files are gone. */
  close: [];
  /** `pause()` finished. */
  pause: [];
  /** `resume()` finished. */
  resume: [];
  /** `stop()` finished: the VM is powered off. */
  stop: [];
  /** `hibernate()` finished: the VM's memory is saved and it is off. */
  hibernate: [];
  /** `reset()` finished. */
  reset: [];
  /** `open()` failed. */
  openError: ActionErrorArgs;
  /** `start()` failed. */
  startError: ActionErrorArgs;
  /** `close()` failed. */
  closeError: ActionErrorArgs;
  /** `pause()` failed. */
  pauseError: ActionErrorArgs;
  /** `resume()` failed. */
  resumeError: ActionErrorArgs;
  /** `stop()` failed. */
  stopError: ActionErrorArgs;
  /** `hibernate()` failed. */
  hibernateError: ActionErrorArgs;
  /** `reset()` failed. */
  resetError: ActionErrorArgs;
  /**
   * A step of a long action: `done` of `total`, and what happens now. Each action has one counter:
   * `total` is always `PROGRESS_TOTAL` (100) and `done` never goes back within the action, ending
   * at `total` when it succeeds; the steps of a driver (an image download, its own sub-steps) are
   * mapped into their part of it.
   */
  progress: [done: number, total: number, message: string];
  /**
   * Any failure, including ones no action reported. `category` is the action's name, or
   * `'session'` for a failure nobody asked for: a VM that crashed (the session is `Error`), was
   * powered off from outside when the driver can tell (`VmHandle.stopCause`; `Open`), vanished
   * (`Closed`), a hypervisor that cannot be asked any more, a crash found by reconcile. A guest
   * that powers itself off cleanly is no failure: only `stateChanged` fires.
   */
  error: [message: string, code: number, category: string];
  /** The VM's API answers: the guest's address and the URL to reach it from this host. */
  apiAvailable: [ip: string, apiURL: string];
  /** The VM's API stopped answering. */
  apiUnavailable: [];
  /**
   * One line about what happens inside (each hypervisor command). When a start fails or the
   * VM's API never answers (`ApiWatchTiming.screenshotAfterMs`), and the driver has the
   * `screenshot` capability, one such line comes with the VM's screen as a
   * `data:image/png;base64,…` URL (at most 1 MiB of PNG).
   */
  debug: [message: string, screenshot?: string];
  /** The session's state changed (not in the original plugin; every transition fires it exactly once). */
  stateChanged: [state: SessionStateValue, previous: SessionStateValue];
  /**
   * The session's persisted record changed: state, execution cap, properties, daemon fields
   * or user data (not in the original plugin); or a setter's requested value began to show, or was
   * withdrawn because the setter failed. Read the new values from the session's properties; a
   * bridge uses it to keep remote copies current.
   */
  changed: [];
}

/** The names of the original plugin's `<action>Error` events, by action. */
export type ActionErrorEvent =
  | 'openError'
  | 'startError'
  | 'closeError'
  | 'pauseError'
  | 'resumeError'
  | 'stopError'
  | 'hibernateError'
  | 'resetError';

/**
 * The original plugin's event names (plus `reset` and `resetError`), in the
 * order of its table: what a compatibility layer (the browser client, a
 * recorder in tests) forwards. `stateChanged` is not among them.
 */
export const originalEventNames = [
  'open',
  'start',
  'close',
  'pause',
  'resume',
  'stop',
  'hibernate',
  'reset',
  'openError',
  'startError',
  'closeError',
  'pauseError',
  'resumeError',
  'stopError',
  'hibernateError',
  'resetError',
  'progress',
  'error',
  'apiAvailable',
  'apiUnavailable',
  'debug',
] as const satisfies readonly (keyof SessionEvents)[];

/** One of {@link originalEventNames}. */
export type OriginalEventName = (typeof originalEventNames)[number];

/** Fires one of the session's events. @internal */
export type EmitSessionEvent = <K extends keyof SessionEvents>(event: K, ...args: SessionEvents[K]) => void;
