import { join } from 'node:path';
import { abortedError, HypervisorError, toHypervisorError } from '@cvmweb/core';
import { readRegularFile } from '@cvmweb/core/node';

/** The environment variable that names driver modules to load: comma-separated module specifiers. */
export const DRIVER_MODULES_ENV_VARIABLE = 'CVMWEB_DRIVER_MODULES';

/** The name of cvmweb's configuration file in the state directory (`{ "drivers": [ … ] }`). */
export const CONFIG_FILE = 'config.json';

/** One driver module to load, and where it was named. */
export interface DriverModuleEntry {
  /** The module specifier as written: a package name (`@example/cvmweb-driver-qemu`), a path or a `file:` URL. */
  readonly specifier: string;
  /** Where it was named: `CVMWEB_DRIVER_MODULES`, or the path of the `config.json` that lists it. */
  readonly listedIn: string;
  /** The directory a relative path is resolved against: the working directory, or the config file's directory. */
  readonly baseDir: string;
}

/** Options of {@link driverModuleList}. */
export interface DriverModuleListOptions {
  /** Where `CVMWEB_DRIVER_MODULES` is read. */
  env: NodeJS.ProcessEnv;
  /** The working directory: relative paths in `CVMWEB_DRIVER_MODULES` start here. */
  cwd: string;
  /** The state directory, where `config.json` is read. */
  stateDir: string;
  /** Cancels reading the configuration (checked before the read). */
  signal?: AbortSignal;
}

/**
 * The driver modules to load: those of `CVMWEB_DRIVER_MODULES` (comma-separated), then those of
 * the `drivers` array of `<state-dir>/config.json`. A missing `config.json`, or one without
 * `drivers`, names none; other keys are ignored.
 *
 * @throws {HypervisorError} `INVALID_USAGE` (-99) when `config.json` is not a regular file, not
 *   JSON, not an object, or its `drivers` is not an array of non-empty strings (details: `path`,
 *   and `field` for a wrong field); `IO` (-6) when it cannot be read. Both carry the original
 *   failure as `cause` where there is one.
 */
export async function driverModuleList(options: DriverModuleListOptions): Promise<DriverModuleEntry[]> {
  const fromEnv = (options.env[DRIVER_MODULES_ENV_VARIABLE] ?? '')
    .split(',')
    .map((specifier) => specifier.trim())
    .filter((specifier) => specifier !== '')
    .map((specifier) => ({ specifier, listedIn: DRIVER_MODULES_ENV_VARIABLE, baseDir: options.cwd }));
  const path = join(options.stateDir, CONFIG_FILE);
  const fromConfig = (await configuredDrivers(path, options.signal)).map((specifier) => ({
    specifier,
    listedIn: path,
    baseDir: options.stateDir,
  }));
  return [...fromEnv, ...fromConfig];
}

async function configuredDrivers(path: string, signal: AbortSignal | undefined): Promise<string[]> {
  if (signal?.aborted) throw abortedError(`Reading ${path}`, signal.reason);
  let read: Awaited<ReturnType<typeof readRegularFile>>;
  try {
    // A FIFO, a device or a directory in its place is refused, never read (a FIFO would hang).
    read = await readRegularFile(path, { maxBytes: 1024 * 1024 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw toHypervisorError(error, 'IO', `Reading ${path} failed`, { path });
  }
  if (read.kind === 'special') throw invalid(path, `${path} is ${read.what}, not a regular file`);
  if (read.kind === 'too-large') throw invalid(path, `${path} is too large (${read.size} bytes)`);
  const { text } = read;
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (error) {
    throw invalid(path, `${path} is not valid JSON: ${(error as Error).message}`, undefined, error);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw invalid(path, `${path} must hold a JSON object such as { "drivers": ["cvmweb-driver-acme"] }`);
  }
  const drivers = (config as Record<string, unknown>)['drivers'];
  if (drivers === undefined) return [];
  if (
    !Array.isArray(drivers) ||
    !drivers.every((entry): entry is string => typeof entry === 'string' && entry.trim() !== '')
  ) {
    throw invalid(path, `${path}: "drivers" must be an array of module names`, 'drivers');
  }
  return drivers.map((entry) => entry.trim());
}

function invalid(path: string, message: string, field?: string, cause?: unknown): HypervisorError {
  return new HypervisorError('INVALID_USAGE', message, {
    details: { path, ...(field ? { field } : {}) },
    ...(cause === undefined ? {} : { cause }),
  });
}
