import { type ErrorCodeName, HypervisorError } from '@cvmweb/core';
import {
  type ProcessResult,
  type ProcessRunner,
  processError,
  type RunProcessOptions,
  sleep,
} from '@cvmweb/core/node';
import { classifyVBoxError, parseVBoxError } from './error-parser.js';
import { hintFor } from './failure-hints.js';

/** How a locked machine is retried. */
export interface LockRetry {
  /** Retries after the first attempt (default 4). */
  readonly attempts: number;
  /** The first wait in ms, doubled after each retry (default 100). */
  readonly delayMs: number;
}

/** Options of one `VBoxManage` run: the caller's signal, time-out and debug listener. */
export type VBoxRunOptions = Pick<RunProcessOptions, 'signal' | 'timeoutMs' | 'onDebug'>;

/** The result of a `VBoxManage` run that ran to an exit. */
export type VBoxResult = ProcessResult & { readonly exitCode: number };

/** Who holds a machine's session lock, as `showvminfo` tells after a "locked" failure. */
export interface LockHolder {
  /** The machine's `VMState`. */
  readonly vmState: string;
  /** The `SessionName` of the session that holds the lock (`headless`, `GUI/Qt`, …), if one does. */
  readonly sessionName?: string | undefined;
  /** True when the lock is the VM's own running session (then waiting does not help). */
  readonly running: boolean;
}

/** Options of one checked command. */
export interface CommandOptions extends VBoxRunOptions {
  /** The code a failure gets when VirtualBox's result code says nothing more precise. */
  code: ErrorCodeName;
  /**
   * Reads who holds the machine's lock after a "locked" failure. A lock held by a session (the
   * VM runs, or another program such as the VirtualBox Manager has it open) is reported at once;
   * only a lock that no session holds (being released) is retried with back-off.
   */
  lockHolder?: (signal?: AbortSignal) => Promise<LockHolder | undefined>;
}

/**
 * `VBoxManage` with VirtualBox's failures turned into `HypervisorError`s: the message keeps
 * VirtualBox's own text, `details` the full command, the result code, the context line and the
 * exit code. A machine locked by another session is retried with back-off, then fails `CONTROL`.
 */
export class VBoxManage {
  /** The `VBoxManage` program (a path, or a name looked up on `PATH`). */
  readonly program: string;
  readonly #runner: Pick<ProcessRunner, 'run'>;
  readonly #retry: LockRetry;
  #spawns = 0;

  constructor(runner: Pick<ProcessRunner, 'run'>, program: string, retry: Partial<LockRetry> = {}) {
    this.#runner = runner;
    this.program = program;
    this.#retry = { attempts: retry.attempts ?? 4, delayMs: retry.delayMs ?? 100 };
  }

  /** How many `VBoxManage` processes were started. */
  get spawns(): number {
    return this.#spawns;
  }

  /**
   * Runs `argv` once. Resolves with the result whatever the exit code; rejects with the
   * runner's error when it did not run to an exit (time-out, abort, a program that cannot start).
   */
  async exec(argv: readonly string[], options: VBoxRunOptions = {}): Promise<VBoxResult> {
    if (!options.signal?.aborted) this.#spawns++;
    const result = await this.#runner.run(this.program, argv, {
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      onDebug: options.onDebug,
      reject: false,
    });
    if (result.exitCode === undefined) throw processError(result);
    return { ...result, exitCode: result.exitCode };
  }

  /** Runs `argv`; resolves with the output of a success, rejects with a mapped error. */
  async run(argv: readonly string[], options: CommandOptions): Promise<VBoxResult> {
    for (let attempt = 0; ; attempt++) {
      const result = await this.exec(argv, options);
      const info = parseVBoxError(result.stderr, result.exitCode, result.stdout);
      if (!info) return result;
      const kind = classifyVBoxError(info, options.code);
      let holder: LockHolder | undefined;
      if (kind === 'LOCKED') {
        holder = await options.lockHolder?.(options.signal).catch(() => undefined);
        const held = holder !== undefined && (holder.running || holder.sessionName !== undefined);
        if (!held && attempt < this.#retry.attempts) {
          await sleep(this.#retry.delayMs * 2 ** attempt, {
            signal: options.signal,
            what: `VBoxManage ${argv[0] ?? ''}`,
          });
          continue;
        }
      }
      const hint =
        hintFor(info) ??
        (holder && !holder.running && holder.sessionName !== undefined
          ? {
              problem: 'locked-by-other-process' as const,
              reason: `another program holds the VM's session lock (session "${holder.sessionName}")`,
              fix: 'close the VirtualBox Manager window or settings dialog (or the other program) that has this VM open, then retry',
            }
          : undefined);
      throw new HypervisorError(kind === 'LOCKED' ? 'CONTROL' : kind, info.message, {
        details: {
          command: [this.program, ...argv],
          exitCode: result.exitCode,
          ...(info.resultCode ? { resultCode: info.resultCode } : {}),
          ...(info.hresult ? { hresult: info.hresult } : {}),
          ...(info.component ? { component: info.component } : {}),
          ...(info.context ? { context: info.context } : {}),
          ...(info.status ? { status: info.status } : {}),
          ...(kind === 'LOCKED' ? { locked: true, attempts: attempt + 1 } : {}),
          ...(holder
            ? { vmState: holder.vmState, ...(holder.sessionName ? { sessionName: holder.sessionName } : {}) }
            : {}),
          ...(hint ? { problem: hint.problem, reason: hint.reason, fix: hint.fix } : {}),
          stderr: result.stderr,
        },
      });
    }
  }
}
