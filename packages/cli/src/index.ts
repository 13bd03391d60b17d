/**
 * @cvmweb/cli: the `cvmweb` command. Programs can run it in-process with {@link run}.
 *
 * @packageDocumentation
 */
export { type CliIo, processIo } from './cli-io.js';
export { ExitCode } from './exit-codes.js';
export { run, usage } from './run.js';
