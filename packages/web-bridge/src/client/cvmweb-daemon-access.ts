import { HypervisorError } from '@cvmweb/core/browser';

/** The daemon's state as the service reports it to a page. @internal */
export interface DaemonState {
  readonly privileged: boolean;
  readonly isRunning: boolean;
  readonly isSystemIdle: boolean;
  readonly idleTime: number;
  readonly path: string | null;
}

/** Sends a `daemon` request. @internal */
export type DaemonControl = (action: 'start' | 'stop' | 'setIdleTime', seconds?: number) => Promise<void>;

/**
 * What `requestDaemonAccess` gives a page (the original plugin's daemon
 * object): everyone reads its state; privileged origins also control it.
 */
export class CVMWebDaemonAccess {
  readonly #state: DaemonState;
  readonly #control: DaemonControl;
  #idleTime: number;

  /** @internal Made by `CVMWebBridge.requestDaemonAccess`, the only way users get one. */
  static create(state: DaemonState, control: DaemonControl): CVMWebDaemonAccess {
    return new CVMWebDaemonAccess(state, control);
  }

  // Private: users get it from requestDaemonAccess(), and the shipped .d.ts says so.
  private constructor(state: DaemonState, control: DaemonControl) {
    this.#state = state;
    this.#control = control;
    this.#idleTime = state.idleTime;
  }

  /** Whether this origin is privileged (configured in the service's policy file). */
  get privileged(): boolean {
    return this.#state.privileged;
  }
  /** The daemon is running. */
  get isRunning(): boolean {
    return this.#state.isRunning;
  }
  /** The user's system is idle. */
  get isSystemIdle(): boolean {
    return this.#state.isSystemIdle;
  }
  /** Where the daemon runs; `null` unless privileged. */
  get path(): string | null {
    return this.#state.path;
  }

  /**
   * Seconds without input before the system counts as idle. Read-write for
   * privileged origins, as in the original plugin: the new value reads back at
   * once and is sent to the daemon ({@link CVMWebDaemonAccess.setIdleTime}); if
   * the daemon refuses it, the previous value comes back. Other origins get
   * `NOT_ALLOWED` (-10) thrown by the assignment.
   */
  get idleTime(): number {
    return this.#idleTime;
  }
  /** Asks the daemon for a new idle time in seconds (privileged origins only; others get `NOT_ALLOWED`). */
  set idleTime(seconds: number) {
    if (!this.#state.privileged) throw notPrivileged();
    void this.setIdleTime(seconds).catch(() => undefined);
  }

  /** Privileged: starts the daemon; others get `NOT_ALLOWED` (-10). */
  start(): Promise<void> {
    return this.#control('start');
  }

  /** Privileged: stops the daemon; others get `NOT_ALLOWED` (-10). */
  stop(): Promise<void> {
    return this.#control('stop');
  }

  /**
   * Privileged: changes {@link CVMWebDaemonAccess.idleTime} (seen at once,
   * restored if the daemon refuses); others get `NOT_ALLOWED` (-10).
   */
  setIdleTime(seconds: number): Promise<void> {
    if (!this.#state.privileged) return Promise.reject(notPrivileged());
    const previous = this.#idleTime;
    this.#idleTime = seconds;
    return this.#control('setIdleTime', seconds).catch((error: unknown) => {
      if (this.#idleTime === seconds) this.#idleTime = previous;
      throw error;
    });
  }
}

function notPrivileged(): HypervisorError {
  return new HypervisorError('NOT_ALLOWED', 'only privileged origins may change the daemon’s idle time', {
    details: { reason: 'privileged' },
  });
}
