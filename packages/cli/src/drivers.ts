import type { Driver } from '@cvmweb/core';

/**
 * The drivers this command knows, in order of preference on equal scores, each loaded (its
 * module imported) only when asked for. The CLI is the one place that names concrete drivers.
 * The mock scores 0, so it is used only when named (`--driver mock`, `CVMWEB_DRIVER=mock`) or as
 * `--fallback mock`.
 */
const BUILT_IN: ReadonlyArray<readonly [string, () => Promise<Driver>]> = [
  ['kvm', async () => (await import('@cvmweb/driver-kvm')).kvm()],
  ['qemu', async () => (await import('@cvmweb/driver-qemu')).qemu()],
  ['virtualbox', async () => (await import('@cvmweb/driver-virtualbox')).virtualbox()],
  ['mock', async () => (await import('@cvmweb/driver-mock')).mock()],
];

/**
 * The built-in drivers. Given `name` (`--driver`, `CVMWEB_DRIVER`) of one of them, only that one:
 * the others' modules are not even loaded. Every one otherwise, a name no built-in driver has
 * included (it may be a plug-in's, or unknown: detection then says which names it knows).
 */
export async function knownDrivers(name?: string): Promise<Driver[]> {
  const wanted = name?.trim().toLowerCase();
  const named = BUILT_IN.filter(([driverName]) => driverName === wanted);
  return Promise.all((named.length > 0 ? named : BUILT_IN).map(([, load]) => load()));
}
