/**
 * @cvmweb/core/testing: the driver conformance suite and test helpers.
 * Import only from test files; it loads vitest.
 *
 * @packageDocumentation
 */
export { ManualClock } from '../clock/clock.js';
export { type GuestAnswer, guestGet } from '../guest/guest-get.js';
export { TEST_SCRYPT_COST } from '../registry/owner-secret.js';
export { closeAndDispose } from './close-and-dispose.js';
export type { ConformanceOptions, GuestObservationOptions } from './conformance-options.js';
export { runConformanceSuite } from './conformance-suite.js';
export { dependantSignals } from './dependant-signals.js';
export { type EventLog, record, waitFor } from './event-log.js';
export { FastClock } from './fast-clock.js';
export { GuestObserver } from './guest-observer.js';
export * from './guest-tolerances.js';
