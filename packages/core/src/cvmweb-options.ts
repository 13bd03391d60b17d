import type { ActionOptions } from './action-options.js';
import type { Clock } from './clock/clock.js';
import type { Daemon } from './daemon/daemon-contract.js';
import type { Driver } from './driver/driver.js';
import type { ApiWatchTiming } from './guest/api-watcher.js';
import type { ImageCache } from './images/image-cache.js';
import type { DamagedRecord } from './registry/damaged-record.js';
import type { ScryptCost } from './registry/owner-secret.js';
import type { SessionRegistry } from './registry/session-registry.js';
import type { Session } from './session/session.js';

/** The user's image catalog in the state directory: `{ "images": [ImageEntry, …] }`. */
export const USER_CATALOG_FILE = 'images.json';

/** Options of {@link createCvmweb}. */
export interface CvmwebOptions extends ActionOptions {
  /** Use exactly this driver; no detection. */
  driver?: Driver;
  /** Candidates for detection when `driver` is not given. */
  drivers?: readonly Driver[];
  /** Name of the candidate to use (overrides detection and `CVMWEB_DRIVER`). */
  prefer?: string;
  /** Used when detection finds no usable driver (the mock driver, typically); {@link Cvmweb.fallback} says so. */
  fallback?: Driver;
  /** State directory (registry, VM files); default {@link defaultStateDir}. */
  stateDir?: string;
  /** The session registry; default a file registry in `stateDir`. */
  registry?: SessionRegistry;
  /**
   * The image cache; default one in {@link defaultCacheDir} whose catalog is the built-in
   * entries plus the user's own in `<stateDir>/images.json` ({@link USER_CATALOG_FILE}).
   */
  images?: ImageCache;
  /** Clock for delays and polls; default the system clock. */
  clock?: Clock;
  /** scrypt cost for new secrets; default N=16384, r=8, p=1. */
  secretCost?: ScryptCost;
  /** Timing of the API watch. */
  apiTiming?: ApiWatchTiming;
  /** Longest ACPI shutdown before `stop()` forces the power off. */
  stopTimeoutMs?: number;
  /** The daemon, when one runs in this process. */
  daemon?: Daemon;
  /** Environment for detection; default `process.env`. */
  env?: Record<string, string | undefined>;
  /**
   * Receives every {@link CvmwebWarning}: those found while creating the instance (each damaged
   * session record, before `createCvmweb` resolves) and, afterwards, each `warning` event.
   */
  onWarning?: (warning: CvmwebWarning) => void;
}

/**
 * Something the owner of this computer should fix, though cvmweb keeps working: for now, a
 * damaged session record (see {@link DamagedRecord}; `cvmweb sessions` lists them too).
 */
export interface CvmwebWarning {
  /** What is wrong and what stays reserved, in one line. */
  readonly message: string;
  /** The damaged record this is about. */
  readonly damaged?: DamagedRecord;
  /** VMs of the hypervisor kept for it (reported by {@link Cvmweb.reconcile}). */
  readonly keptVms?: readonly string[];
}

/** Options of {@link Cvmweb.requestSession}. */
export interface RequestSessionOptions extends ActionOptions {
  /** Who asks: `local` (default) or a page's origin. Sessions of one scope are invisible to others. */
  scope?: string;
}

/** Events of the entry point. */
export interface CvmwebEvents {
  /** A session object came to life (requested or re-attached). */
  session: [session: Session];
  /**
   * Something the owner should fix: {@link Cvmweb.reconcile} reports each damaged session
   * record again, with the VMs it keeps for it. (Those found while creating the instance go to
   * {@link CvmwebOptions.onWarning}, which also receives these events.)
   */
  warning: [warning: CvmwebWarning];
}
