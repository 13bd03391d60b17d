import { abortedError, HypervisorError } from '@cvmweb/core';
import { execa } from 'execa';

/** What one `VBoxManage` run gave back. Runs that started never reject for a non-zero exit. */
export interface RunResult {
  /** The arguments, as given (without the program). */
  readonly argv: readonly string[];
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of one run. */
export interface RunOptions {
  signal?: AbortSignal | undefined;
  /** Overrides the runner's time box for this run, in ms. */
  timeoutMs?: number | undefined;
  /** Receives the run's debug line, besides the runner's own listener. */
  onDebug?: ((message: string) => void) | undefined;
}

/** Runs `VBoxManage`. The only way the driver starts a process; tests pass a fake. */
export interface Runner {
  /** The program run. */
  readonly program: string;
  /** How many processes this runner started. */
  readonly spawns: number;
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
}

/** Options of {@link createRunner}. */
export interface RunnerOptions {
  /** The `VBoxManage` program (a path, or a name looked up on `PATH`). */
  program: string;
  /**
   * Extra environment, read at every run (so a test may change it between runs).
   * `VBOX_USER_HOME` set here chooses VirtualBox's settings folder.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** Time box of one run in ms (default 60 s; a `startvm` of a big VM can take that long). */
  timeoutMs?: number;
  /** Receives one line per run: the command, its exit code and duration. */
  onDebug?: (message: string) => void;
}

/**
 * A runner over execa: an argument array (never a shell), `LC_ALL=C` so that VirtualBox 7's
 * localised output stays parseable, a time box, the caller's `AbortSignal` (the child is killed),
 * and a debug line per run. A program that cannot be started rejects with `EXTERNAL`; a timeout
 * with `EXTERNAL` (`details.timedOut`); an abort with an aborted `CONTROL` error.
 */
export function createRunner(options: RunnerOptions): Runner {
  let spawns = 0;
  const timeout = options.timeoutMs ?? 60_000;
  return {
    program: options.program,
    get spawns() {
      return spawns;
    },
    async run(argv, runOptions = {}) {
      const command = [options.program, ...argv];
      const { signal } = runOptions;
      if (signal?.aborted) throw abortedError(`VBoxManage ${argv[0] ?? ''}`, signal.reason);
      spawns++;
      const started = Date.now();
      const env: Record<string, string> = {};
      for (const [key, value] of Object.entries(options.env ?? {})) if (value !== undefined) env[key] = value;
      const result = await execa(options.program, [...argv], {
        reject: false,
        shell: false,
        timeout: runOptions.timeoutMs ?? timeout,
        ...(signal ? { cancelSignal: signal } : {}),
        env: { ...env, LC_ALL: 'C', LANG: 'C', LANGUAGE: 'C' },
        extendEnv: true,
        stdin: 'ignore',
        stripFinalNewline: false,
        windowsHide: true,
        forceKillAfterDelay: 2000,
      });
      const line = `VBoxManage #${spawns} ${describeArgv(argv)} → ${
        result.exitCode ?? (result.timedOut ? 'timeout' : 'failed')
      } (${Date.now() - started} ms)`;
      options.onDebug?.(line);
      runOptions.onDebug?.(line);
      if (result.isCanceled || signal?.aborted) {
        throw abortedError(`VBoxManage ${argv[0] ?? ''}`, signal?.reason);
      }
      if (result.timedOut) {
        throw new HypervisorError(
          'EXTERNAL',
          `VBoxManage ${argv[0] ?? ''} did not finish within ${timeout} ms`,
          {
            details: { command, timedOut: true },
          },
        );
      }
      if (result.exitCode === undefined) {
        throw new HypervisorError(
          'EXTERNAL',
          `cannot run ${options.program}: ${result.originalMessage ?? result.shortMessage}`,
          {
            cause: result.cause,
            details: { command },
          },
        );
      }
      return {
        argv: [...argv],
        exitCode: result.exitCode,
        stdout: String(result.stdout ?? ''),
        stderr: String(result.stderr ?? ''),
      };
    },
  };
}

/** Quotes arguments for a debug line only; nothing here is ever run by a shell. */
export function describeArgv(argv: readonly string[]): string {
  return argv.map((arg) => (/^[\w./:=,@{}-]+$/.test(arg) ? arg : JSON.stringify(arg))).join(' ');
}

/**
 * Reads the `InstallDir` of VirtualBox from the Windows registry with `reg query`, the one other
 * program the driver may start. Resolves `undefined` on any failure or off Windows.
 */
export async function readWindowsInstallDir(signal?: AbortSignal): Promise<string | undefined> {
  if (process.platform !== 'win32') return undefined;
  const result = await execa('reg', ['query', 'HKLM\\SOFTWARE\\Oracle\\VirtualBox', '/v', 'InstallDir'], {
    reject: false,
    timeout: 3000,
    windowsHide: true,
    ...(signal ? { cancelSignal: signal } : {}),
  });
  const match = /InstallDir\s+REG_SZ\s+(.+)$/m.exec(String(result.stdout ?? ''));
  return match?.[1]?.trim();
}
