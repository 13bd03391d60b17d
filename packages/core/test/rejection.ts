import { type HypervisorError, isHypervisorError } from '../src/errors/hypervisor-error.js';

/** Test helper: the {@link HypervisorError} a promise rejects with; fails when it resolves or rejects otherwise. */
export async function rejection(promise: Promise<unknown>): Promise<HypervisorError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  if (!isHypervisorError(error)) throw new Error(`not a HypervisorError: ${String(error)}`);
  return error;
}
