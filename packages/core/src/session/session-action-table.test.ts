// The action table drives the session, cell by cell: for every action in every state a session
// can be in when an action's turn comes, the session refuses exactly what the table refuses (with
// the table's row in the error), shows the table's `via` state while the action runs, and lands
// in the table's `to` or `onFailure` state. The expectations are read from `actionTable` itself.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDriver, type FakeOp } from '../../test/fake-driver.js';
import { rejection } from '../../test/rejection.js';
import { ManualClock } from '../clock/clock.js';
import { createCvmweb } from '../create-cvmweb.js';
import { ImageCache } from '../images/image-cache.js';
import { createMemorySessionRegistry } from '../registry/memory-session-registry.js';
import { TEST_SCRYPT_COST } from '../registry/owner-secret.js';
import {
  actionTable,
  isLegal,
  landingState,
  type SessionAction,
  sessionActions,
} from '../state/action-table.js';
import { SessionState, type SessionStateValue, sessionStateName } from '../state/session-state.js';
import type { Session } from './session.js';
import { originalEventNames } from './session-events.js';

const { Closed, Open, Started, Error: Failed, Paused } = SessionState;

/** The states an action can find a session in (the transient ones never are: actions run one at a time). */
const stable: SessionStateValue[] = [Closed, Open, Started, Paused, Failed];

/** The driver operation each action reaches once a VM exists. */
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

function run(session: Session, action: SessionAction): Promise<unknown> {
  switch (action) {
    case 'open':
      return session.open();
    case 'start':
      return session.start('[cernvm]\n');
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

let root: string;
let count = 0;
const disposals: (() => Promise<void>)[] = [];
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cvmweb-session-table-test-'));
});
afterAll(async () => {
  for (const dispose of disposals) await dispose();
  await rm(root, { recursive: true, force: true });
});

/** A fresh session brought into `state` through its own actions. */
async function sessionIn(state: SessionStateValue) {
  const stateDir = join(root, String(count++));
  const driver = new FakeDriver();
  const cvmweb = await createCvmweb({
    driver,
    stateDir,
    registry: createMemorySessionRegistry(),
    secretCost: TEST_SCRYPT_COST,
    clock: new ManualClock(1_000_000),
    images: new ImageCache({ directory: join(stateDir, 'cache') }),
  });
  disposals.push(() => cvmweb.dispose());
  const session = await cvmweb.requestSession('table', 'secret');
  if (state !== Closed) await session.open();
  if (state === Started || state === Paused) await session.start('[cernvm]\n');
  if (state === Paused) await session.pause();
  if (state === Failed) {
    driver.fail('start', new Error('injected start failure'), 1);
    await rejection(session.start('[cernvm]\n'));
  }
  expect(session.state).toBe(state);
  const events: string[] = [];
  for (const name of [...originalEventNames, 'stateChanged', 'changed'] as const)
    session.on(name, () => events.push(name));
  return { driver, session, events };
}

const cells = stable.flatMap((state) =>
  sessionActions.map((action) => [sessionStateName(state), action, state] as const),
);
const legalCells = cells.filter(([, action, state]) => isLegal(action, state));

describe('Session follows the action table', () => {
  it.each(stable.map((state) => [sessionStateName(state), state] as const))(
    "refuses in %s exactly the actions the table refuses there, with INVALID_STATE and the table's row, changing nothing",
    async (_name, state) => {
      const { session, driver, events } = await sessionIn(state);
      const calls = driver.calls.length;
      for (const action of sessionActions.filter((a) => !isLegal(a, state))) {
        const error = await rejection(run(session, action));
        expect(error.codeName, action).toBe('INVALID_STATE');
        expect(error.details, action).toEqual({ action, state, legalIn: actionTable[action].from });
      }
      expect(session.state).toBe(state);
      expect(events).toEqual([]);
      expect(driver.calls.length).toBe(calls);
    },
  );

  it.each(legalCells)(
    "in %s, %s shows the table's via state while it runs and lands in its to state",
    async (_name, action, state) => {
      const { session, driver } = await sessionIn(state);
      const reachesDriver = action === 'open' || session.record.vmId !== undefined;
      const gate = reachesDriver ? driver.hang(driverOp[action]) : undefined;
      const running = run(session, action);
      if (gate) {
        await gate.entered;
        expect(session.state).toBe(actionTable[action].via ?? state);
        gate.release();
      }
      await running;
      expect(session.state).toBe(landingState(action, state, true));
      expect(session.record.pending).toBeUndefined();
    },
  );

  it.each(legalCells.filter(([, action, state]) => action === 'open' || state !== Closed))(
    "in %s, %s lands in the table's onFailure state when the driver fails",
    async (_name, action, state) => {
      const { session, driver } = await sessionIn(state);
      const injected = new Error(`injected ${driverOp[action]} failure`);
      driver.fail(driverOp[action], injected, 1);
      const error = await rejection(run(session, action));
      expect(error.cause).toBe(injected);
      expect(session.state).toBe(landingState(action, state, false));
      expect(session.record.pending).toBeUndefined();
    },
  );
});
