/**
 * The states of a session (the original plugin's state constants). The numbers are a public contract.
 *
 * There is no separate "hibernated" number: a hibernated session is in state
 * `Open` (2) with `session.hibernated === true`, and the next `start()` restores
 * the saved machine instead of booting it. Pages written for the original plugin see the
 * states they know.
 */
export const SessionState = {
  /** The session is closed: call `open()`. No VM exists. */
  Closed: 0,
  /** `open()` is running; the VM is being created. */
  Opening: 1,
  /** The VM exists and is powered off (or hibernated): call `start()`. */
  Open: 2,
  /** `start()` is running. */
  Starting: 3,
  /** The VM is running: `pause()`, `reset()`, `stop()`, `hibernate()` are possible. */
  Started: 4,
  /** Starting or closing the VM failed; `start()`, `stop()` or `close()` recover. */
  Error: 5,
  /** The VM exists and is paused: `resume()`, `stop()`, `hibernate()` are possible. */
  Paused: 6,
} as const;

/** A numeric session state, 0–6. */
export type SessionStateValue = (typeof SessionState)[keyof typeof SessionState];

/** The symbolic name of a state, such as `'Started'`. */
export type SessionStateName = keyof typeof SessionState;

const names = Object.fromEntries(Object.entries(SessionState).map(([k, v]) => [v, k])) as Record<
  SessionStateValue,
  SessionStateName
>;

/** The name of a numeric state, such as `'Paused'` for 6. */
export function sessionStateName(state: SessionStateValue): SessionStateName {
  return names[state];
}

/** True when `value` is one of the seven declared states. */
export function isSessionState(value: unknown): value is SessionStateValue {
  return typeof value === 'number' && Object.hasOwn(names, value);
}
