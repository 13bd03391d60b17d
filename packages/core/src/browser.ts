/**
 * @cvmweb/core/browser: the part of core that runs in a browser (no Node built-ins): the error
 * class and its codes, the session states and the session's events, the daemon's flags and timeline entries. The web bridge's browser
 * client is built on it; everything here is also exported by `@cvmweb/core`.
 *
 * @packageDocumentation
 */
export { DaemonFlags } from './daemon/daemon-contract.js';
export type { DaemonSystemState, DaemonTimelineEntry } from './daemon/daemon-timeline.js';
export {
  ErrorCode,
  type ErrorCodeName,
  ErrorCodeNames,
  type ErrorCodeValue,
  errorCodeName,
  isErrorCode,
} from './errors/error-code.js';
export {
  abortedError,
  type ErrorDetails,
  HypervisorError,
  type HypervisorErrorOptions,
  isHypervisorError,
  toHypervisorError,
} from './errors/hypervisor-error.js';
export {
  type ActionErrorArgs,
  type ActionErrorEvent,
  type OriginalEventName,
  originalEventNames,
  type SessionEvents,
} from './session/session-events.js';
export {
  isSessionState,
  SessionState,
  type SessionStateName,
  type SessionStateValue,
  sessionStateName,
} from './state/session-state.js';
