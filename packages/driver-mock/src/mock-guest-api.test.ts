import { GUEST_REPORT_PATH, GUEST_SPIN_PATH, type GuestReport, parseGuestReport } from '@cvmweb/core';
import { ManualClock } from '@cvmweb/core/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { httpGet, startSpec, vmSpec } from '../test/test-helpers.js';
import { createMockHypervisor, type MockHypervisor, mock } from './index.js';

// The cvmweb guest API of the mock's simulated guest: what the conformance suite reads.
let state: MockHypervisor;
let clock: ManualClock;

beforeEach(() => {
  state = createMockHypervisor();
  clock = new ManualClock();
});

afterEach(async () => {
  await state.shutdown();
});

async function running(userData = 'CVM_USER=demo') {
  const hv = await mock({ instance: state, clock }).create();
  const vm = await hv.createVm(vmSpec());
  await vm.start(startSpec(userData));
  const port = vm.apiEndpoint?.()?.port ?? 0;
  const report = async (): Promise<GuestReport | undefined> => {
    const answer = await httpGet(port, GUEST_REPORT_PATH);
    return answer.status === 200 ? parseGuestReport(answer.body) : undefined;
  };
  return { vm, port, report };
}

describe('the guest API of the mock', () => {
  it('reports the boot, its uptime on the mock clock, the user data and the context', async () => {
    const { report } = await running();
    await clock.advance(1500);
    expect(await report()).toEqual({
      bootId: expect.stringMatching(/^mock-/),
      uptimeMs: 1500,
      userData: 'CVM_USER=demo',
      context: { format: 'cernvm', source: 'mock' },
      spin: 0,
      keys: '',
    });
  });

  it('stands still while paused and saved, keeps the boot across both, and reboots on reset', async () => {
    const { vm, report } = await running();
    await clock.advance(1000);
    const first = await report();
    await vm.pause?.();
    await clock.advance(5000);
    await vm.resume?.();
    expect(await report()).toMatchObject({ bootId: first?.bootId, uptimeMs: 1000 });
    await vm.hibernate?.();
    await clock.advance(5000);
    await vm.start(startSpec('ignored on restore'));
    await clock.advance(500);
    expect(await report()).toMatchObject({
      bootId: first?.bootId,
      uptimeMs: 1500,
      userData: 'CVM_USER=demo',
    });
    await vm.reset?.();
    const reset = await report();
    expect(reset?.bootId).not.toBe(first?.bootId);
    expect(reset?.uptimeMs).toBe(0);
  });

  it('spins in proportion to the execution cap', async () => {
    const { vm, port, report } = await running();
    expect((await httpGet(port, GUEST_SPIN_PATH)).body).toBe('spinning\n');
    await clock.advance(100);
    const full = (await report())?.spin ?? 0;
    await vm.setExecutionCap?.(20);
    await clock.advance(100);
    const capped = ((await report())?.spin ?? 0) - full;
    expect(full).toBeGreaterThan(0);
    expect(capped / full).toBeCloseTo(0.2, 5);
  });

  it('still answers the user data on any other path', async () => {
    const { port } = await running('plain');
    expect(await httpGet(port, '/')).toEqual({ status: 200, body: 'plain' });
  });
});
