/** What `requestDaemonAccess` gives a page (seed: the daemon object). */
export interface CVMWebDaemonAccess {
  /** Whether this origin is privileged (configured in the service's policy file). */
  readonly privileged: boolean;
  /** The daemon is running. */
  readonly isRunning: boolean;
  /** The user's system is idle. */
  readonly isSystemIdle: boolean;
  /** Seconds without input before the system counts as idle. */
  readonly idleTime: number;
  /** Where the daemon runs; `null` unless privileged. */
  readonly path: string | null;
  /** Privileged: starts the daemon; others get `NOT_ALLOWED` (-10). */
  start(): Promise<void>;
  /** Privileged: stops the daemon; others get `NOT_ALLOWED` (-10). */
  stop(): Promise<void>;
  /** Privileged: changes `idleTime`; others get `NOT_ALLOWED` (-10). */
  setIdleTime(seconds: number): Promise<void>;
}
