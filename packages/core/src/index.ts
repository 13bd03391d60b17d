/**
 * @cvmweb/core: what an application and a driver author use: the entry point
 * and its sessions, their options, events and errors, the session states and
 * the table of legal actions, the driver contract, detection, the session
 * registry, the image catalog and cache, and the daemon contract.
 *
 * The conformance suite and test helpers are under `@cvmweb/core/testing`;
 * the Node helpers cvmweb's own packages share under `@cvmweb/core/node`; the
 * browser-safe part (errors, codes, states) under `@cvmweb/core/browser`.
 *
 * @packageDocumentation
 */

// Options of every asynchronous call.
export type { ActionOptions, ProgressListener, ProgressOptions } from './action-options.js';
// Errors and their codes, session states and events, the daemon's flags: the browser-safe part.
export * from './browser.js';
export { type Clock, systemClock } from './clock/clock.js';
export { MAX_USER_DATA_BYTES } from './context/build-context-medium.js';
export type { ContextFormat, ContextMedium } from './context/context-medium.js';
// The entry point and its sessions.
export { createCvmweb } from './create-cvmweb.js';
export { Cvmweb } from './cvmweb.js';
export type {
  CvmwebEvents,
  CvmwebOptions,
  CvmwebWarning,
  RequestSessionOptions,
} from './cvmweb-options.js';
// The daemon contract.
export {
  type Daemon,
  type DaemonAccess,
  daemonAccess,
  defaultDaemonSettings,
  knownDaemonFlags,
  validateDaemonSettings,
} from './daemon/daemon-contract.js';
export type { DaemonSystemState, DaemonTimelineEntry } from './daemon/daemon-timeline.js';
// Detection.
export {
  type Candidate,
  DEFAULT_DETECT_CACHE_TTL_MS,
  DEFAULT_PROBE_TIMEOUT_MS,
  type Detection,
  type DetectionOverride,
  type DetectOptions,
  DRIVER_ENV_VARIABLE,
  detect,
  type OverrideSource,
} from './detector/index.js';
// The driver contract.
export type {
  ApiEndpoint,
  DisplayEndpoint,
  Driver,
  DriverCapabilities,
  Hypervisor,
  ProbeResult,
  StartSpec,
  StopCause,
  VmHandle,
  VmPowerState,
  VmSpec,
  VmSummary,
} from './driver/driver.js';
export type { GuardedHypervisor, GuardedVm } from './driver/guarded-driver.js';
export { type EventMap, type Listener, TypedEmitter } from './events/typed-emitter.js';
export type { ApiWatchTiming } from './guest/api-watcher.js';
export {
  GUEST_REPORT_PATH,
  GUEST_SPIN_PATH,
  type GuestContext,
  type GuestReport,
  parseGuestReport,
} from './guest/guest-report.js';
// Images.
export {
  type CachedFileRole,
  type CachedImage,
  type ImageActionOptions,
  ImageCache,
  type ImageCacheOptions,
  type PruneOptions,
  type PruneResult,
} from './images/image-cache.js';
export {
  CERNVM_RELEASES_URL,
  cernvmImageUrl,
  DEFAULT_IMAGE_ENTRIES,
  type DiskFormat,
  ImageCatalog,
  type ImageCatalogLoadOptions,
  type ImageCatalogOptions,
  type ImageEntry,
  validateImageEntry,
} from './images/image-catalog.js';
export type { ImageKind, ImageSource, ResolvedImage } from './images/image-source.js';
export { defaultCacheDir, defaultStateDir } from './paths/default-paths.js';
export type { DamagedRecord, DamageReason, SalvagedFields } from './registry/damaged-record.js';
export { type OpenSessionRegistryOptions, openSessionRegistry } from './registry/file-session-registry.js';
export type { RegistryWarningListener } from './registry/load-records.js';
export { createMemorySessionRegistry } from './registry/memory-session-registry.js';
export { DEFAULT_SCRYPT_COST, type ScryptCost } from './registry/owner-secret.js';

// The session registry.
export type {
  DaemonSettings,
  OwnerHash,
  PendingAction,
  Requirements,
  SessionRecord,
} from './registry/session-record.js';
export type { ReconcileOptions, ReconcileReport, SessionRegistry } from './registry/session-registry.js';
export { PROGRESS_TOTAL } from './session/progress-counter.js';
export {
  defaultRequirements,
  executionCapLimits,
  requirementLimits,
  validateExecutionCap,
  validateRequirements,
  versionPattern,
} from './session/requirements.js';
export { Session } from './session/session.js';
export {
  maxSessionNameLength,
  propertyLimits,
  validatePropertyKey,
  validatePropertyValue,
  validateSessionName,
} from './session/session-names.js';
export type { SessionActionOptions, StartOptions } from './session/session-options.js';
export { type ActionRule, actionTable, isLegal, type SessionAction } from './state/action-table.js';
