/**
 * `@cvmweb/daemon/testing`: what tests of code that drives an `IdleDaemon` need: a
 * scriptable idle source whose idle time follows a (virtual) clock. No test framework is imported.
 *
 * @packageDocumentation
 */
export {
  type FakeIdleSource,
  type FakeIdleSourceOptions,
  fakeIdleSource,
} from './testing/fake-idle-source.js';
