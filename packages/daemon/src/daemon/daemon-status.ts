import type { DaemonSettings, SessionRecord, SessionStateValue } from '@cvmweb/core';
import type { IdleReading } from '../idle/idle-source.js';
import type { IdleCandidate } from '../idle/pick-idle-source.js';
import { currentHold, describePolicy, type Hold } from '../policy/daemon-policy.js';
import type { LastAction } from './daemon-file.js';
import type { SystemState } from './timeline.js';

/** One controlled session in {@link DaemonStatus}. */
export interface ControlledSessionStatus {
  readonly id: string;
  readonly name: string;
  readonly scope: string;
  readonly state: SessionStateValue;
  readonly hibernated: boolean;
  readonly executionCap: number;
  readonly stoppedByUser: boolean;
  readonly settings: DaemonSettings;
  /** The policy in words. */
  readonly policy: string;
  /** What the daemon holds the session in (it paused or hibernated it). */
  readonly hold?: Hold;
  readonly lastAction?: LastAction;
}

/** A snapshot of the daemon for `cvmweb daemon status`, the bridge and the timeline. */
export interface DaemonStatus {
  readonly running: boolean;
  readonly path: string;
  readonly idleTime: number;
  /** The idle source's name (`none` when nothing usable was found). */
  readonly source: string;
  /** How the source was chosen, when it was picked by probing. */
  readonly candidates?: readonly IdleCandidate[];
  /** The last reading, and when it was taken. */
  readonly reading?: IdleReading;
  readonly readAt?: number;
  readonly system: SystemState;
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
