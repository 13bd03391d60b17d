import type { ActionOptions } from '../action-options.js';
import type { Hypervisor, VmSummary } from '../driver/driver.js';
import type { DamagedRecord } from './damaged-record.js';
import type { SessionRecord } from './session-record.js';

/** What {@link SessionRegistry.reconcile} found and did. */
export interface ReconcileReport {
  /** VMs of ours (listed by the driver) that no session record knows. Left alone unless `removeOrphans`. */
  readonly orphans: readonly VmSummary[];
  /** Orphans that were removed because `removeOrphans` was set. */
  readonly removed: readonly VmSummary[];
  /** Sessions whose VM no longer exists: now `Closed`, with `vmId` cleared. */
  readonly vanished: readonly SessionRecord[];
  /** Sessions whose recorded state differed from the VM's: updated to the VM's truth. */
  readonly updated: readonly SessionRecord[];
  /** Sessions whose interrupted `open` (crash mid-open) was rolled back: VM removed, now `Closed`. */
  readonly rolledBack: readonly SessionRecord[];
  /**
   * VMs of ours that belong to a damaged record ({@link SessionRegistry.damaged}: by its session
   * id, or a salvaged `vmId` or `vmName`): kept as they are, never orphans, until the record is
   * repaired or removed.
   */
  readonly kept: readonly VmSummary[];
}

/** Options of {@link SessionRegistry.reconcile}. */
export interface ReconcileOptions extends ActionOptions {
  /** Remove orphan VMs instead of only reporting them. */
  removeOrphans?: boolean;
}

/**
 * The persisted set of sessions. Reads are synchronous from memory; every
 * write is persisted atomically before its promise resolves, so a process
 * killed at any moment leaves either the old or the new record, never a torn one.
 */
export interface SessionRegistry {
  /** Where the records live (`undefined` for an in-memory registry). */
  readonly directory: string | undefined;
  /** Every record. */
  list(): SessionRecord[];
  /** One record by id. */
  get(id: string): SessionRecord | undefined;
  /** The record of `name` in `scope`. */
  find(scope: string, name: string): SessionRecord | undefined;
  /**
   * The record files that could not be loaded (empty for an in-memory registry). Each keeps its
   * session id, its VM and its name reserved until a person repairs or removes it: `put` refuses
   * them with `INVALID_STATE` (details `reason: 'damaged-record'`).
   */
  damaged(): readonly DamagedRecord[];
  /** Creates or replaces a record, durably. */
  put(record: SessionRecord, options?: ActionOptions): Promise<void>;
  /** Deletes a record, durably. Deleting an unknown id resolves. */
  delete(id: string, options?: ActionOptions): Promise<void>;
  /**
   * Compares the records of `hypervisor`'s driver with the hypervisor's own list of our VMs
   * and repairs the records (see {@link ReconcileReport}). Never touches a VM the driver does
   * not list as ours.
   */
  reconcile(hypervisor: Hypervisor, options?: ReconcileOptions): Promise<ReconcileReport>;
  /** Releases the lock. Later writes reject with `INVALID_STATE`. */
  close(): Promise<void>;
}
