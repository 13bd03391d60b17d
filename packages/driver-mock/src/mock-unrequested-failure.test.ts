// Failures nobody asked for (issue #14): core fires the session's `error(message, code, 'session')`
// for what the mock's outside events report, and nothing for a guest that shuts itself down.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cvmweb, createCvmweb, ErrorCode, SessionState } from '@cvmweb/core';
import { TEST_SCRYPT_COST } from '@cvmweb/core/testing';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { createMockHypervisor, type MockHypervisor, mock } from './index.js';

let stateDir: string;
let hypervisor: MockHypervisor;
let cvmweb: Cvmweb | undefined;

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-mock-unrequested-'));
  hypervisor = createMockHypervisor();
});

afterEach(async () => {
  await cvmweb?.dispose();
  cvmweb = undefined;
  await hypervisor.shutdown();
  await rm(stateDir, { recursive: true, force: true });
});

async function running() {
  cvmweb = await createCvmweb({
    driver: mock({ instance: hypervisor }),
    stateDir,
    secretCost: TEST_SCRYPT_COST,
  });
  const session = await cvmweb.requestSession('unrequested', 'secret');
  await session.open();
  await session.start('user data');
  const errors: [string, number, string][] = [];
  session.on('error', (message, code, category) => errors.push([message, code, category]));
  return { session, errors };
}

it('a crash fires error(message, code, "session") and leaves the session in Error', async () => {
  const { session, errors } = await running();
  await hypervisor.crash(session.vmName);
  await vi.waitFor(() => expect(errors).toEqual([[expect.any(String), ErrorCode.CONTROL, 'session']]));
  expect(session.state).toBe(SessionState.Error);
});

it('a hypervisor that cannot be asked any more fires error with its code', async () => {
  const { session, errors } = await running();
  hypervisor.inject({
    step: 'state',
    code: 'EXTERNAL',
    message: 'the hypervisor went away',
    times: Infinity,
  });
  await hypervisor.guestShutdown(session.vmName);
  await vi.waitFor(() =>
    expect(errors).toEqual([['the hypervisor went away', ErrorCode.EXTERNAL, 'session']]),
  );
});

it('a guest that shuts itself down is no failure: the session is Open and no error fires', async () => {
  const { session, errors } = await running();
  const states: number[] = [];
  session.on('stateChanged', (state) => states.push(state));
  await hypervisor.guestShutdown(session.vmName);
  await vi.waitFor(() => expect(states).toEqual([SessionState.Open]));
  expect(errors).toEqual([]);
});
