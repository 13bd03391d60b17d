import { defaultStateDir } from '@cvmweb/core';
import type { CliIo } from '../cli-io.js';
import { loadDriverPlugins } from './load-driver-plugins.js';

/**
 * `io` for a command that picks a driver (`detect`, `serve`, `daemon`): its drivers are
 * `io.drivers(options.driver)` (the built-in ones; only the one named, when a command will use no
 * other) followed by the driver plug-ins of `CVMWEB_DRIVER_MODULES`
 * and `<state-dir>/config.json`, loaded once, resolved from `cwd` then the global install
 * (see `loadDriverPlugins`). Every such command thus chooses from the same list.
 *
 * @throws {HypervisorError} `INVALID_USAGE` (-99) or `IO` (-6) for a bad `config.json`.
 */
export async function withDriverPlugins(
  io: CliIo,
  options: { stateDir?: string; cwd?: string; driver?: string | undefined; signal?: AbortSignal } = {},
): Promise<CliIo> {
  const builtIn = await io.drivers(options.driver);
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
