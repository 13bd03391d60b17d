import type { ActionOptions } from '../action-options.js';
import type { VmPowerState } from '../driver/driver.js';
import { ErrorCode } from '../errors/error-code.js';
import { isHypervisorError, toHypervisorError } from '../errors/hypervisor-error.js';
import { sessionStateForPower } from '../state/power-state.js';
import { SessionState, type SessionStateValue } from '../state/session-state.js';
import type { SessionParts } from './session-context.js';
import { unrequestedFailure } from './unrequested-failure.js';

/**
 * Reads the VM's power state from the hypervisor and adopts it when it changed behind the
 * session's back, in turn with the session's actions (see `Session.refresh`). Failures no action
 * asked for fire `error(message, code, 'session')`.
 * @internal
 */
export function refreshSession(parts: SessionParts, options?: ActionOptions): Promise<SessionStateValue> {
  return parts.runner.enqueue(options?.signal, () =>
    adoptPowerState(parts, options).catch((raw: unknown) => {
      // The hypervisor cannot be asked (it went away): a failure no action reported.
      const error = toHypervisorError(raw, 'QUERY', 'reading the virtual machine failed');
      if (!error.aborted) parts.emit('error', error.message, error.code, 'session');
      throw error;
    }),
  );
}

async function adoptPowerState(parts: SessionParts, options?: ActionOptions): Promise<SessionStateValue> {
  const { record } = parts;
  if (!record.current.vmId) return record.current.state;
  const vm = await parts.vm.find(options);
  if (!vm) return vanished(parts);
  let power: VmPowerState;
  try {
    power = await vm.state(options);
  } catch (error) {
    if (!isHypervisorError(error) || error.code !== ErrorCode.NOT_FOUND) throw error;
    return vanished(parts);
  }
  const from = record.current.state;
  const truth = sessionStateForPower(power);
  if (truth.state !== from || truth.hibernated !== record.current.hibernated) {
    const failure = await unrequestedFailure(vm, from, truth, options);
    await record.save(truth);
    if (failure) parts.emit('error', failure.message, failure.code, 'session');
  }
  return record.current.state;
}

/** The VM is gone from the hypervisor: the session is `Closed`, with an `error` event. */
async function vanished(parts: SessionParts): Promise<SessionStateValue> {
  parts.vm.set(undefined);
  await parts.record.commit({
    state: SessionState.Closed,
    vmId: undefined,
    driver: undefined,
    hibernated: false,
    pending: undefined,
  });
  parts.emit('error', 'the virtual machine disappeared from the hypervisor', ErrorCode.NOT_FOUND, 'session');
  return parts.record.current.state;
}
