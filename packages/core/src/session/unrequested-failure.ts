import type { ActionOptions } from '../action-options.js';
import type { GuardedVm } from '../driver/guarded-driver.js';
import { ErrorCode } from '../errors/error-code.js';
import { SessionState, type SessionStateValue } from '../state/session-state.js';

/** A failure no action asked for, as the session's `error(message, code, 'session')` tells it. */
export interface UnrequestedFailure {
  readonly message: string;
  readonly code: number;
}

/**
 * Whether a change of the VM that no session action made is a failure, to be told with the
 * session's `error` event:
 * - a VM that went into the hypervisor's error state (a crash) is;
 * - a running or paused VM that is off now is when the driver says so
 *   ({@link GuardedVm.stopCause} `failure`: killed from outside, crashed, failed);
 * - a guest that powered itself off cleanly, and a driver that cannot tell, are not;
 * - a VM that vanished, or a hypervisor that cannot be asked, are told by the session itself.
 * @internal
 */
export async function unrequestedFailure(
  vm: GuardedVm,
  from: SessionStateValue,
  truth: { state: SessionStateValue; hibernated: boolean },
  options?: ActionOptions,
): Promise<UnrequestedFailure | undefined> {
  if (truth.state === SessionState.Error && from !== SessionState.Error) {
    return {
      message: 'the virtual machine failed (the hypervisor reports an error state)',
      code: ErrorCode.CONTROL,
    };
  }
  const wasRunning = from === SessionState.Started || from === SessionState.Paused;
  if (!wasRunning || truth.state !== SessionState.Open || truth.hibernated) return undefined;
  const cause = await vm.stopCause(options).catch(() => undefined);
  return cause === 'failure'
    ? { message: 'the virtual machine was powered off from outside or crashed', code: ErrorCode.CONTROL }
    : undefined;
}
