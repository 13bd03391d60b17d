import { access, constants } from 'node:fs/promises';
import { type AccelerationFacts, detectAcceleration, type Runner } from '@cvmweb/driver-kvm';
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
  /** Runs a command to its end (never a shell), `input` on its standard input. */
  run(
    file: string,
    args: readonly string[],
    options?: { signal?: AbortSignal | undefined; input?: string },
  ): Promise<CommandResult>;
  /** Linux: whether KVM really works (CPU flag, module, `/dev/kvm`). */
  kvmFacts(): Promise<AccelerationFacts>;
}

/** The probe's environment on this machine, running commands with `runner`. */
export function systemProbeEnvironment(runner: Runner): ProbeEnvironment {
  return {
    platform: process.platform,
    arch: process.arch,
    env: process.env,
    isExecutable: (file) =>
      access(file, process.platform === 'win32' ? constants.F_OK : constants.X_OK).then(
        () => true,
        () => false,
      ),
    run: (file, args, options = {}) =>
      runner.run(file, args, {
        reject: false,
        timeoutMs: 4000,
        signal: options.signal,
        ...(options.input !== undefined ? { input: options.input } : {}),
      }),
    kvmFacts: () => detectAcceleration(),
  };
}
