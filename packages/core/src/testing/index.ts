/**
 * @cvmweb/core/testing: the driver conformance suite and test helpers.
 * Import only from test files; it loads vitest.
 *
 * @packageDocumentation
 */
export { ManualClock } from '../clock/clock.js';
export { TEST_SCRYPT_COST } from '../registry/owner-secret.js';
export { closeAndDispose } from './close-and-dispose.js';
export {
  type ConformanceOptions,
  type EventLog,
  record,
  runConformanceSuite,
  waitFor,
} from './conformance-suite.js';
