import { HypervisorError } from '@cvmweb/core';

/** A wrong use of the command line: `run()` prints it with a pointer to `--help` and exits 2. */
export function usageError(message: string): HypervisorError {
  return new HypervisorError('INVALID_USAGE', message, { details: { cli: true } });
}
