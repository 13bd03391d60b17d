/**
 * `@cvmweb/core/node`: the Node-only building blocks cvmweb's drivers, daemon, bridge and core
 * itself share, one copy of each: the serial queue ({@link TaskQueue}, {@link KeyedQueue}),
 * the abortable {@link sleep} and {@link abortable} wait, the condition poll ({@link waitUntil}), one HTTP request to a guest ({@link guestGet}), the time box ({@link timeBoxed}), the process runner
 * ({@link createProcessRunner}) and the loopback port reservation
 * ({@link reserveFreeLoopbackPort}), the screen-dump converter ({@link screenImageToPng}), the process check ({@link isProcessAlive}), the host's KVM check ({@link detectAcceleration}) and the QEMU processes of a VM ({@link qemuProcesses}). Browser code never imports this entry.
 *
 * @packageDocumentation
 */

export { type SleepOptions, sleep } from './clock/sleep.js';
export { type WaitUntilOptions, waitUntil } from './clock/wait-until.js';
export { abortable } from './concurrency/abortable.js';
export { KeyedQueue } from './concurrency/keyed-queue.js';
export { type QueuedTaskOptions, TaskQueue, type TaskQueueOptions } from './concurrency/task-queue.js';
export { type TimeBoxedOutcome, type TimeBoxOptions, timeBoxed } from './concurrency/time-boxed.js';
export {
  ISO9660_SECTOR_SIZE,
  type Iso9660File,
  type Iso9660Options,
  MAX_ISO9660_IMAGE_BYTES,
  writeIso9660,
} from './context/iso9660-writer.js';
export { USER_CATALOG_FILE } from './cvmweb-options.js';
export { formatDetectionTable } from './detector/format-detection-table.js';
export { isPng, ppmToPng, screenImageToPng } from './display/screen-image.js';
export {
  authenticateVnc,
  newVncPassword,
  RFB_SECURITY_NONE,
  RFB_SECURITY_VNC,
  RFB_VERSION,
  SocketReader,
  vncAuthResponse,
} from './display/vnc-auth.js';
export {
  type ReadRegularFileOptions,
  type RegularFileRead,
  readRegularFile,
} from './files/read-regular-file.js';
export { type WriteFileAtomicOptions, writeFileAtomic } from './files/write-file-atomic.js';
export { type GuestAnswer, guestGet } from './guest/guest-get.js';
export {
  type AccelerationFacts,
  type AccelerationPaths,
  detectAcceleration,
} from './host/detect-acceleration.js';
export { qemuProcesses } from './host/qemu-processes.js';
export {
  isLoopbackPortFree,
  releaseLoopbackPort,
  reservedLoopbackPorts,
  reserveFreeLoopbackPort,
  reserveLoopbackPort,
} from './net/loopback-port.js';
export { isProcessAlive } from './process/is-process-alive.js';
export {
  describeEnding,
  firstLine,
  formatCommand,
  type ProcessEnding,
  type ProcessFailureDetails,
  type ProcessResult,
  processError,
  processResult,
} from './process/process-result.js';
export {
  createProcessRunner,
  DEFAULT_PROCESS_TIMEOUT_MS,
  type LongRunningProcess,
  type ProcessRunner,
  type ProcessRunnerOptions,
  type RunProcessOptions,
  type SpawnProcessOptions,
} from './process/process-runner.js';
export { describeDamagedRecord } from './registry/damaged-record.js';
export { deriveVmName } from './session/session-names.js';
export { formatTable } from './text/format-table.js';
