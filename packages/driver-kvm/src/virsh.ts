import { type ErrorCodeName, HypervisorError, isHypervisorError } from '@cvmweb/core';
import {
  firstLine,
  formatCommand,
  type ProcessResult,
  type ProcessRunner,
  processError,
} from '@cvmweb/core/node';
import { VirshChannel } from './virsh-channel.js';

/** Options of {@link Virsh}. */
export interface VirshOptions {
  /** The virsh program (default `virsh` from `PATH`). */
  virsh: string;
  /** The libvirt URI every command connects to. */
  uri: string;
  /** Use one long-lived interactive virsh for cheap commands (default true). */
  channel: boolean;
  /** Default time box of one command in ms. */
  timeoutMs: number;
  /** Receives one line per command sent through the channel. */
  onDebug?: ((message: string) => void) | undefined;
}

/** Options of {@link Virsh.run}. */
export interface VirshRunOptions {
  signal?: AbortSignal | undefined;
  timeoutMs?: number;
  /** The error code of a failure (default `EXTERNAL`); "not found" answers get `NOT_FOUND`. */
  code?: ErrorCodeName;
  /** A short cheap command that may go through the persistent channel. */
  cheap?: boolean;
  /** Written to virsh's standard input (never through the channel). */
  input?: string;
  /** Receives this command's debug line (the caller's, e.g. a session's `debug` event). */
  onDebug?: ((message: string) => void) | undefined;
}

/**
 * Why virsh refused, when cvmweb branches on it: `details.reason` of the {@link HypervisorError}
 * that {@link Virsh.run} rejects with.
 */
export type VirshFailureReason = 'not-running' | 'transient';

const REASONS: readonly [VirshFailureReason, RegExp][] = [
  ['not-running', /domain is not running/i],
  ['transient', /transient domains? (do|does) not have any persistent config/i],
];

const NOT_FOUND =
  /failed to get domain|Domain not found|no domain with matching|Storage (volume|pool) not found|no storage (vol|pool) with matching|metadata not found|Requested metadata element is not present/i;

/** True when `error` is virsh saying that the domain, volume, pool or metadata does not exist. */
export function isNotFound(error: unknown): boolean {
  return isHypervisorError(error) && error.codeName === 'NOT_FOUND';
}

/** True when `error` is a virsh refusal classified as `reason` (see {@link VirshFailureReason}). */
export function isVirshFailure(error: unknown, reason: VirshFailureReason): boolean {
  return isHypervisorError(error) && error.details['reason'] === reason;
}

/**
 * `virsh` at one libvirt URI. Cheap commands go through a {@link VirshChannel} when their
 * arguments allow it; everything else (and everything after the channel failed three times in a
 * row) spawns one virsh per call.
 */
export class Virsh {
  readonly #runner: ProcessRunner;
  readonly #options: VirshOptions;
  readonly #channel: VirshChannel | undefined;
  #channelFailures = 0;

  constructor(runner: ProcessRunner, options: VirshOptions) {
    this.#runner = runner;
    this.#options = options;
    this.#channel = options.channel
      ? new VirshChannel(runner, {
          virsh: options.virsh,
          uri: options.uri,
          timeoutMs: options.timeoutMs,
          onDebug: options.onDebug,
        })
      : undefined;
  }

  /** The libvirt URI. */
  get uri(): string {
    return this.#options.uri;
  }

  /** Runs `virsh -c <uri> …args`; resolves with its standard output, rejects with a {@link HypervisorError}. */
  async run(args: readonly string[], options: VirshRunOptions = {}): Promise<string> {
    const result = await this.#raw(args, options);
    // Timed out, killed, or not started: the process's own failure.
    if (result.exitCode === undefined) throw processError(result);
    if (result.exitCode !== 0) throw virshError(args, result, options.code ?? 'EXTERNAL');
    return result.stdout;
  }

  /** Stops the persistent channel. */
  dispose(): void {
    this.#channel?.close();
  }

  async #raw(args: readonly string[], options: VirshRunOptions): Promise<ProcessResult> {
    const channel = this.#channel;
    if (
      options.cheap &&
      options.input === undefined &&
      channel &&
      this.#channelFailures < 3 &&
      VirshChannel.accepts(args)
    ) {
      try {
        const result = await channel.run(args, options);
        this.#channelFailures = 0;
        return result;
      } catch (error) {
        if (isHypervisorError(error) && error.aborted) throw error;
        this.#channelFailures++;
      }
    }
    return this.#runner.run(this.#options.virsh, ['-c', this.#options.uri, ...args], {
      reject: false,
      signal: options.signal,
      ...(options.input === undefined ? {} : { input: options.input }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.onDebug ? { onDebug: options.onDebug } : {}),
    });
  }
}

function virshError(args: readonly string[], result: ProcessResult, code: ErrorCodeName): HypervisorError {
  const command = formatCommand('virsh', args);
  const reason = REASONS.find(([, pattern]) => pattern.test(result.stderr))?.[0];
  const message = result.stderr
    .split('\n')
    .map((line) => line.replace(/^error: /, '').trim())
    .filter((line) => line !== '')
    .join('; ');
  return new HypervisorError(
    NOT_FOUND.test(result.stderr) ? 'NOT_FOUND' : code,
    `${command}: ${message || firstLine(result.stdout) || `exit code ${result.exitCode}`}`,
    {
      cause: new Error(result.stderr.trim() || `exit code ${result.exitCode}`),
      details: {
        command,
        exitCode: result.exitCode,
        stderr: result.stderr,
        ...(reason === undefined ? {} : { reason }),
      },
    },
  );
}
