import type { SessionAction } from '../state/action-table.js';
import type { SessionStateValue } from '../state/session-state.js';

/** The salted hash of a session's secret key. The key itself is never stored. */
export interface OwnerHash {
  /** Always `scrypt`. */
  readonly algorithm: 'scrypt';
  /** Per-session random salt, base64. */
  readonly salt: string;
  /** The derived key, base64. */
  readonly hash: string;
  /** scrypt cost parameter N. */
  readonly N: number;
  /** scrypt block size r. */
  readonly r: number;
  /** scrypt parallelism p. */
  readonly p: number;
}

/** The original plugin's daemon fields of one session. */
export interface DaemonSettings {
  /** The daemon manages this session. */
  readonly controlled: boolean;
  /** Execution cap while the user is active (0: pause or hibernate instead). */
  readonly minCap: number;
  /** Execution cap while the user is idle. */
  readonly maxCap: number;
  /** Bit mask of `DF_*` flags. */
  readonly flags: number;
}

/** A session's resource requirements (the original plugin's `open()` argument), validated. */
export interface Requirements {
  /** Virtual CPUs. */
  readonly cpus: number;
  /** Memory, MiB. */
  readonly ram: number;
  /** Scratch disk, MiB. */
  readonly disk: number;
  /** Image version (catalog key). */
  readonly version: string;
}

/** A hypervisor step in flight, written before the step and cleared after it, so a crash is recoverable. */
export interface PendingAction {
  /** The action under way. */
  readonly action: SessionAction;
  /** When it began (ms since the epoch). */
  readonly since: number;
}

/**
 * One persisted session: the registry's truth about ownership, requirements,
 * user data, properties and daemon policy. The hypervisor is the truth about
 * the VM itself; `state` is the last state core knew.
 */
export interface SessionRecord {
  /** Stable id (UUID v4). */
  readonly id: string;
  /** Who may see the session: `local` for Node applications, the page's origin for the web bridge. */
  readonly scope: string;
  /** The user-facing name given to `requestSession()`. */
  readonly name: string;
  /** The derived hypervisor-side VM name. */
  readonly vmName: string;
  /** The salted hash of the owner's secret key. */
  readonly owner: OwnerHash;
  /** Requirements of the last `open()` (defaults until then). */
  readonly requirements: Requirements;
  /**
   * No longer written: the registry keeps no user data, so no expanded placeholder (a password
   * passed as a value) rests in it. A record of an earlier version may hold the expanded user
   * data of its last `start()`; the session's next `start()` uses it once (when the VM's own
   * directory has no copy) and drops it.
   */
  readonly userData?: string;
  /** Session properties (`setProperty`). */
  readonly properties: Readonly<Record<string, string>>;
  /** Daemon policy. */
  readonly daemon: DaemonSettings;
  /** Current execution cap, 1–100. */
  readonly executionCap: number;
  /** The driver's VM id while a VM exists. */
  readonly vmId?: string;
  /** The driver that owns the VM. */
  readonly driver?: string;
  /** Last known state. */
  readonly state: SessionStateValue;
  /** The VM's memory is saved; the next start restores it. */
  readonly hibernated: boolean;
  /** The user's own last action stopped, paused, hibernated or closed the VM (see `Session.stoppedByUser`). */
  readonly stoppedByUser: boolean;
  /** A hypervisor step in flight. */
  readonly pending?: PendingAction;
  /** Creation time, ms since the epoch. */
  readonly createdAt: number;
  /** Last change, ms since the epoch. */
  readonly updatedAt: number;
}
