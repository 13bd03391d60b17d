/**
 * @cvmweb/core: the contracts and machinery every cvmweb package composes:
 * errors, session states and actions, the driver contract and its runtime
 * guard, sessions, the entry point, detection, the session registry, the
 * image cache and the context-media writer.
 *
 * @packageDocumentation
 */

export * from './api/api-watcher.js';
export * from './api/probe-api.js';
export * from './clock/clock.js';
export * from './context/build-context-medium.js';
export * from './context/cernvm-context.js';
export * from './context/cloud-init-seed.js';
export type * from './context/context-iso-layout.js';
export * from './context/context-medium.js';
export * from './context/expand-placeholders.js';
export * from './context/iso9660-writer.js';
export * from './create-cvmweb.js';
export * from './cvmweb.js';
export * from './daemon/daemon-contract.js';
export * from './detector/index.js';
export * from './driver/driver.js';
export * from './driver/guarded-driver.js';
export * from './errors/error-code.js';
export * from './errors/hypervisor-error.js';
export * from './events/typed-emitter.js';
export * from './files/read-regular-file.js';
export * from './files/write-file-atomic.js';
export * from './guest/guest-report.js';
export * from './images/image-cache.js';
export * from './images/image-catalog.js';
export * from './images/image-source.js';
export * from './paths/default-paths.js';
export {
  type DamagedRecord,
  type DamageReason,
  describeDamagedRecord,
  type SalvagedFields,
} from './registry/damaged-record.js';
export * from './registry/file-session-registry.js';
export type { RegistryWarningListener } from './registry/load-records.js';
export * from './registry/memory-session-registry.js';
export * from './registry/owner-secret.js';
export * from './registry/session-record.js';
export * from './registry/session-registry.js';
export { PROGRESS_TOTAL } from './session/progress-counter.js';
export * from './session/requirements.js';
export * from './session/session.js';
export * from './session/session-events.js';
export * from './session/session-names.js';
export * from './session/session-options.js';
export * from './state/action-table.js';
export * from './state/power-state.js';
export * from './state/session-state.js';
export * from './text/format-table.js';
