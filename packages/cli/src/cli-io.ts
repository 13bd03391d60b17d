import type { Driver } from '@cvmweb/core';
import { knownDrivers } from './drivers.js';

/**
 * What a command runs with: where it writes, what it knows of its terminal and
 * environment, and the hypervisor drivers it may use. Injected so tests can
 * capture output and choose the drivers.
 */
export interface CliIo {
  /** Standard output. */
  out: (text: string) => void;
  /** Standard error. */
  err: (text: string) => void;
  /** Standard output is a terminal (progress bars redraw one line). */
  isTTY: boolean;
  /** Environment. */
  env: NodeJS.ProcessEnv;
  /**
   * The built-in drivers. For the commands that pick a driver (`detect`, `serve`, `daemon`),
   * `run()` appends the driver plug-ins named in `CVMWEB_DRIVER_MODULES` and
   * `<state-dir>/config.json`, so a test that wants only its own drivers leaves both unset.
   * `serve` passes the driver it was told to use (`--driver`, `CVMWEB_DRIVER`) as `name`: the
   * result may then hold only that driver, so that the others are not loaded.
   */
  drivers: (name?: string) => Driver[] | Promise<Driver[]>;
}

/** The process's own streams and environment, and the built-in drivers. */
export function processIo(): CliIo {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    isTTY: Boolean(process.stdout.isTTY),
    env: process.env,
    drivers: knownDrivers,
  };
}
