import type { ActionOptions } from '@cvmweb/core';
import type { ProcessRunner } from '@cvmweb/core/node';
import type { Accelerator } from './accelerators.js';
import type { CpuCapCgroup } from './cgroup-cpu-cap.js';
import type { VmEvents } from './vm-events.js';

/** What every VM of one {@link QemuHypervisor} shares. */
export interface QemuContext {
  readonly runner: ProcessRunner;
  readonly binary: string;
  readonly qemuImg: string;
  readonly accelerator: Accelerator;
  readonly arch: string;
  /** aarch64: the UEFI firmware for ISO and disk boots, when found. */
  readonly firmware: string | undefined;
  /** The folder holding one folder per VM. */
  readonly root: string;
  readonly shutdownTimeoutMs: number;
  readonly commandTimeoutMs: number;
  readonly serialLog: boolean;
  readonly events: VmEvents;
  /** Where VMs are capped (cgroup v2), `undefined` where the execution cap is not supported. */
  readonly cpuCap: CpuCapCgroup | undefined;
  readonly onDebug?: ((message: string) => void) | undefined;
}

/** A call's signal and debug listener (a session's `debug` event). */
export interface Call {
  signal?: AbortSignal | undefined;
  onDebug?: ((message: string) => void) | undefined;
}

/** The signal and debug listener of an action's options. */
export function callOf(options: ActionOptions & { onDebug?: ((message: string) => void) | undefined }): Call {
  return { signal: options.signal, onDebug: options.onDebug };
}
