import { execa } from 'execa';

/** What a command printed and how it ended. `exitCode` is `undefined` when it could not run or was killed. */
export interface CommandResult {
  readonly exitCode: number | undefined;
  readonly stdout: string;
  readonly stderr: string;
  /** Set when the program could not be started: `ENOENT` when it is not installed. */
  readonly errorCode?: string;
  /** The command exceeded its time limit. */
  readonly timedOut?: boolean;
}

/** Options of one command. */
export interface CommandOptions {
  readonly signal?: AbortSignal | undefined;
  /** Time limit in milliseconds (default 5000). */
  readonly timeoutMs?: number;
  /** Extra environment (merged over the process's; `LC_ALL=C` always). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Runs a program with an argument array (never a shell) and returns its output.
 * The idle sources take one as an option so tests replay recorded outputs.
 */
export type CommandRunner = (
  file: string,
  args: readonly string[],
  options?: CommandOptions,
) => Promise<CommandResult>;

/** The real runner: execa, no shell, `LC_ALL=C`, stdin closed, a time limit, cancellable. */
export const execaRunner: CommandRunner = async (file, args, options = {}) => {
  const result = await execa(file, [...args], {
    reject: false,
    stdin: 'ignore',
    timeout: options.timeoutMs ?? 5000,
    ...(options.signal ? { cancelSignal: options.signal } : {}),
    env: { ...options.env, LC_ALL: 'C' },
    extendEnv: true,
    windowsHide: true,
    maxBuffer: 1024 * 1024,
  });
  if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
  return {
    exitCode: result.exitCode,
    stdout: typeof result.stdout === 'string' ? result.stdout : '',
    stderr: typeof result.stderr === 'string' ? result.stderr : '',
    ...(result.code ? { errorCode: result.code } : {}),
    ...(result.timedOut ? { timedOut: true } : {}),
  };
};

/** One line saying why a command failed, for an `unknown` reading or a probe reason. */
export function describeFailure(file: string, result: CommandResult): string {
  if (result.errorCode === 'ENOENT') return `${file} is not installed`;
  if (result.timedOut) return `${file} timed out`;
  const text = (result.stderr.trim() || result.stdout.trim()).split('\n')[0]?.trim();
  const status = result.exitCode === undefined ? (result.errorCode ?? 'failed') : `exit ${result.exitCode}`;
  return `${file} failed (${status})${text ? `: ${text}` : ''}`;
}
