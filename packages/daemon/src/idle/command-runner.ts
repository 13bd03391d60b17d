import { createProcessRunner, type ProcessResult, type ProcessRunner } from '@cvmweb/core/node';

/**
 * What the idle sources run their commands with (`xprintidle`, `loginctl`, `ioreg`, PowerShell):
 * core's process runner. Each source takes one as an option, so tests replay recorded outputs.
 */
export type IdleCommandRunner = Pick<ProcessRunner, 'run'>;

/** The runner of the idle sources when none is given (a 5 s time-out unless the source sets its own). */
export const defaultIdleCommandRunner: IdleCommandRunner = createProcessRunner({ timeoutMs: 5000 });

/** One line saying why a command failed, for an `unknown` reading or a probe reason. */
export function describeFailure(file: string, result: ProcessResult): string {
  if (result.errorCode === 'ENOENT') return `${file} is not installed`;
  if (result.timedOut) return `${file} timed out after ${result.timeoutMs} ms`;
  const text = (result.stderr.trim() || result.stdout.trim()).split('\n')[0]?.trim();
  const status = result.exitCode === undefined ? (result.errorCode ?? 'failed') : `exit ${result.exitCode}`;
  return `${file} failed (${status})${text ? `: ${text}` : ''}`;
}
