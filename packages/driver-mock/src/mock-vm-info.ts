import type { VmPowerState, VmSpec } from '@cvmweb/core';

/** A snapshot of one VM of the mock hypervisor, for tests to inspect. */
export interface MockVmInfo {
  /** The VM's id, as `VmHandle.id` reports it. */
  readonly id: string;
  /** The hypervisor-side name. */
  readonly name: string;
  /** The session id recorded at creation (empty for a foreign VM). */
  readonly sessionId: string;
  /** False for a VM added with {@link MockHypervisor.addForeignVm}: cvmweb must never see it. */
  readonly ours: boolean;
  /** The current power state. */
  readonly state: VmPowerState;
  /**
   * Identifies the current boot: a new number on each fresh boot and reset, the same number
   * across hibernate and restore, `undefined` while powered off.
   */
  readonly bootId: number | undefined;
  /** The execution cap in percent. */
  readonly executionCap: number;
  /** The user data of the current boot (kept across hibernate and restore). */
  readonly userData: string | undefined;
  /** The guest properties. */
  readonly properties: Readonly<Record<string, string>>;
  /** The loopback port of the API endpoint while it is open. */
  readonly apiPort: number | undefined;
  /** The spec the VM was created with (`undefined` for a foreign VM). */
  readonly spec: VmSpec | undefined;
}
