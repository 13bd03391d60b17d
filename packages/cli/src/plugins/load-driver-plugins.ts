import { pathToFileURL } from 'node:url';
import {
  abortedError,
  type Clock,
  DEFAULT_PROBE_TIMEOUT_MS,
  type Driver,
  HypervisorError,
  systemClock,
  toHypervisorError,
} from '@cvmweb/core';
import { timeBoxed } from '@cvmweb/core/node';
import { driverFromModule } from './driver-from-module.js';
import { type DriverModuleEntry, driverModuleList } from './driver-module-list.js';
import { failedDriverModule } from './failed-driver-module.js';
import { importModule } from './import-module.js';
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
  /**
   * How long one module may take to load and give its driver, in milliseconds (default 5000, the
   * detector's probe time box). A module still loading then is reported as failed (`EXTERNAL`).
   */
  timeoutMs?: number;
  /** The clock of the time box (default: the system clock). */
  clock?: Clock;
  /** Cancels loading: `loadDriverPlugins()` rejects at once with an aborted `CONTROL` error. */
  signal?: AbortSignal;
}

type Loaded = { entry: DriverModuleEntry; file?: string } & (
  | { driver: Driver; error?: undefined }
  | { error: HypervisorError; driver?: undefined }
);

/**
 * Loads the driver modules named in `CVMWEB_DRIVER_MODULES` and `<state-dir>/config.json`, in
 * that order, and returns one driver per module. Modules load in parallel, each within
 * `timeoutMs`. A module that cannot be found, fails to load, takes too long, exports no driver,
 * or whose driver's name is taken (by a built-in driver or an earlier module) becomes a
 * stand-in driver that probes as not installed or not healthy, with the reason
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
  if (signal?.aborted) throw abortedError('Loading driver modules', signal.reason);
  const timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const clock = options.clock ?? systemClock;
  const files = new Set<string>();
  const pending: Promise<Loaded>[] = [];
  for (const entry of entries) {
    let file: string;
    try {
      file = resolveDriverModule(entry.specifier, {
        baseDir: entry.baseDir,
        cwd: options.cwd,
        env: options.env,
        ...(options.globalDirs ? { globalDirs: options.globalDirs } : {}),
      });
    } catch (error) {
      pending.push(Promise.resolve({ entry, error: failure(entry, error) }));
      continue;
    }
    if (files.has(file)) continue;
    files.add(file);
    pending.push(
      // The time box's timer also keeps the process alive meanwhile: a module whose top-level
      // `await` never settles would otherwise end the process (exit code 13) with nothing reported.
      timeBoxed(() => loadDriver(entry, file), { timeoutMs, clock, signal }).then(
        (outcome): Loaded =>
          outcome.ok
            ? { entry, file, driver: outcome.value }
            : {
                entry,
                file,
                error: failure(entry, outcome.why === 'timeout' ? timedOut(entry, timeoutMs) : outcome.error),
              },
      ),
    );
  }
  // An abort ends every time box at once.
  const loaded = await Promise.all(pending);
  if (signal?.aborted) throw abortedError('Loading driver modules', signal.reason);
  const taken = new Set(options.taken ?? []);
  return loaded.map(({ entry, file, driver, error }) => {
    if (driver && !taken.has(driver.name)) {
      taken.add(driver.name);
      return driver;
    }
    const reason =
      error ??
      new HypervisorError(
        'NOT_VALIDATED',
        `Driver module ${entry.specifier}: its driver is named '${driver!.name}', as another driver is`,
        { details: { specifier: entry.specifier, driver: driver!.name } },
      );
    return failedDriverModule(entry, reason, file);
  });
}

async function loadDriver(entry: DriverModuleEntry, file: string): Promise<Driver> {
  let namespace: Record<string, unknown>;
  try {
    namespace = await importModule(pathToFileURL(file).href);
  } catch (error) {
    throw new HypervisorError(
      'EXTERNAL',
      `Driver module ${entry.specifier} failed to load: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error, details: { specifier: entry.specifier } },
    );
  }
  return driverFromModule(namespace, entry.specifier);
}

function failure(entry: DriverModuleEntry, error: unknown): HypervisorError {
  return toHypervisorError(error, 'EXTERNAL', `Driver module ${entry.specifier} failed`, {
    specifier: entry.specifier,
  });
}

function timedOut(entry: DriverModuleEntry, timeoutMs: number): HypervisorError {
  return new HypervisorError(
    'EXTERNAL',
    `Driver module ${entry.specifier} did not finish loading within ${timeoutMs} ms`,
    { details: { specifier: entry.specifier, timeoutMs } },
  );
}
