/**
 * @cvmweb/daemon: idle-aware control of cvmweb sessions. Watches the user's
 * activity through a platform idle source and, per controlled session, lowers
 * the execution cap or pauses / hibernates the VM while the user is active and
 * gives the machine back when idle (the original plugin's `daemonMinCap`, `daemonMaxCap`,
 * `daemonFlags` table). Implements core's `Daemon` contract.
 *
 * @packageDocumentation
 */
export * from './daemon/daemon-file.js';
export * from './daemon/daemon-status.js';
export * from './daemon/idle-daemon.js';
export * from './daemon/idle-daemon-options.js';
export * from './daemon/timeline.js';
export * from './idle/combined-idle-source.js';
export type { IdleCommandRunner } from './idle/command-runner.js';
export * from './idle/host-load-source.js';
export * from './idle/idle-source.js';
export * from './idle/logind-idle-source.js';
export * from './idle/macos-idle-source.js';
export * from './idle/pick-idle-source.js';
export * from './idle/windows-idle-source.js';
export * from './idle/x11-idle-source.js';
export * from './policy/daemon-policy.js';
