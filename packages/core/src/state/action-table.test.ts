import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDriver, type FakeOp } from '../../test/fake-driver.js';
import { createCvmweb } from '../create-cvmweb.js';
import type { DriverCapabilities } from '../driver/driver.js';
import { HypervisorError, isHypervisorError } from '../errors/hypervisor-error.js';
import { ImageCache } from '../images/image-cache.js';
import { createMemorySessionRegistry } from '../registry/memory-session-registry.js';
import { TEST_SCRYPT_COST } from '../registry/owner-secret.js';
import type { Session } from '../session/session.js';
import { originalEventNames, type SessionEvents } from '../session/session-events.js';
import {
  actionTable,
  assertLegal,
  isLegal,
  landingState,
  type SessionAction,
  sessionActions,
} from './action-table.js';
import { isSessionState, SessionState, type SessionStateValue } from './session-state.js';

const { Closed, Opening, Open, Starting, Started, Error: Failed, Paused } = SessionState;
const allStates = Object.values(SessionState) as SessionStateValue[];
const stableStates = allStates.filter((s) => s !== Opening && s !== Starting);

describe('SessionState', () => {
  it('has the numbers of the original plugin’s state constants', () => {
    expect({ ...SessionState }).toStrictEqual({
      Closed: 0,
      Opening: 1,
      Open: 2,
      Starting: 3,
      Started: 4,
      Error: 5,
      Paused: 6,
    });
  });

  it('isSessionState accepts exactly 0–6', () => {
    for (const state of allStates) expect(isSessionState(state)).toBe(true);
    for (const other of [-1, 7, 2.5, '2', null, undefined, Number.NaN])
      expect(isSessionState(other)).toBe(false);
  });
});

