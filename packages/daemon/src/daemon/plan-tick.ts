import type { SessionRecord } from '@cvmweb/core';
import { currentHold, type Hold, type PlannedAction, planAction } from '../policy/daemon-policy.js';
import type { LastAction } from './daemon-file.js';
import type { SystemState } from './timeline.js';

/** What one pass of the daemon plans from. */
export interface TickInput {
  /** The controlled sessions. */
  readonly records: readonly SessionRecord[];
  /** The system now. */
  readonly system: SystemState;
  /** Now, on the daemon's clock. */
  readonly at: number;
  /** Sessions with a VM get a refresh when nothing else is planned for them. */
  readonly refreshDue: boolean;
  /** Least time after the daemon's last action on a session before a restore or a retry, ms. */
  readonly minActionIntervalMs: number;
  /** The daemon's holds: brought up to date in place (see {@link planTick}). */
  readonly holds: Map<string, Hold>;
  /** The daemon's last action per session. */
  readonly lastActions: ReadonlyMap<string, LastAction>;
  /** A session with an action of the daemon in flight: left alone this pass. */
  busy(id: string): boolean;
}

/** One action to launch, with the hold the session had before the plan. */
export interface Launch {
  readonly record: SessionRecord;
  readonly plan: PlannedAction;
  readonly previousHold: Hold | undefined;
}

/** What one pass decided. */
export interface TickPlan {
  /** Actions to launch, in the order of the records. */
  readonly launches: readonly Launch[];
  /** Sessions only to refresh from the hypervisor. */
  readonly refreshes: readonly SessionRecord[];
  /** The holds changed: `daemon.json` must be written before the actions run. */
  readonly holdsChanged: boolean;
  /** When the first action held back by the minimum interval may run, ms from `at`. */
  readonly retryInMs?: number;
}

/**
 * Plans one pass of the daemon: the policy's action for each controlled session (see
 * {@link planAction}), except on a session with an action in flight, and except a restore or
 * a retry less than `minActionIntervalMs` after the daemon's last action on it. Yielding to
 * the user is never delayed. While the system is unknown nothing is planned but refreshes.
 *
 * The holds are updated in place: a hold that no longer matches its session is forgotten,
 * and a planned pause or hibernation is recorded as a hold before it runs (so a crash in
 * between is recoverable); {@link undoHolds} takes those back when the actions will not run.
 */
export function planTick(input: TickInput): TickPlan {
  const { holds, at } = input;
  const launches: Launch[] = [];
  const refreshes: SessionRecord[] = [];
  let holdsChanged = false;
  let retryInMs: number | undefined;
  for (const record of input.records) {
    if (input.busy(record.id)) continue;
    const stored = holds.get(record.id);
    const hold = currentHold(record, stored);
    if (hold !== stored) {
      if (hold) holds.set(record.id, hold);
      else holds.delete(record.id);
      holdsChanged = true;
    }
    const plan = input.system === 'unknown' ? undefined : planAction(record, input.system === 'idle', hold);
    if (!plan) {
      if (input.refreshDue && record.vmId) refreshes.push(record);
      continue;
    }
    const last = input.lastActions.get(record.id);
    if (last && (plan.direction === 'restore' || !last.ok) && at - last.at < input.minActionIntervalMs) {
      const wait = Math.max(1, last.at + input.minActionIntervalMs - at);
      retryInMs = Math.min(retryInMs ?? wait, wait);
      continue;
    }
    launches.push({ record, plan, previousHold: hold });
    if (plan.action === 'pause' || plan.action === 'hibernate') {
      holds.set(record.id, plan.action === 'pause' ? 'paused' : 'hibernated');
      holdsChanged = true;
    }
  }
  return { launches, refreshes, holdsChanged, ...(retryInMs !== undefined ? { retryInMs } : {}) };
}

/** Takes back the holds {@link planTick} recorded for `launches` that will not run. */
export function undoHolds(launches: readonly Launch[], holds: Map<string, Hold>): void {
  for (const { record, previousHold } of launches) {
    if (previousHold) holds.set(record.id, previousHold);
    else holds.delete(record.id);
  }
}
