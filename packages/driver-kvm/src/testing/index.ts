/**
 * `@cvmweb/driver-kvm/testing`: helpers of the tests that run on a real libvirt daemon (this
 * package's, the daemon's and the web bridge's): the test URI and pool, the test guest built from
 * Debian packages, a loopback file server for core's image cache, leftover checks and cleanup,
 * the shared lock that keeps a libvirtd restart apart from the other tests, and a private sshd.
 * No test framework is imported.
 *
 * @packageDocumentation
 */

export { qemuProcesses } from '@cvmweb/core/node';
export {
  type BootModel,
  buildDomainXml,
  type DiskModel,
  type DiskSource,
  type DomainModel,
} from '../domain-xml.js';
export type { VmMetadata } from '../vm-metadata.js';
export { LIBVIRT_LOCK, libvirtdRestartable, lockLibvirt, restartLibvirtd } from './libvirt-lock.js';
export {
  domState,
  leftovers,
  libvirtUnavailable,
  purgeLeftovers,
  purgeVms,
  REPO,
  TEST_POOL,
  TEST_POOL_PATH,
  TEST_URI,
  vcpuTimeMs,
  virshOut,
} from './libvirt-test-host.js';
export {
  FileServer,
  type GuestFiles,
  guestCache,
  guestEntries,
  waitForGuest,
} from './test-guest-images.js';
export { sshdUnavailable, startSshd, type TestSshd } from './test-sshd.js';
