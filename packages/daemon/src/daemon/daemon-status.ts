import type { DaemonSettings, SessionRecord, SessionStateValue } from '@cvmweb/core';
import type { IdleReading } from '../idle/idle-source.js';
import type { IdleCandidate } from '../idle/pick-idle-source.js';
import { currentHold, describePolicy, type Hold } from '../policy/daemon-policy.js';
import type { LastAction } from './daemon-file.js';
import type { SystemState } from './timeline.js';

/** One controlled session in {@link DaemonStatus}. */
export interface ControlledSessionStatus {
  /** The session's id. */
  readonly id: string;
  /** The session's name, as its page or application asked for it. */
  readonly name: string;
  /** Who owns the session: `local` or a page's origin. */
  readonly scope: string;
  /** The session's state as recorded. */
  readonly state: SessionStateValue;
  /** True when the VM is saved to disk (the session is `Open`). */
  readonly hibernated: boolean;
  /** The execution cap applied now, in percent. */
  readonly executionCap: number;
  /** True when the user stopped the VM; the daemon then does not start it again. */
  readonly stoppedByUser: boolean;
  /** The session's daemon fields (controlled, caps, flags). */
  readonly settings: DaemonSettings;
  /** The policy in words. */
  readonly policy: string;
  /** What the daemon holds the session in (it paused or hibernated it). */
  readonly hold?: Hold;
  /** The daemon's last action on the session, if it took one. */
  readonly lastAction?: LastAction;
}

/** A snapshot of the daemon for `cvmweb daemon status`, the bridge and the timeline. */
export interface DaemonStatus {
  /** True while the daemon watches the user and applies policies. */
  readonly running: boolean;
  /** Where the daemon runs from: the file of the process hosting it. */
  readonly path: string;
  /** Seconds without input before the system counts as idle. */
  readonly idleTime: number;
  /** The idle source's name (`none` when nothing usable was found). */
  readonly source: string;
  /** How the source was chosen, when it was picked by probing. */
  readonly candidates?: readonly IdleCandidate[];
  /** The last reading, and when it was taken. */
  readonly reading?: IdleReading;
  /** When {@link DaemonStatus.reading} was taken, ms since the epoch on the daemon's clock. */
  readonly readAt?: number;
  /** Whether the user is active or idle now, as the daemon's hysteresis decided. */
  readonly system: SystemState;
  /** Every session the daemon controls. */
  readonly sessions: readonly ControlledSessionStatus[];
}

/** The controlled sessions of `records` with their policy, hold and last action (also for a daemon in another process). */
export function controlledSessions(
  records: readonly SessionRecord[],
  holds: ReadonlyMap<string, Hold> | Readonly<Record<string, Hold>>,
  lastActions: ReadonlyMap<string, LastAction> | Readonly<Record<string, LastAction>>,
): ControlledSessionStatus[] {
  const get = <T>(from: ReadonlyMap<string, T> | Readonly<Record<string, T>>, id: string): T | undefined =>
    from instanceof Map ? from.get(id) : (from as Readonly<Record<string, T>>)[id];
  return records
    .filter((r) => r.daemon.controlled)
    .sort((a, b) => a.createdAt - b.createdAt)
    .map((r) => {
      const hold = currentHold(r, get(holds, r.id));
      const lastAction = get(lastActions, r.id);
      return {
        id: r.id,
        name: r.name,
        scope: r.scope,
        state: r.state,
        hibernated: r.hibernated,
        executionCap: r.executionCap,
        stoppedByUser: r.stoppedByUser,
        settings: r.daemon,
        policy: describePolicy(r),
        ...(hold ? { hold } : {}),
        ...(lastAction ? { lastAction } : {}),
      };
    });
}
