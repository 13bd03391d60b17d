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
 */
export const ExitCode = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  NO_HYPERVISOR: 3,
  DAMAGED_RECORDS: 4,
} as const;
