import { type Driver, ErrorCode, type HypervisorError, type ProbeResult } from '@cvmweb/core';
import type { DriverModuleEntry } from './driver-module-list.js';
import { isPathSpecifier, packageNameOf } from './resolve-driver-module.js';

const NO_CAPABILITIES = {
  executionCap: false,
  pause: false,
  hibernate: false,
  reset: false,
  guestProperties: false,
  apiPortForwarding: false,
} as const;

/**
 * A stand-in for a driver module that did not give a driver, so `cvmweb detect` lists it with
 * the reason instead of failing. It is named after the module specifier; its probe reports
 * `installed: false` when the module was not found (`NOT_FOUND`) and `installed: true,
 * healthy: false` when it was found but failed to load or exports no driver, with the error's
 * message as `reason`, a `fix`, and `details` { `module`, `listedIn`, `file` (when it was
 * resolved), `code`, `codeName`, and the error's own details }. It never wins; `create()` rejects
 * with the error.
 */
export function failedDriverModule(entry: DriverModuleEntry, error: HypervisorError, file?: string): Driver {
  const notFound = error.code === ErrorCode.NOT_FOUND;
  const remove = `or remove ${entry.specifier} from ${entry.listedIn}`;
  const probe: ProbeResult = {
    installed: !notFound,
    healthy: false,
    score: 0,
    reason: error.message,
    fix: notFound
      ? isPathSpecifier(entry.specifier)
        ? `correct the path ${remove}`
        : `npm install --global ${packageNameOf(entry.specifier)} (or npm install it in the working directory), ${remove}`
      : `reinstall ${entry.specifier} or ask its authors for a version that exports a cvmweb driver, ${remove}`,
    details: {
      ...error.details,
      module: entry.specifier,
      listedIn: entry.listedIn,
      ...(file === undefined ? {} : { file }),
      code: error.code,
      codeName: error.codeName,
    },
  };
  return {
    name: entry.specifier,
    capabilities: NO_CAPABILITIES,
    probe: async () => probe,
    create: async () => {
      throw error;
    },
  };
}
