import { DaemonFlags, type SessionRecord, SessionState } from '@cvmweb/core';

/** What the daemon itself did to a session and must undo when the user goes away: it paused or hibernated it. */
export type Hold = 'paused' | 'hibernated';

/** One action of the daemon on one session. */
export type PlannedAction =
  | {
      /** Set the execution cap. */
      readonly action: 'setExecutionCap';
      /** The cap to set, in percent. */
      readonly cap: number;
      /** Whether it gives the machine to the user or to the VM. */
      readonly direction: Direction;
      /** Why the policy chose it, in words. */
      readonly why: string;
    }
  | {
      /** The session action to run. */
      readonly action: 'pause' | 'resume' | 'hibernate' | 'start';
      /** Whether it gives the machine to the user or to the VM. */
      readonly direction: Direction;
      /** Why the policy chose it, in words. */
      readonly why: string;
    };

/**
 * `yield`: gives the machine back to the user (lower cap, pause, hibernate),
 * done at once. `restore`: gives it to the VM (raise cap, resume, start), done
 * only after the idle state has settled and the session's minimum interval passed.
 */
export type Direction = 'yield' | 'restore';

/** How a session's policy makes the VM behave (the original plugin's table). */
export type PolicyMode = 'cap' | 'pause' | 'suspend';

/** The row of the original plugin's table a session's settings select. */
export function policyMode(record: Pick<SessionRecord, 'daemon'>): PolicyMode {
  if (record.daemon.minCap > 0) return 'cap';
  return record.daemon.flags & DaemonFlags.DF_SUSPEND ? 'suspend' : 'pause';
}

/** A one-line description of a session's policy, for status output. */
export function describePolicy(record: Pick<SessionRecord, 'daemon'>): string {
  const { minCap, maxCap, flags } = record.daemon;
  const mode = policyMode(record);
  const base =
    mode === 'cap'
      ? `cap ${minCap}% active / ${maxCap}% idle`
      : mode === 'pause'
        ? 'pause while active, resume when idle'
        : 'hibernate while active, start when idle';
  return flags & DaemonFlags.DF_AUTOSTART ? `${base}; autostart when idle` : base;
}

/** Forgets a hold that no longer matches the session (the user resumed, started or closed it). */
export function currentHold(record: SessionRecord, hold: Hold | undefined): Hold | undefined {
  if (hold === 'paused') return record.state === SessionState.Paused ? hold : undefined;
  if (hold === 'hibernated')
    return record.state === SessionState.Open && record.hibernated ? hold : undefined;
  return undefined;
}

/**
 * The original plugin's table as a pure function: what the daemon should do to `record`
 * now that the system is `idle` (true) or active (false), given what the
 * daemon itself did before (`hold`, see {@link currentHold}). `undefined`: nothing.
 *
 * | minCap | flags | active | idle |
 * |---|---|---|---|
 * | > 0 | – | cap = minCap | cap = maxCap |
 * | 0 | – | pause | resume (only what the daemon paused) |
 * | 0 | DF_SUSPEND | hibernate | start (only what the daemon hibernated) |
 * | any | DF_AUTOSTART | – | start an `Open` (powered-off or hibernated) VM, even one the user stopped |
 *
 * Decisions where the original plugin is silent:
 * - The daemon only undoes what it did: a VM the user paused or hibernated by
 *   hand stays so (except that DF_AUTOSTART starts a hibernated one when idle).
 *   A VM the user stopped or closed (`stoppedByUser`) is never started except by DF_AUTOSTART.
 * - DF_AUTOSTART applies to `Open` sessions only: a `Closed` session has no VM
 *   to start, and an `Error` session is left for the user (restarting a failing VM in a loop helps nobody).
 * - A session paused by the daemon whose policy then becomes DF_SUSPEND is
 *   hibernated while active; one whose policy became a cap is resumed.
 * - Transient states (`Opening`, `Starting`) and sessions with an action in flight are left alone.
 */
export function planAction(
  record: SessionRecord,
  idle: boolean,
  hold: Hold | undefined,
): PlannedAction | undefined {
  if (!record.daemon.controlled || record.pending) return undefined;
  const mode = policyMode(record);
  const autostart = (record.daemon.flags & DaemonFlags.DF_AUTOSTART) !== 0;
  const held = currentHold(record, hold);
  switch (record.state) {
    case SessionState.Started: {
      if (mode === 'cap') {
        const cap = idle ? record.daemon.maxCap : record.daemon.minCap;
        if (record.executionCap === cap) return undefined;
        return {
          action: 'setExecutionCap',
          cap,
          direction: cap < record.executionCap ? 'yield' : 'restore',
          why: idle ? 'system idle: maxCap' : 'system active: minCap',
        };
      }
      if (idle) return undefined;
      return mode === 'pause'
        ? { action: 'pause', direction: 'yield', why: 'system active: pause' }
        : { action: 'hibernate', direction: 'yield', why: 'system active: hibernate (DF_SUSPEND)' };
    }
    case SessionState.Paused: {
      if (held !== 'paused') return undefined;
      if (mode === 'suspend' && !idle)
        return { action: 'hibernate', direction: 'yield', why: 'system active: hibernate (DF_SUSPEND)' };
      if (idle || mode === 'cap')
        return { action: 'resume', direction: 'restore', why: 'system idle: resume' };
      return undefined;
    }
    case SessionState.Open: {
      if (!idle) return undefined;
      if (held === 'hibernated' && !record.stoppedByUser)
        return { action: 'start', direction: 'restore', why: 'system idle: start the hibernated VM' };
      if (autostart)
        return { action: 'start', direction: 'restore', why: 'system idle: start (DF_AUTOSTART)' };
      return undefined;
    }
    default:
      return undefined;
  }
}
