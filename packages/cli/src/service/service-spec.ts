import { HypervisorError } from '@cvmweb/core';

/** What a login service runs and where: the input of every platform's file. */
export interface ServiceSpec {
  /** The command line: an absolute program, then its arguments (`… serve --port 5624`). */
  readonly command: readonly string[];
  /** The user's home directory. */
  readonly homeDir: string;
  /** `PATH` for the service (launchd starts agents with a minimal one; hypervisor tools live elsewhere). */
  readonly path?: string | undefined;
  /** The account whose logon starts the task (Windows: `DOMAIN\user`). */
  readonly user?: string | undefined;
}

/** Refuses control characters (a line break would end a unit's line) in what goes into a service file. */
export function checkServiceText(value: string, what: string): string {
  if (value === '' || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new HypervisorError('INVALID_USAGE', `${what} is empty or holds control characters`, {
      details: { cli: true, field: what },
    });
  }
  return value;
}
