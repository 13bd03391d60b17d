import { HypervisorError } from '../errors/hypervisor-error.js';
import { SessionState, type SessionStateValue, sessionStateName } from './session-state.js';

/** Every action a session can take (the original plugin's functions). */
export type SessionAction =
  | 'open'
  | 'start'
  | 'pause'
  | 'resume'
  | 'stop'
  | 'hibernate'
  | 'reset'
  | 'close'
  | 'setExecutionCap'
  | 'setProperty'
  | 'getProperty';

/** How one action moves a session: where it may start, what it passes through, where it lands. */
export interface ActionRule {
  /** States in which the action is legal. Anywhere else it rejects with `INVALID_STATE` and changes nothing. */
  readonly from: readonly SessionStateValue[];
  /** The transient state shown while the action runs, if any. */
  readonly via?: SessionStateValue;
  /** The state after success; `'same'` keeps the state the action started in. */
  readonly to: SessionStateValue | 'same';
  /** The state after a failure; `'same'` restores the state the action started in. */
  readonly onFailure: SessionStateValue | 'same';
}

const { Closed, Opening, Open, Starting, Started, Error: Failed, Paused } = SessionState;
const withVm = [Open, Started, Paused, Failed] as const;
/** Every state an action can start in (the transient ones never are). */
const anyStable = [Closed, ...withVm] as const;

/**
 * The one table of legal actions. Actions of a session run one at a time, so
 * the transient states `Opening` and `Starting` are never the state an action
 * starts in.
 *
 * | action | legal in | while running | success | failure |
 * |---|---|---|---|---|
 * | open | Closed | Opening | Open | Closed (nothing left behind) |
 * | start | Open, Error | Starting | Started | Error |
 * | pause | Started | – | Paused | unchanged |
 * | resume | Paused | – | Started | unchanged |
 * | stop | Started, Paused, Error | – | Open | unchanged |
 * | hibernate | Started, Paused | – | Open (hibernated) | unchanged |
 * | reset | Started | – | Started | unchanged |
 * | close | Open, Started, Paused, Error | – | Closed | Error |
 * | setExecutionCap, setProperty, getProperty | Closed, Open, Started, Paused, Error | – | unchanged | unchanged |
 *
 * Properties and the execution cap live in the session registry, so they work in every state: a
 * page that lost its VM still reads and writes them. Without a VM a property is only stored, and
 * an execution cap is recorded and applied by the next `open()` (the driver's `executionCap`
 * capability is still required).
 */
export const actionTable: Readonly<Record<SessionAction, ActionRule>> = Object.freeze({
  open: { from: [Closed], via: Opening, to: Open, onFailure: Closed },
  start: { from: [Open, Failed], via: Starting, to: Started, onFailure: Failed },
  pause: { from: [Started], to: Paused, onFailure: 'same' },
  resume: { from: [Paused], to: Started, onFailure: 'same' },
  stop: { from: [Started, Paused, Failed], to: Open, onFailure: 'same' },
  hibernate: { from: [Started, Paused], to: Open, onFailure: 'same' },
  reset: { from: [Started], to: Started, onFailure: 'same' },
  close: { from: withVm, to: Closed, onFailure: Failed },
  setExecutionCap: { from: anyStable, to: 'same', onFailure: 'same' },
  setProperty: { from: anyStable, to: 'same', onFailure: 'same' },
  getProperty: { from: anyStable, to: 'same', onFailure: 'same' },
} satisfies Record<SessionAction, ActionRule>);

/** All actions, in table order. */
export const sessionActions = Object.keys(actionTable) as readonly SessionAction[];

/** True when `action` is legal in `state`. */
export function isLegal(action: SessionAction, state: SessionStateValue): boolean {
  return actionTable[action].from.includes(state);
}

/** The state after `action` succeeds (`ok`) or fails, starting from `state`. */
export function landingState(
  action: SessionAction,
  state: SessionStateValue,
  ok: boolean,
): SessionStateValue {
  const rule = actionTable[action];
  const target = ok ? rule.to : rule.onFailure;
  return target === 'same' ? state : target;
}

/** Throws `INVALID_STATE` when `action` is not legal in `state`. */
export function assertLegal(action: SessionAction, state: SessionStateValue): void {
  if (!isLegal(action, state)) {
    throw new HypervisorError(
      'INVALID_STATE',
      `${action}() is not valid while the session is ${sessionStateName(state)}`,
      { details: { action, state, legalIn: actionTable[action].from } },
    );
  }
}
