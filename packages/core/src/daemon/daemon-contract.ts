import type { ActionOptions } from '../action-options.js';
import { HypervisorError } from '../errors/hypervisor-error.js';
import type { DaemonSettings } from '../registry/session-record.js';

/** The original plugin's `daemonFlags` bits. */
export const DaemonFlags = {
  /** Hibernate the VM instead of pausing it when `daemonMinCap` is 0. */
  DF_SUSPEND: 0x1,
  /** Start the VM when the system is idle if it is shut down. */
  DF_AUTOSTART: 0x2,
} as const;

/** Every flag bit this version knows; other bits are refused. */
export const knownDaemonFlags = DaemonFlags.DF_SUSPEND | DaemonFlags.DF_AUTOSTART;

/** A session's daemon policy before it is enabled: not controlled, caps 0–100 (the original plugin's defaults). */
export const defaultDaemonSettings: DaemonSettings = Object.freeze({
  controlled: false,
  minCap: 0,
  maxCap: 100,
  flags: 0,
});

/**
 * Validates a change to a session's daemon fields, merged over `current`.
 * Caps are integers 0–100 with `minCap ≤ maxCap` (when `minCap` is 0 the
 * original plugin ignores `maxCap`, so then any 0–100 value is accepted), and `flags`
 * may only use the bits of {@link DaemonFlags}. Refusals are `INVALID_USAGE`
 * with `details.field` set to `daemonControlled`, `daemonMinCap`,
 * `daemonMaxCap` or `daemonFlags`.
 */
export function validateDaemonSettings(
  change: Partial<DaemonSettings>,
  current: DaemonSettings,
): DaemonSettings {
  const next = { ...current, ...change };
  if (typeof next.controlled !== 'boolean')
    throw usage('daemonControlled', 'daemonControlled must be true or false');
  for (const [field, value] of [
    ['daemonMinCap', next.minCap],
    ['daemonMaxCap', next.maxCap],
  ] as const) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 100) {
      throw usage(field, `${field} must be an integer from 0 to 100`);
    }
  }
  if (next.minCap > 0 && next.minCap > next.maxCap) {
    throw usage('daemonMinCap', 'daemonMinCap may not be above daemonMaxCap');
  }
  if (
    typeof next.flags !== 'number' ||
    !Number.isInteger(next.flags) ||
    next.flags < 0 ||
    next.flags & ~knownDaemonFlags
  ) {
    throw usage('daemonFlags', 'daemonFlags may only combine DF_SUSPEND (0x1) and DF_AUTOSTART (0x2)');
  }
  return next;
}

/**
 * The idle-aware daemon as the entry point and the web bridge see it
 * (implemented by `@cvmweb/daemon`). Field names are the original plugin's.
 */
export interface Daemon {
  /** The daemon is watching the system and controlling sessions. */
  readonly isRunning: boolean;
  /** The user has given no input for at least `idleTime` seconds (false while unknown). */
  readonly isSystemIdle: boolean;
  /** Seconds without input before the system counts as idle (default 30). */
  readonly idleTime: number;
  /** Where the daemon runs: its program path, or `in-process`. */
  readonly path: string;
  /** Changes {@link Daemon.idleTime} (integer seconds, 1–86400). */
  setIdleTime(seconds: number, options?: ActionOptions): Promise<void>;
  /** Starts controlling sessions. */
  start(options?: ActionOptions): Promise<void>;
  /** Stops controlling sessions (they keep their current state). */
  stop(options?: ActionOptions): Promise<void>;
}

/**
 * What `requestDaemonAccess()` gives a caller: everyone may read `isRunning`,
 * `isSystemIdle` and `idleTime`; only a privileged caller may read `path`,
 * change `idleTime`, `start()` and `stop()`. For others `path` is `undefined`
 * and the rest rejects with `NOT_ALLOWED` (-10), as the original plugin says.
 */
export interface DaemonAccess {
  /** Whether this caller has the privileged controls. */
  readonly privileged: boolean;
  /** See {@link Daemon.isRunning}. */
  readonly isRunning: boolean;
  /** See {@link Daemon.isSystemIdle}. */
  readonly isSystemIdle: boolean;
  /** See {@link Daemon.idleTime}. */
  readonly idleTime: number;
  /** See {@link Daemon.path}; `undefined` unless privileged. */
  readonly path: string | undefined;
  /** Privileged: see {@link Daemon.setIdleTime}. */
  setIdleTime(seconds: number, options?: ActionOptions): Promise<void>;
  /** Privileged: see {@link Daemon.start}. */
  start(options?: ActionOptions): Promise<void>;
  /** Privileged: see {@link Daemon.stop}. */
  stop(options?: ActionOptions): Promise<void>;
}

/** Wraps `daemon` in the access rules of the original plugin for a caller that is or is not privileged. */
export function daemonAccess(daemon: Daemon, privileged: boolean): DaemonAccess {
  const denied = (what: string) =>
    Promise.reject(
      new HypervisorError('NOT_ALLOWED', `${what} needs a privileged origin`, { details: { what } }),
    );
  return {
    privileged,
    get isRunning() {
      return daemon.isRunning;
    },
    get isSystemIdle() {
      return daemon.isSystemIdle;
    },
    get idleTime() {
      return daemon.idleTime;
    },
    get path() {
      return privileged ? daemon.path : undefined;
    },
    setIdleTime: (seconds, options) =>
      privileged ? daemon.setIdleTime(seconds, options) : denied('setting idleTime'),
    start: (options) => (privileged ? daemon.start(options) : denied('start()')),
    stop: (options) => (privileged ? daemon.stop(options) : denied('stop()')),
  };
}

function usage(field: string, message: string): HypervisorError {
  return new HypervisorError('INVALID_USAGE', message, { details: { field } });
}
