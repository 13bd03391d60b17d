import { type Driver, defaultStateDir } from '@cvmweb/core';
import { kvm } from '@cvmweb/driver-kvm';
import { mock } from '@cvmweb/driver-mock';
import { qemu } from '@cvmweb/driver-qemu';
import { virtualbox } from '@cvmweb/driver-virtualbox';
import type { CliIo } from './cli-io.js';
import { loadDriverPlugins } from './plugins/load-driver-plugins.js';

/**
 * The drivers this command knows, in order of preference on equal scores. The
 * CLI is the one place that names concrete drivers. The mock scores 0, so it is
 * used only when named (`--driver mock`, `CVMWEB_DRIVER=mock`) or as `--fallback mock`.
 */
export function knownDrivers(): Driver[] {
  return [kvm(), qemu(), virtualbox(), mock()];
}

/**
 * `io` for a command that picks a driver (`detect`, `serve`, `daemon`): its drivers are
 * `io.drivers()` (the built-in ones) followed by the driver plug-ins of `CVMWEB_DRIVER_MODULES`
 * and `<state-dir>/config.json`, loaded once, resolved from `cwd` then the global install
 * (see `loadDriverPlugins`). Every such command thus chooses from the same list.
 *
 * @throws {HypervisorError} `INVALID_USAGE` (-99) or `IO` (-6) for a bad `config.json`.
 */
export async function withDriverPlugins(
  io: CliIo,
  options: { stateDir?: string; cwd?: string; signal?: AbortSignal } = {},
): Promise<CliIo> {
  const builtIn = io.drivers();
  const plugins = await loadDriverPlugins({
    env: io.env,
    cwd: options.cwd ?? process.cwd(),
    stateDir: options.stateDir ?? defaultStateDir(io.env),
    taken: builtIn.map((driver) => driver.name),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const drivers = [...builtIn, ...plugins];
  return { ...io, drivers: () => drivers };
}
