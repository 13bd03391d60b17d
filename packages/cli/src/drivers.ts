import type { Driver } from '@cvmweb/core';
import { kvm } from '@cvmweb/driver-kvm';
import { mock } from '@cvmweb/driver-mock';
import { qemu } from '@cvmweb/driver-qemu';
import { virtualbox } from '@cvmweb/driver-virtualbox';

/**
 * The drivers this command knows, in order of preference on equal scores. The
 * CLI is the one place that names concrete drivers. The mock scores 0, so it is
 * used only when named (`--driver mock`, `CVMWEB_DRIVER=mock`) or as `--fallback mock`.
 */
export function knownDrivers(): Driver[] {
  return [kvm(), qemu(), virtualbox(), mock()];
}
