import type { VmPowerState } from '@cvmweb/core';

/**
 * Every `VMState` value of `showvminfo --machinereadable` (VirtualBox's `MachineState`, in the
 * short names VBoxManage prints) and the power state it means to cvmweb. Transient states map to
 * the state the machine is in while they last: `starting`/`restoring`/`stopping`/`saving` still
 * run a guest, snapshot work on a powered-off machine is `poweroff`.
 */
export const VM_STATES: Readonly<Record<string, VmPowerState>> = Object.freeze({
  poweroff: 'poweroff',
  aborted: 'poweroff',
  teleported: 'poweroff',
  saved: 'saved',
  'aborted-saved': 'saved',
  running: 'running',
  starting: 'running',
  restoring: 'running',
  stopping: 'running',
  saving: 'running',
  teleporting: 'running',
  livesnapshotting: 'running',
  onlinesnapshotting: 'running',
  deletingsnapshotlive: 'running',
  paused: 'paused',
  teleportingpausedvm: 'paused',
  deletingsnapshotlivepaused: 'paused',
  teleportingin: 'poweroff',
  settingup: 'poweroff',
  snapshotting: 'poweroff',
  restoringsnapshot: 'poweroff',
  deletingsnapshot: 'poweroff',
  gurumeditation: 'error',
  stuck: 'error',
});

/** A `VMState` value read from VirtualBox, mapped. */
export interface MappedState {
  readonly state: VmPowerState;
  /** The value VirtualBox printed. */
  readonly raw: string;
  /** False when the value is not one VirtualBox is known to print; the state is then `error`. */
  readonly known: boolean;
}

/** Maps a `VMState` value; an unknown value maps to `error`, keeping the raw value. */
export function mapVmState(raw: string | undefined): MappedState {
  const value = raw ?? '';
  const state = Object.hasOwn(VM_STATES, value) ? VM_STATES[value] : undefined;
  return state ? { state, raw: value, known: true } : { state: 'error', raw: value, known: false };
}
