import type { Readable, Writable } from 'node:stream';
import { execa, execaSync } from 'execa';
import type { ErrorCodeName } from '../errors/error-code.js';
import {
  describeEnding,
  formatCommand,
  type ProcessResult,
  processError,
  processResult,
} from './process-result.js';

/** Options of {@link ProcessRunner.run}. */
export interface RunProcessOptions {
  /** Kills the process when aborted; the run rejects with an aborted `CONTROL` error. */
  signal?: AbortSignal | undefined;
  /** Kills the process after this many ms (default: the runner's). */
  timeoutMs?: number | undefined;
  /** Written to the process's standard input (otherwise it reads nothing). */
  input?: string | undefined;
  /** Extra environment of this run, over the runner's (`LC_ALL=C` always). */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /**
   * `true` (default): reject with {@link processError} unless the process exits 0. `false`:
   * resolve with the {@link ProcessResult} however it ended, except an abort, which always rejects.
   */
  reject?: boolean | undefined;
  /** The error code of a non-zero exit when rejecting (default `EXTERNAL`). */
  code?: ErrorCodeName | undefined;
  /** Receives this run's debug lines too (a session's `debug` event), besides the runner's own. */
  onDebug?: ((message: string) => void) | undefined;
}

/** Options of {@link ProcessRunner.spawn}. */
export interface SpawnProcessOptions {
  /** Extra environment, over the runner's (`LC_ALL=C` always). */
  env?: Readonly<Record<string, string | undefined>> | undefined;
}

/** A long-lived child process with piped standard streams. */
export interface LongRunningProcess {
  /** Its standard input (write errors of a dead process are ignored; see `exited`). */
  readonly stdin: Writable;
  /** Its standard output. */
  readonly stdout: Readable;
  /** Its standard error. */
  readonly stderr: Readable;
  /** Resolves when the process has exited, for whatever reason. */
  readonly exited: Promise<void>;
  /** Kills it (SIGKILL). */
  kill(): void;
}

/**
 * Runs child processes: argument arrays through execa (never a shell), `LC_ALL=C`, a time-out,
 * the caller's `AbortSignal`, and one debug line per process. The one way cvmweb starts
 * processes; tests pass a fake with the same shape.
 */
export interface ProcessRunner {
  /** Runs `file` with `args` to its end (see {@link RunProcessOptions.reject}). */
  run(file: string, args: readonly string[], options?: RunProcessOptions): Promise<ProcessResult>;
  /** Starts a long-lived process; on Linux it is killed when this process dies. */
  spawn(file: string, args: readonly string[], options?: SpawnProcessOptions): LongRunningProcess;
}

/** Options of {@link createProcessRunner}. */
export interface ProcessRunnerOptions {
  /** Time-out of one run in ms (default 60 s). */
  timeoutMs?: number | undefined;
  /** Extra environment of every process, read at each run (`undefined` values are left out). */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /**
   * Receives each command line before its process starts, and for a process that fails a second
   * line saying how it ended and how long it ran.
   */
  onDebug?: ((message: string) => void) | undefined;
}

/** The default time-out of one run, in ms. */
export const DEFAULT_PROCESS_TIMEOUT_MS = 60_000;

/** The runner of real child processes. */
export function createProcessRunner(options: ProcessRunnerOptions = {}): ProcessRunner {
  const environment = (extra: RunProcessOptions['env']): Record<string, string> => {
    const env: Record<string, string> = {};
    for (const source of [options.env, extra])
      for (const [key, value] of Object.entries(source ?? {})) if (value !== undefined) env[key] = value;
    // VirtualBox 7 localises by LANGUAGE too; LC_ALL wins for everything else.
    return { ...env, LC_ALL: 'C', LANG: 'C', LANGUAGE: 'C' };
  };
  return {
    async run(file, args, runOptions = {}) {
      const command = formatCommand(file, args);
      const timeoutMs = runOptions.timeoutMs ?? options.timeoutMs ?? DEFAULT_PROCESS_TIMEOUT_MS;
      const { signal } = runOptions;
      // The line goes out before the process starts (a log then shows what hangs, and a listener
      // may act between two commands); a failure adds a second line saying how it ended.
      options.onDebug?.(command);
      runOptions.onDebug?.(command);
      const started = performance.now();
      let result: ProcessResult;
      let cause: unknown;
      if (signal?.aborted) {
        result = processResult(file, args, { exitCode: undefined, isCanceled: true, timeoutMs });
        cause = signal.reason;
      } else {
        const ran = await execa(file, [...args], {
          env: environment(runOptions.env),
          extendEnv: true,
          reject: false,
          stripFinalNewline: false,
          timeout: timeoutMs,
          forceKillAfterDelay: 2000,
          windowsHide: true,
          ...(signal ? { cancelSignal: signal } : {}),
          ...(runOptions.input === undefined ? { stdin: 'ignore' as const } : { input: runOptions.input }),
        });
        result = {
          command,
          file,
          args: [...args],
          exitCode: ran.exitCode,
          signal: ran.signal,
          stdout: typeof ran.stdout === 'string' ? ran.stdout : '',
          stderr: typeof ran.stderr === 'string' ? ran.stderr : '',
          timedOut: ran.timedOut,
          isCanceled: ran.isCanceled || signal?.aborted === true,
          timeoutMs,
          durationMs: Math.round(performance.now() - started),
          errorCode: 'code' in ran && typeof ran.code === 'string' ? ran.code : undefined,
          failed: ran.exitCode !== 0,
        };
        cause = result.isCanceled ? (signal?.reason ?? ran) : ran;
      }
      if (result.failed) {
        const line = `${command} → ${describeEnding(result)} (${result.durationMs} ms)`;
        options.onDebug?.(line);
        runOptions.onDebug?.(line);
      }
      if (result.isCanceled || (result.failed && runOptions.reject !== false)) {
        throw processError(result, runOptions.code, cause);
      }
      return result;
    },
    spawn(file, args, spawnOptions = {}) {
      options.onDebug?.(`${formatCommand(file, args)} (persistent)`);
      // setpriv execs the command (same pid), so kill() still reaches it.
      const [program, programArgs] = canTieToParent()
        ? ['setpriv', ['--pdeathsig', 'KILL', '--', file, ...args]]
        : [file, [...args]];
      const child = execa(program, programArgs, {
        env: environment(spawnOptions.env),
        extendEnv: true,
        reject: false,
        buffer: false,
        stdin: 'pipe',
        stdout: 'pipe',
        stderr: 'pipe',
        windowsHide: true,
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

let pdeathsig: boolean | undefined;

/**
 * True when util-linux's `setpriv --pdeathsig` is available (Linux): long-lived children then get
 * SIGKILL when this process dies, even by SIGKILL, instead of outliving it (a child that reads no
 * input, such as `virsh event --loop`, would not notice otherwise).
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
