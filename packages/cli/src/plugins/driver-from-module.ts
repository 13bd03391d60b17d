import { type Driver, HypervisorError, isHypervisorError } from '@cvmweb/core';

/** The exports a driver module is read from, in this order: the default export, then `driver`. */
export const DRIVER_EXPORTS = ['default', 'driver'] as const;

/**
 * True when `value` has the shape of a {@link Driver}: a non-empty lower-case `name` without
 * spaces, a `capabilities` object, and `probe` and `create` functions.
 */
export function isDriver(value: unknown): value is Driver {
  if (typeof value !== 'object' || value === null) return false;
  const driver = value as Record<string, unknown>;
  return (
    typeof driver['name'] === 'string' &&
    /^[a-z0-9][a-z0-9._-]*$/.test(driver['name']) &&
    typeof driver['capabilities'] === 'object' &&
    driver['capabilities'] !== null &&
    typeof driver['probe'] === 'function' &&
    typeof driver['create'] === 'function'
  );
}

/**
 * The driver a loaded module exports. A module exports a driver when its default export — or,
 * when that is neither a driver nor a function, its named export `driver` — is either
 *
 * - a {@link Driver} object ({@link isDriver}), or
 * - a driver factory: a function that, called with no arguments, returns a `Driver` (or a
 *   promise of one). Options come from the driver's own defaults and environment variables.
 *
 * One module gives one driver.
 *
 * @param namespace The module namespace object `import()` resolved with.
 * @param specifier The module's specifier, for messages.
 * @throws {HypervisorError} `NOT_VALIDATED` (-12) when neither export is a driver or a factory, or
 *   a factory returned something else (details: `specifier`, `exports`, the module's export
 *   names); `EXTERNAL` (-7) when a factory threw (the failure as `cause`).
 */
export async function driverFromModule(
  namespace: Record<string, unknown>,
  specifier: string,
): Promise<Driver> {
  const exportNames = Object.keys(namespace);
  for (const exportName of DRIVER_EXPORTS) {
    const value = namespace[exportName];
    if (isDriver(value)) return value;
    if (typeof value !== 'function') continue;
    let made: unknown;
    try {
      made = await (value as () => unknown)();
    } catch (error) {
      throw new HypervisorError(
        'EXTERNAL',
        `Driver module ${specifier}: its ${exportName === 'default' ? 'default export' : `export '${exportName}'`} threw: ${error instanceof Error ? error.message : String(error)}`,
        {
          cause: error,
          details: {
            specifier,
            export: exportName,
            ...(isHypervisorError(error) ? { code: error.code } : {}),
          },
        },
      );
    }
    if (isDriver(made)) return made;
    throw new HypervisorError(
      'NOT_VALIDATED',
      `Driver module ${specifier}: its ${exportName === 'default' ? 'default export' : `export '${exportName}'`} is a function that returned no driver (a driver has a lower-case name, capabilities, probe() and create())`,
      { details: { specifier, export: exportName, exports: exportNames } },
    );
  }
  throw new HypervisorError(
    'NOT_VALIDATED',
    `Driver module ${specifier} exports no driver: neither its default export nor an export named 'driver' is a driver or a function returning one (exports: ${exportNames.length > 0 ? exportNames.join(', ') : 'none'})`,
    { details: { specifier, exports: exportNames } },
  );
}
