/**
 * `@cvmweb/daemon/testing`: what tests of code that drives an `IdleDaemon` need: a
 * scriptable idle source whose idle time follows a (virtual) clock. No test framework is imported.
 *
 * @packageDocumentation
 */
export * from './testing/fake-idle-source.js';
