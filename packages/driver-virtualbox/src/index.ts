/**
 * @cvmweb/driver-virtualbox: the cvmweb driver for Oracle VirtualBox (6.1 or later), through
 * `VBoxManage`.
 *
 * @packageDocumentation
 */
export type { ProbeEnvironment } from './probe.js';
export type { LockRetry } from './vboxmanage.js';
export { MINIMUM_VERSION } from './version-parser.js';
export { type VirtualBoxOptions, virtualbox } from './virtualbox.js';
