/**
 * @cvmweb/daemon: idle-aware control of cvmweb sessions. Watches the user's
 * activity through a platform idle source and, per controlled session, lowers
 * the execution cap or pauses / hibernates the VM while the user is active and
 * gives the machine back when idle (the original plugin's `daemonMinCap`,
 * `daemonMaxCap`, `daemonFlags` table). Implements core's `Daemon` contract.
 *
 * A fake idle source for tests is under `@cvmweb/daemon/testing`.
 *
 * @packageDocumentation
 */
export {
  DAEMON_FILE,
  DAEMON_PID_FILE,
  type DaemonFileContent,
  DEFAULT_IDLE_TIME,
  type LastAction,
  readDaemonFile,
  validateIdleTime,
} from './daemon/daemon-file.js';
export {
  type ControlledSessionStatus,
  controlledSessions,
  type DaemonStatus,
} from './daemon/daemon-status.js';
export { IdleDaemon, type IdleDaemonEvents } from './daemon/idle-daemon.js';
export type { DaemonHost, IdleDaemonOptions } from './daemon/idle-daemon-options.js';
export { type SystemState, Timeline, type TimelineEvent } from './daemon/timeline.js';
export { combinedIdleSource } from './idle/combined-idle-source.js';
export type { IdleCommandRunner } from './idle/command-runner.js';
export { type HostLoadSourceOptions, hostLoadSource } from './idle/host-load-source.js';
export {
  formatReading,
  type IdleProbe,
  type IdleProbeStatus,
  type IdleReading,
  type IdleReadOptions,
  type IdleSource,
  isKnown,
} from './idle/idle-source.js';
export { type LogindIdleSourceOptions, logindIdleSource } from './idle/logind-idle-source.js';
export { type MacosIdleSourceOptions, macosIdleSource } from './idle/macos-idle-source.js';
export {
  defaultIdleSources,
  type IdleCandidate,
  type IdleSourcePick,
  type PickIdleSourceOptions,
  pickIdleSource,
  unavailableIdleSource,
} from './idle/pick-idle-source.js';
export { type WindowsIdleSourceOptions, windowsIdleSource } from './idle/windows-idle-source.js';
export { type X11IdleSourceOptions, x11IdleSource } from './idle/x11-idle-source.js';
export type { Direction, Hold, PlannedAction, PolicyMode } from './policy/daemon-policy.js';
