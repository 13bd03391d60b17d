import { pathToFileURL } from 'node:url';
import { abortedError, type Driver, HypervisorError, toHypervisorError } from '@cvmweb/core';
import { driverFromModule } from './driver-from-module.js';
import { type DriverModuleEntry, driverModuleList } from './driver-module-list.js';
import { failedDriverModule } from './failed-driver-module.js';
import { resolveDriverModule } from './resolve-driver-module.js';

/** Options of {@link loadDriverPlugins}. */
export interface LoadDriverPluginsOptions {
  /** Where `CVMWEB_DRIVER_MODULES` (and npm's prefix) is read. */
  env: NodeJS.ProcessEnv;
  /** The working directory: modules are resolved from here first. */
  cwd: string;
  /** The state directory, where `config.json` is read. */
  stateDir: string;
  /** Names already taken (the built-in drivers'): a plug-in driver with one of them is refused. */
  taken?: readonly string[];
  /** `node_modules` directories searched after the working directory's (default: cvmweb's own, then npm's global one). */
  globalDirs?: readonly string[];
  /** Cancels loading between modules. */
  signal?: AbortSignal;
}

/**
 * Loads the driver modules named in `CVMWEB_DRIVER_MODULES` and `<state-dir>/config.json`, in
 * that order, and returns one driver per module. A module that cannot be found, fails to load,
 * exports no driver, or whose driver's name is taken (by a built-in driver or an earlier module)
 * becomes a stand-in driver that probes as not installed or not healthy, with the reason
 * ({@link failedDriverModule}), so detection lists it instead of failing. A module listed twice
 * (the same file) is loaded once.
 *
 * @throws {HypervisorError} what {@link driverModuleList} throws for a bad `config.json`; an
 *   aborted `CONTROL` (-3) error when `signal` fires.
 */
export async function loadDriverPlugins(options: LoadDriverPluginsOptions): Promise<Driver[]> {
  const { signal } = options;
  const entries = await driverModuleList({
    env: options.env,
    cwd: options.cwd,
    stateDir: options.stateDir,
    ...(signal ? { signal } : {}),
  });
  const taken = new Set(options.taken ?? []);
  const files = new Set<string>();
  const drivers: Driver[] = [];
  for (const entry of entries) {
    if (signal?.aborted) throw abortedError('Loading driver modules', signal.reason);
    let file: string | undefined;
    try {
      file = resolveDriverModule(entry.specifier, {
        baseDir: entry.baseDir,
        cwd: options.cwd,
        env: options.env,
        ...(options.globalDirs ? { globalDirs: options.globalDirs } : {}),
      });
      if (files.has(file)) continue;
      files.add(file);
      const driver = await loadDriver(entry, file);
      if (taken.has(driver.name)) {
        throw new HypervisorError(
          'NOT_VALIDATED',
          `Driver module ${entry.specifier}: its driver is named '${driver.name}', as another driver is`,
          { details: { specifier: entry.specifier, driver: driver.name } },
        );
      }
      taken.add(driver.name);
      drivers.push(driver);
    } catch (error) {
      const failure = toHypervisorError(error, 'EXTERNAL', `Driver module ${entry.specifier} failed`, {
        specifier: entry.specifier,
      });
      drivers.push(failedDriverModule(entry, failure, file));
    }
  }
  return drivers;
}

async function loadDriver(entry: DriverModuleEntry, file: string): Promise<Driver> {
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new HypervisorError(
      'EXTERNAL',
      `Driver module ${entry.specifier} failed to load: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error, details: { specifier: entry.specifier } },
    );
  }
  return driverFromModule(namespace, entry.specifier);
}
