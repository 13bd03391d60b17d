import type { Driver } from '@cvmweb/core';
import { mock } from '@cvmweb/driver-mock';

/**
 * The drivers this command knows, in order of preference on ties. The CLI is
 * the one place that names concrete drivers.
 */
export function knownDrivers(): Driver[] {
  return [mock()];
}
