import {
  type ActionOptions,
  abortedError,
  type Clock,
  HypervisorError,
  type ProgressOptions,
} from '@cvmweb/core';
import { defaultFaultCodes, type MockStep } from './mock-step.js';
import type { ApiConfig, MockWorld } from './mock-world.js';

/** What one hypervisor connection shares with its VM handles. */
export class MockContext {
  disposed = false;

  constructor(
    readonly world: MockWorld,
    readonly clock: Clock,
    readonly delays: Readonly<Partial<Record<MockStep, number>>>,
    readonly api: ApiConfig | undefined,
    readonly onDebug: ((message: string) => void) | undefined,
    /** The fake display draws a new frame for every update request (see `MockOptions.display`). */
    readonly animatedDisplay = false,
  ) {}

  /**
   * Enters a step: refuses on a disposed connection or an aborted signal, counts the call,
   * logs it, then applies its delay and any injected fault. Returns `undefined` when there is
   * nothing to wait for, so that the common zero-delay path never yields to the event loop.
   */
  enter(step: MockStep, subject: string, options: ActionOptions | undefined): Promise<void> | undefined {
    if (this.disposed) {
      throw new HypervisorError(
        'INVALID_STATE',
        `mock: ${step} ${subject}: the hypervisor connection was disposed`,
      );
    }
    const signal = options?.signal;
    if (signal?.aborted) throw abortedError(`mock: ${step} ${subject}`, signal.reason);
    const { call, fault } = this.world.draw(step);
    const line = `mock: ${step} ${subject}`;
    this.onDebug?.(line);
    (options as ProgressOptions | undefined)?.onDebug?.(line);
    const delay = this.delays[step] ?? 0;
    if (!(delay > 0) && !fault) return undefined;
    return (async () => {
      if (delay > 0) await this.clock.sleep(delay, signal);
      if (!fault) return;
      if (fault.hang) return this.#hang(step, subject, signal);
      throw new HypervisorError(
        fault.code ?? defaultFaultCodes[step],
        fault.message ?? `mock: injected ${step} fault`,
        {
          details: { step, call, vm: subject, injected: true },
        },
      );
    })();
  }

  #hang(step: MockStep, subject: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((_resolve, reject) => {
      const what = `mock: ${step} ${subject}`;
      if (signal?.aborted) return reject(abortedError(what, signal.reason));
      const release = (error: HypervisorError) => {
        this.world.hangs.delete(release);
        signal?.removeEventListener('abort', onAbort);
        reject(error);
      };
      const onAbort = () => release(abortedError(what, signal?.reason));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.world.hangs.add(release);
    });
  }
}
