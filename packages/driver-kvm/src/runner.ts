import type { Readable, Writable } from 'node:stream';
import { HypervisorError } from '@cvmweb/core';
import { execa, execaSync } from 'execa';

let pdeathsig: boolean | undefined;

/**
 * True when util-linux's `setpriv --pdeathsig` is available (Linux): long-lived children then get
 * SIGKILL when this process dies, even by SIGKILL, instead of outliving it (`virsh event --loop`
 * reads no input, so nothing else would end it).
 */
function canTieToParent(): boolean {
  if (pdeathsig === undefined) {
    try {
      pdeathsig =
        process.platform === 'linux' &&
        String(execaSync('setpriv', ['--help'], { reject: false, timeout: 5000 }).stdout).includes(
          '--pdeathsig',
        );
    } catch {
      pdeathsig = false;
    }
  }
  return pdeathsig;
}

/** What one command printed and how it ended. */
export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

/** Options of {@link Runner.run}. */
export interface RunOptions {
  /** Kills the command after this many ms (default: the runner's). */
  timeoutMs?: number;
  /** Kills the command when aborted. */
  signal?: AbortSignal | undefined;
  /** Written to the command's standard input. */
  input?: string;
  /** Resolve with the result instead of rejecting when the command exits non-zero. */
  reject?: boolean;
  /** Receives this command's debug line too (a session's `debug` event), besides the runner's own. */
  onDebug?: ((message: string) => void) | undefined;
}

/**
 * Runs hypervisor commands: argument arrays through execa (never a shell), `LC_ALL=C`, a time box
 * and the caller's `AbortSignal`, and one debug line per command.
 */
export interface Runner {
  /** Runs a command to its end. Rejects with `EXTERNAL` on a non-zero exit (unless `reject: false`). */
  run(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Starts a long-lived command with piped standard streams (the persistent virsh channel). */
  spawn(file: string, args: readonly string[], env?: Readonly<Record<string, string>>): LongRunning;
}

/** A long-lived child process. */
export interface LongRunning {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** Resolves when the process has exited, for whatever reason. */
  readonly exited: Promise<void>;
  kill(): void;
}

/** Options of {@link createRunner}. */
export interface RunnerOptions {
  /** Default time box of one command in ms (default 60 s). */
  timeoutMs?: number;
  /** Extra environment for every command (e.g. a `PATH` that puts a wrapper first). */
  env?: Readonly<Record<string, string>>;
  /** Receives one line per command. */
  onDebug?: ((message: string) => void) | undefined;
}

/** Shows a command line for logs and error details (arguments are quoted when needed). */
export function formatCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : JSON.stringify(arg))).join(' ');
}

/** The runner of real child processes. */
export function createRunner(options: RunnerOptions = {}): Runner {
  const defaultTimeout = options.timeoutMs ?? 60_000;
  return {
    async run(file, args, runOptions = {}) {
      const command = formatCommand(file, args);
      options.onDebug?.(command);
      runOptions.onDebug?.(command);
      const result = await execa(file, [...args], {
        env: { ...options.env, LC_ALL: 'C' },
        reject: false,
        stripFinalNewline: false,
        timeout: runOptions.timeoutMs ?? defaultTimeout,
        ...(runOptions.signal ? { cancelSignal: runOptions.signal } : {}),
        ...(runOptions.input === undefined ? { stdin: 'ignore' as const } : { input: runOptions.input }),
      });
      if (result.isCanceled) {
        throw new HypervisorError('CONTROL', `${command} was aborted`, {
          cause: runOptions.signal?.reason ?? result,
          aborted: true,
          details: { command },
        });
      }
      if (result.failed && (result.exitCode === undefined || result.timedOut)) {
        const why = result.timedOut
          ? `timed out after ${runOptions.timeoutMs ?? defaultTimeout} ms`
          : result.shortMessage;
        throw new HypervisorError('EXTERNAL', `${command}: ${why}`, {
          cause: result,
          details: { command, stderr: String(result.stderr ?? '') },
        });
      }
      const outcome = {
        stdout: String(result.stdout),
        stderr: String(result.stderr),
        exitCode: result.exitCode ?? -1,
      };
      if (outcome.exitCode !== 0 && runOptions.reject !== false) {
        throw new HypervisorError(
          'EXTERNAL',
          `${command}: ${firstLine(outcome.stderr) || `exit code ${outcome.exitCode}`}`,
          {
            cause: result,
            details: { command, exitCode: outcome.exitCode, stderr: outcome.stderr },
          },
        );
      }
      return outcome;
    },
    spawn(file, args, env) {
      options.onDebug?.(`${formatCommand(file, args)} (persistent)`);
      // setpriv execs the command (same pid), so kill() still reaches it.
      const [program, programArgs] = canTieToParent()
        ? ['setpriv', ['--pdeathsig', 'KILL', '--', file, ...args]]
        : [file, [...args]];
      const child = execa(program, programArgs, {
        env: { ...options.env, ...env, LC_ALL: 'C' },
        reject: false,
        buffer: false,
        stdin: 'pipe',
        stdout: 'pipe',
        stderr: 'pipe',
      });
      // A write to a dead child's stdin fails asynchronously; the exit is reported through `exited`.
      child.stdin.on('error', () => undefined);
      return {
        stdin: child.stdin,
        stdout: child.stdout,
        stderr: child.stderr,
        exited: child.then(
          () => undefined,
          () => undefined,
        ),
        kill: () => {
          child.kill('SIGKILL');
        },
      };
    },
  };
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
