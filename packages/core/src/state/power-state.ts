import type { VmPowerState } from '../driver/driver.js';
import { SessionState, type SessionStateValue } from './session-state.js';

/**
 * The session state that matches a VM's power state, used when core learns the
 * truth from the hypervisor (reconcile, a state change the session did not ask for).
 * A `saved` VM is an `Open` session with `hibernated: true`.
 */
export function sessionStateForPower(power: VmPowerState): { state: SessionStateValue; hibernated: boolean } {
  switch (power) {
    case 'running':
      return { state: SessionState.Started, hibernated: false };
    case 'paused':
      return { state: SessionState.Paused, hibernated: false };
    case 'saved':
      return { state: SessionState.Open, hibernated: true };
    case 'poweroff':
      return { state: SessionState.Open, hibernated: false };
    case 'error':
      return { state: SessionState.Error, hibernated: false };
  }
}
