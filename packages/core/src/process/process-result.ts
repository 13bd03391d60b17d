import type { ErrorCodeName } from '../errors/error-code.js';
import { HypervisorError } from '../errors/hypervisor-error.js';

/**
 * How one child process ended: execa's result, reduced to what cvmweb reads. The same shape
 * whether the process exited, timed out, was cancelled or could not start.
 */
export interface ProcessResult {
  /** The command line for logs and error details (arguments quoted when needed; never run by a shell). */
  readonly command: string;
  /** The program, as given. */
  readonly file: string;
  /** The arguments, as given (without the program). */
  readonly args: readonly string[];
  /** The exit code; `undefined` when the process could not start or was killed (time-out, abort, signal). */
  readonly exitCode: number | undefined;
  /** The signal that ended the process (such as `SIGTERM`), if one did. */
  readonly signal: string | undefined;
  /** Its standard output. */
  readonly stdout: string;
  /** Its standard error. */
  readonly stderr: string;
  /** True when it was killed for running longer than {@link ProcessResult.timeoutMs}. */
  readonly timedOut: boolean;
  /** True when it was killed because the caller's `AbortSignal` fired. */
  readonly isCanceled: boolean;
  /** The time-out this run used, in ms. */
  readonly timeoutMs: number;
  /** How long it ran, in ms. */
  readonly durationMs: number;
  /** Why it could not start (`ENOENT`: no such program), when it could not. */
  readonly errorCode: string | undefined;
  /** True unless it exited with code 0. */
  readonly failed: boolean;
}

/**
 * The `details` of a {@link HypervisorError} made by {@link processError}: the facts of the
 * {@link ProcessResult}, named as execa names them.
 */
export type ProcessFailureDetails = {
  /** {@link ProcessResult.command}. */
  readonly command: string;
  /** {@link ProcessResult.exitCode}. */
  readonly exitCode: number | undefined;
  /** {@link ProcessResult.signal}. */
  readonly signal: string | undefined;
  /** {@link ProcessResult.timedOut}. */
  readonly timedOut: boolean;
  /** {@link ProcessResult.isCanceled}. */
  readonly isCanceled: boolean;
  /** {@link ProcessResult.timeoutMs}: the time-out this run used. */
  readonly timeoutMs: number;
  /** {@link ProcessResult.errorCode}. */
  readonly errorCode: string | undefined;
  /** {@link ProcessResult.stdout}. */
  readonly stdout: string;
  /** {@link ProcessResult.stderr}. */
  readonly stderr: string;
};

/** The fields of a {@link ProcessResult} that say how the process ended. */
export type ProcessEnding = Omit<ProcessResult, 'command' | 'file' | 'args' | 'failed'>;

/**
 * A {@link ProcessResult} of `file` with `args` from the fields given: by default an exit with
 * code 0 and no output. For results that do not come from execa: a command answered through a
 * long-lived process, a refused start, a test's fake runner.
 */
export function processResult(
  file: string,
  args: readonly string[],
  ending: Partial<ProcessEnding> = {},
): ProcessResult {
  const exitCode = 'exitCode' in ending ? ending.exitCode : 0;
  return {
    command: formatCommand(file, args),
    file,
    args: [...args],
    exitCode,
    signal: ending.signal,
    stdout: ending.stdout ?? '',
    stderr: ending.stderr ?? '',
    timedOut: ending.timedOut ?? false,
    isCanceled: ending.isCanceled ?? false,
    timeoutMs: ending.timeoutMs ?? 0,
    durationMs: ending.durationMs ?? 0,
    errorCode: ending.errorCode,
    failed: exitCode !== 0,
  };
}

/** Shows a command line for logs and error details (arguments are quoted when needed). */
export function formatCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : JSON.stringify(arg))).join(' ');
}

/** One phrase saying how a process ended: `exit code 2`, `timed out after 500 ms`, `not started (ENOENT)`… */
export function describeEnding(result: ProcessResult): string {
  if (result.isCanceled) return 'aborted';
  if (result.timedOut) return `timed out after ${result.timeoutMs} ms`;
  if (result.exitCode !== undefined) return `exit code ${result.exitCode}`;
  if (result.signal !== undefined) return `killed by ${result.signal}`;
  return `not started (${result.errorCode ?? 'failed'})`;
}

/**
 * The {@link HypervisorError} of a process that did not succeed, with the process's error as
 * `cause` and {@link ProcessFailureDetails} as `details`: an abort is an aborted `CONTROL`
 * error; a time-out, a kill or a program that could not start is `EXTERNAL`; a non-zero exit
 * gets `code` (default `EXTERNAL`). The message names the command, how it ended and the first
 * line of its standard error.
 */
export function processError(
  result: ProcessResult,
  code: ErrorCodeName = 'EXTERNAL',
  cause?: unknown,
): HypervisorError {
  const details: ProcessFailureDetails = {
    command: result.command,
    exitCode: result.exitCode,
    signal: result.signal,
    timedOut: result.timedOut,
    isCanceled: result.isCanceled,
    timeoutMs: result.timeoutMs,
    errorCode: result.errorCode,
    stdout: result.stdout,
    stderr: result.stderr,
  };
  if (result.isCanceled) {
    return new HypervisorError('CONTROL', `${result.command} was aborted`, { cause, details, aborted: true });
  }
  const why = firstLine(result.stderr);
  return new HypervisorError(
    result.exitCode === undefined ? 'EXTERNAL' : code,
    `${result.command}: ${describeEnding(result)}${why ? `: ${why}` : ''}`,
    { cause, details },
  );
}

/** The first non-empty line of `text`, trimmed. */
export function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((line) => line.trim())
      .find((line) => line !== '') ?? ''
  );
}
