import type { ErrorCodeName } from '@cvmweb/core';

/** The operations of the mock hypervisor that count calls, take delays and accept injected faults. */
export type MockStep =
  | 'create'
  | 'start'
  | 'stop'
  | 'pause'
  | 'resume'
  | 'hibernate'
  | 'reset'
  | 'destroy'
  | 'setExecutionCap'
  | 'setProperty'
  | 'getProperty'
  | 'state';

/** Every {@link MockStep}, in declaration order. */
export const mockSteps: readonly MockStep[] = Object.freeze([
  'create',
  'start',
  'stop',
  'pause',
  'resume',
  'hibernate',
  'reset',
  'destroy',
  'setExecutionCap',
  'setProperty',
  'getProperty',
  'state',
]);

/** The error code an injected fault carries when it names none: what a real driver would report. */
export const defaultFaultCodes: Readonly<Record<MockStep, ErrorCodeName>> = Object.freeze({
  create: 'CREATE',
  start: 'CONTROL',
  stop: 'CONTROL',
  pause: 'CONTROL',
  resume: 'CONTROL',
  hibernate: 'CONTROL',
  reset: 'CONTROL',
  destroy: 'DELETE',
  setExecutionCap: 'MODIFY',
  setProperty: 'MODIFY',
  getProperty: 'QUERY',
  state: 'QUERY',
});

/** A call counter per step, all zero. */
export function zeroCalls(): Record<MockStep, number> {
  return Object.fromEntries(mockSteps.map((step) => [step, 0])) as Record<MockStep, number>;
}
