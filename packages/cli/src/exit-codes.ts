/**
 * Exit codes of the `cvmweb` command.
 *
 * | code | meaning |
 * |---|---|
 * | 0 | success |
 * | 1 | the action failed (the message names the cvmweb error code, e.g. `NOT_VALIDATED`) |
 * | 2 | wrong usage: unknown command or option, missing argument |
 * | 3 | `detect`: no usable hypervisor was found |
 * | 4 | `sessions`: the registry has damaged session records (listed on standard error) |
 * | 5 | `service install`: the file is written, but the platform's service manager is missing or refused it, so the service is not enabled |
 * | 6 | `service status`: the service is not installed, or nothing answers on its port |
 */
export const ExitCode = {
  /** The command did what was asked. */
  OK: 0,
  /** The action failed; the message names the cvmweb error code. */
  FAILED: 1,
  /** Unknown command or option, or a missing argument. */
  USAGE: 2,
  /** `detect` found no usable hypervisor. */
  NO_HYPERVISOR: 3,
  /** `sessions` found damaged session records (listed on standard error). */
  DAMAGED_RECORDS: 4,
  /** `service install` wrote the file, but the service manager is missing or refused it: not enabled. */
  SERVICE_NOT_ENABLED: 5,
  /** `service status`: not installed, or nothing answers on the service's port. */
  SERVICE_DOWN: 6,
} as const;
