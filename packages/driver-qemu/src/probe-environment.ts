import { access, constants } from 'node:fs/promises';
import {
  type AccelerationFacts,
  detectAcceleration,
  type ProcessRunner,
  processError,
} from '@cvmweb/core/node';
import type { ProgramLookup } from './find-qemu.js';

/** What one command printed and how it ended. */
export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

/** What the probe reads from the machine; tests replace it with recorded outputs. */
export interface ProbeEnvironment extends ProgramLookup {
  /** `process.arch` of the machine (`x64`, `arm64`). */
  readonly arch: string;
  /**
   * Runs a command to its end (never a shell), `input` on its standard input. Rejects when it
   * does not run to an exit (not installed, timed out, aborted).
   */
  run(
    file: string,
    args: readonly string[],
    options?: { signal?: AbortSignal | undefined; input?: string },
  ): Promise<CommandResult>;
  /** Linux: whether KVM really works (CPU flag, module, `/dev/kvm`). */
  kvmFacts(): Promise<AccelerationFacts>;
}

/** The probe's environment on this machine, running commands with `runner`. */
export function systemProbeEnvironment(runner: Pick<ProcessRunner, 'run'>): ProbeEnvironment {
  return {
    platform: process.platform,
    arch: process.arch,
    env: process.env,
    isExecutable: (file) =>
      access(file, process.platform === 'win32' ? constants.F_OK : constants.X_OK).then(
        () => true,
        () => false,
      ),
    run: async (file, args, options = {}) => {
      const result = await runner.run(file, args, {
        reject: false,
        timeoutMs: 4000,
        signal: options.signal,
        ...(options.input !== undefined ? { input: options.input } : {}),
      });
      if (result.exitCode === undefined) throw processError(result);
      return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode };
    },
    kvmFacts: () => detectAcceleration(),
  };
}
