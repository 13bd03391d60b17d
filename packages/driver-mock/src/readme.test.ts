// The examples of README.md, run against core's createCvmweb: keep the two in step.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cvmweb, createCvmweb, SessionState } from '@cvmweb/core';
import { ManualClock, TEST_SCRYPT_COST } from '@cvmweb/core/testing';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { createMockHypervisor, type MockHypervisor, mock } from './index.js';

let stateDir: string;
let hypervisor: MockHypervisor;
let cvmweb: Cvmweb | undefined;

beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'my-app-'));
  hypervisor = createMockHypervisor();
});

afterEach(async () => {
  await cvmweb?.dispose();
  cvmweb = undefined;
  await hypervisor.shutdown();
  await rm(stateDir, { recursive: true, force: true });
});

it('boots the VM with my user data', async () => {
  cvmweb = await createCvmweb({
    driver: mock({ instance: hypervisor }),
    stateDir,
    secretCost: TEST_SCRYPT_COST,
  });
  const session = await cvmweb.requestSession('demo', 'key');
  const api = new Promise<string>((resolve) => session.on('apiAvailable', (_ip, url) => resolve(url)));
  await session.open();
  await session.start('[cernvm]\nusers=demo:users:secret');
  const response = await fetch(await api);
  expect(await response.text()).toContain('users=demo');
  await session.close();
  expect(hypervisor.vms()).toEqual([]);
});

it('shows the error when the hypervisor cannot start the VM', async () => {
  const driver = mock({
    instance: hypervisor,
    faults: [{ step: 'start', code: 'EXTERNAL', message: 'VT-x is disabled' }],
  });
  cvmweb = await createCvmweb({ driver, stateDir, secretCost: TEST_SCRYPT_COST });
  const session = await cvmweb.requestSession('demo', 'key');
  await session.open();
  await expect(session.start('x')).rejects.toMatchObject({ codeName: 'EXTERNAL' });
  expect(session.state).toBe(SessionState.Error);
  await session.start('x');
  expect(session.state).toBe(SessionState.Started);
});

it('waits for a slow boot on virtual time', async () => {
  const clock = new ManualClock();
  const driver = mock({ instance: hypervisor, clock, delays: { start: 60_000 } });
  cvmweb = await createCvmweb({ driver, stateDir, clock, secretCost: TEST_SCRYPT_COST });
  const session = await cvmweb.requestSession('demo', 'key');
  await session.open();
  const starting = session.start('x');
  await vi.waitFor(() => expect(hypervisor.calls.start).toBe(1));
  await clock.advance(59_999);
  expect(session.state).toBe(SessionState.Starting);
  await clock.advance(1);
  await starting;
  expect(session.state).toBe(SessionState.Started);
});

it('follows a guest that shuts itself down, and one that crashes', async () => {
  cvmweb = await createCvmweb({
    driver: mock({ instance: hypervisor }),
    stateDir,
    secretCost: TEST_SCRYPT_COST,
  });
  const session = await cvmweb.requestSession('self-stopping', 'secret');
  await session.open();
  await session.start('user data');
  await hypervisor.guestShutdown(session.vmName);
  await vi.waitFor(() => expect(session.state).toBe(SessionState.Open));
  await session.start('user data');
  await hypervisor.crash(session.vmName);
  await vi.waitFor(() => expect(session.state).toBe(SessionState.Error));
});

it('catches up on a change made while the event stream was down', async () => {
  cvmweb = await createCvmweb({
    driver: mock({ instance: hypervisor }),
    stateDir,
    secretCost: TEST_SCRYPT_COST,
  });
  const session = await cvmweb.requestSession('missed', 'secret');
  await session.open();
  await session.start('user data');
  hypervisor.dropEvents();
  await hypervisor.guestShutdown(session.vmName);
  expect(session.state).toBe(SessionState.Started); // not reported
  hypervisor.restoreEvents();
  await vi.waitFor(() => expect(session.state).toBe(SessionState.Open));
});
