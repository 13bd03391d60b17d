import type { ErrorCodeName } from '@cvmweb/core';
import type { MockStep } from './mock-step.js';

/**
 * A failure to inject into the mock hypervisor: the `nth` call of `step`
 * (and the `times - 1` calls after it) fail instead of doing their work.
 *
 * Calls are counted per {@link MockHypervisor}, across every VM and every
 * hypervisor connection sharing it, starting from the moment the fault is
 * injected: `{ step: 'start' }` fails the next `start()`, whichever VM it is on.
 *
 * @example
 * ```ts
 * mock({ faults: [{ step: 'start', nth: 2, code: 'EXTERNAL', message: 'VT-x is disabled' }] });
 * state.inject({ step: 'stop', hang: true }); // the next stop() waits until its signal aborts
 * ```
 */
export interface MockFault {
  /** The step that fails. */
  readonly step: MockStep;
  /** Which call fails, 1-based, counted from the injection. Default 1: the next one. */
  readonly nth?: number;
  /** How many consecutive calls fail, from the `nth` on. Default 1; `Infinity` for every later call. */
  readonly times?: number;
  /** The error code of the rejection. Default: the step's natural code (`CREATE`, `CONTROL`, `DELETE`, `MODIFY`, `QUERY`). */
  readonly code?: ErrorCodeName;
  /** The error message. Default: `mock: injected <step> fault`. */
  readonly message?: string;
  /**
   * Instead of failing, never settle until the call's signal aborts (then reject with an aborted
   * `CONTROL` error) or the state is shut down. A call without a signal hangs for good.
   */
  readonly hang?: boolean;
}