describe('actionTable', () => {
  it('is the documented table', () => {
    const expected: Record<
      SessionAction,
      [SessionStateValue[], SessionStateValue | undefined, unknown, unknown]
    > = {
      open: [[Closed], Opening, Open, Closed],
      start: [[Open, Failed], Starting, Started, Failed],
      pause: [[Started], undefined, Paused, 'same'],
      resume: [[Paused], undefined, Started, 'same'],
      stop: [[Started, Paused, Failed], undefined, Open, 'same'],
      hibernate: [[Started, Paused], undefined, Open, 'same'],
      reset: [[Started], undefined, Started, 'same'],
      close: [[Open, Started, Paused, Failed], undefined, Closed, Failed],
      setExecutionCap: [[Closed, Open, Started, Paused, Failed], undefined, 'same', 'same'],
      setProperty: [[Closed, Open, Started, Paused, Failed], undefined, 'same', 'same'],
      getProperty: [[Closed, Open, Started, Paused, Failed], undefined, 'same', 'same'],
    };
    expect([...sessionActions].sort()).toEqual(Object.keys(expected).sort());
    for (const action of sessionActions) {
      const [from, via, to, onFailure] = expected[action];
      const rule = actionTable[action];
      expect([...rule.from].sort(), action).toEqual([...from].sort());
      expect(rule.via, action).toBe(via);
      expect(rule.to, action).toBe(to);
      expect(rule.onFailure, action).toBe(onFailure);
    }
  });

  it('never starts an action from a transient state', () => {
    for (const action of sessionActions) {
      expect(isLegal(action, Opening)).toBe(false);
      expect(isLegal(action, Starting)).toBe(false);
    }
  });

  it('assertLegal throws INVALID_STATE with details exactly where isLegal is false', () => {
    for (const action of sessionActions) {
      for (const state of allStates) {
        const legal = actionTable[action].from.includes(state);
        expect(isLegal(action, state)).toBe(legal);
        if (legal) {
          expect(() => assertLegal(action, state)).not.toThrow();
        } else {
          let caught: unknown;
          try {
            assertLegal(action, state);
          } catch (error) {
            caught = error;
          }
          expect(isHypervisorError(caught)).toBe(true);
          expect((caught as HypervisorError).code).toBe(-8);
          expect((caught as HypervisorError).details).toMatchObject({ action, state });
        }
      }
    }
  });

  it('random action sequences only ever land in declared, non-transient states (property)', () => {
    const step = fc.record({ action: fc.constantFrom(...sessionActions), ok: fc.boolean() });
    fc.assert(
      fc.property(fc.constantFrom(...stableStates), fc.array(step, { maxLength: 40 }), (initial, steps) => {
        let state: SessionStateValue = initial;
        for (const { action, ok } of steps) {
          const legal = isLegal(action, state);
          expect(legal).toBe(actionTable[action].from.includes(state));
          if (!legal) {
            expect(() => assertLegal(action, state)).toThrow(HypervisorError);
            continue;
          }
          const next = landingState(action, state, ok);
          expect(isSessionState(next)).toBe(true);
          expect(next === Opening || next === Starting).toBe(false);
          const target = ok ? actionTable[action].to : actionTable[action].onFailure;
          expect(next).toBe(target === 'same' ? state : target);
          state = next;
        }
      }),
      { numRuns: 500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The same property on a real Session over the fake driver, with random driver failures.

const driverOp: Record<SessionAction, FakeOp> = {
  open: 'create',
  start: 'start',
  pause: 'pause',
  resume: 'resume',
  stop: 'stop',
  hibernate: 'hibernate',
  reset: 'reset',
  close: 'destroy',
  setExecutionCap: 'setExecutionCap',
  setProperty: 'setProperty',
  getProperty: 'getProperty',
};

const needs: Partial<
  Record<SessionAction, Exclude<keyof DriverCapabilities, 'apiPortForwarding' | 'display' | 'screenshot'>>
> = {
  pause: 'pause',
  resume: 'pause',
  hibernate: 'hibernate',
  reset: 'reset',
  setExecutionCap: 'executionCap',
};

const eventNames: (keyof SessionEvents)[] = [...originalEventNames, 'stateChanged'];

function run(session: Session, action: SessionAction): Promise<unknown> {
  switch (action) {
    case 'open':
      return session.open({ ram: 128 });
    case 'start':
      return session.start('[cernvm]\nusers=user:users:s3cr3t\n');
    case 'setExecutionCap':
      return session.setExecutionCap(50);
    case 'setProperty':
      return session.setProperty('key', 'value');
    case 'getProperty':
      return session.getProperty('key');
    default:
      return session[action]();
  }
}

describe('Session driven by random actions (property)', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'cvmweb-action-table-test-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('keeps the table, loses no transition and leaves no VM behind', async () => {
    // Mostly legal actions (picked by index among those legal when the step runs), some illegal
    // ones, and a driver failure in about one step of four.
    const step = fc.record({
      action: fc.constantFrom(...sessionActions),
      legal: fc.option(fc.nat(), { freq: 5, nil: undefined }),
      fail: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    });
    const capabilities = fc.record({
      pause: fc.boolean(),
      hibernate: fc.boolean(),
      reset: fc.boolean(),
      executionCap: fc.boolean(),
      guestProperties: fc.boolean(),
    });
    let runNumber = 0;
    await fc.assert(
      fc.asyncProperty(capabilities, fc.array(step, { maxLength: 25, size: 'max' }), async (caps, steps) => {
        const stateDir = join(root, String(runNumber++));
        const driver = new FakeDriver({ capabilities: caps });
        const cvmweb = await createCvmweb({
          driver,
          stateDir,
          registry: createMemorySessionRegistry(),
          secretCost: TEST_SCRYPT_COST,
          images: new ImageCache({ directory: join(stateDir, 'cache') }),
        });
        try {
          const session = await cvmweb.requestSession('prop', 'secret');
          const events: [string, ...unknown[]][] = [];
          for (const name of eventNames)
            session.on(name, (...args: unknown[]) => events.push([String(name), ...args]));

          for (const { action: anyAction, legal, fail } of steps) {
            const before = session.state;
            const legalNow = sessionActions.filter((a) => isLegal(a, before));
            const action = legal === undefined ? anyAction : legalNow[legal % legalNow.length]!;
            const seen = events.length;
            const op = driverOp[action];
            const error = fail ? new Error(`injected ${op}`) : undefined;
            if (error) driver.fail(op, error, 1);
            const calls = driver.calls.length;
            const outcome = await run(session, action).then(
              () => undefined,
              (e: unknown) => e,
            );
            const reachedDriver = driver.calls.slice(calls).some((call) => call.split(' ')[0] === op);
            driver.heal();

            expect(isSessionState(session.state)).toBe(true);
            expect(session.busy).toBe(false);
            if (!isLegal(action, before)) {
              expect(isHypervisorError(outcome)).toBe(true);
              expect((outcome as HypervisorError).code).toBe(-8);
              expect(session.state).toBe(before);
              expect(events.length).toBe(seen); // no events at all
              expect(driver.calls.length).toBe(calls);
              continue;
            }
            if (outcome !== undefined) {
              expect(isHypervisorError(outcome)).toBe(true);
              expect((outcome as HypervisorError).code).not.toBe(-8);
            }
            const capability = needs[action];
            if (capability && !caps[capability]) {
              expect((outcome as HypervisorError).code).toBe(-11);
              expect(reachedDriver).toBe(false);
            }
            if (error && reachedDriver) {
              expect(outcome).toBeDefined();
              expect((outcome as HypervisorError).cause).toBe(error);
            }
            expect(session.state).toBe(landingState(action, before, outcome === undefined));
            if (action === 'start' && outcome !== undefined) expect(session.state).toBe(Failed);
            if (action === 'open' && outcome !== undefined) {
              expect(session.state).toBe(Closed);
              expect(session.record.vmId).toBeUndefined();
            }
            // A VM exists exactly while the session is not Closed.
            expect(driver.vms.size).toBe(session.state === Closed ? 0 : 1);
          }

          // The stateChanged events form an unbroken chain from Closed to the current state.
          const chain = events.filter(([name]) => name === 'stateChanged').map(([, to, from]) => [from, to]);
          let current: unknown = Closed;
          for (const [from, to] of chain) {
            expect(from).toBe(current);
            expect(to).not.toBe(from);
            current = to;
          }
          expect(current).toBe(session.state);
          expect(session.record.pending).toBeUndefined();
        } finally {
          await cvmweb.dispose();
          await rm(stateDir, { recursive: true, force: true });
        }
      }),
      { numRuns: 50 },
    );
  });
});
