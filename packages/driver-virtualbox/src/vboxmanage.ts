import { type ErrorCodeName, HypervisorError } from '@cvmweb/core';
import { sleep } from '@cvmweb/core/node';
import { classifyVBoxError, fixFor, parseVBoxError } from './error-parser.js';
import type { Runner, RunOptions, RunResult } from './runner.js';

/** How a locked machine is retried. */
export interface LockRetry {
  /** Retries after the first attempt (default 4). */
  readonly attempts: number;
  /** The first wait in ms, doubled after each retry (default 100). */
  readonly delayMs: number;
}

/** Options of one checked command. */
export interface CommandOptions extends RunOptions {
  /** The code a failure gets when VirtualBox's result code says nothing more precise. */
  code: ErrorCodeName;
}

/**
 * `VBoxManage` with VirtualBox's failures turned into `HypervisorError`s: the message keeps
 * VirtualBox's own text, `details` the full command, the result code, the context line and the
 * exit code. A machine locked by another session is retried with back-off, then fails `CONTROL`.
 */
export class VBoxManage {
  readonly runner: Runner;
  readonly #retry: LockRetry;

  constructor(runner: Runner, retry: Partial<LockRetry> = {}) {
    this.runner = runner;
    this.#retry = { attempts: retry.attempts ?? 4, delayMs: retry.delayMs ?? 100 };
  }

  /** Runs `argv`; resolves with the output of a success, rejects with a mapped error. */
  async run(argv: readonly string[], options: CommandOptions): Promise<RunResult> {
    for (let attempt = 0; ; attempt++) {
      const result = await this.runner.run(argv, options);
      const info = parseVBoxError(result.stderr, result.exitCode, result.stdout);
      if (!info) return result;
      const kind = classifyVBoxError(info, options.code);
      if (kind === 'LOCKED' && attempt < this.#retry.attempts) {
        await sleep(this.#retry.delayMs * 2 ** attempt, {
          signal: options.signal,
          what: `VBoxManage ${argv[0] ?? ''}`,
        });
        continue;
      }
      const fix = fixFor(info);
      throw new HypervisorError(kind === 'LOCKED' ? 'CONTROL' : kind, info.message, {
        details: {
          command: [this.runner.program, ...argv],
          exitCode: result.exitCode,
          ...(info.resultCode ? { resultCode: info.resultCode } : {}),
          ...(info.hresult ? { hresult: info.hresult } : {}),
          ...(info.component ? { component: info.component } : {}),
          ...(info.context ? { context: info.context } : {}),
          ...(info.status ? { status: info.status } : {}),
          ...(kind === 'LOCKED' ? { locked: true, attempts: attempt + 1 } : {}),
          ...(fix ? { fix } : {}),
          stderr: result.stderr,
        },
      });
    }
  }
}
