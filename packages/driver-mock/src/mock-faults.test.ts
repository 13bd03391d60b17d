import { type Hypervisor, isHypervisorError } from '@cvmweb/core';
import { ManualClock } from '@cvmweb/core/testing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startSpec, vmSpec } from '../test/test-helpers.js';
import { createMockHypervisor, type MockHypervisor, mock } from './index.js';

let state: MockHypervisor;

beforeEach(() => {
  state = createMockHypervisor();
});

afterEach(async () => {
  await state.shutdown();
  expect(state.openServers).toBe(0);
});

async function connect(options: Parameters<typeof mock>[0] = {}): Promise<Hypervisor> {
  return mock({ instance: state, ...options }).create();
}

async function outcome(promise: Promise<unknown> | undefined): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (!isHypervisorError(error)) throw error;
    return error.aborted ? `${error.codeName} aborted` : error.codeName;
  }
}

describe('fault injection', () => {
  it('fails the nth call for `times` calls with the step’s default code', async () => {
    const hv = await connect({ faults: [{ step: 'start', nth: 2, times: 2 }] });
    const vm = await hv.createVm(vmSpec());
    const results: string[] = [];
    for (let i = 0; i < 5; i++) {
      results.push(await outcome(vm.start(startSpec())));
      if ((await vm.state()) === 'running') await vm.stop();
    }
    expect(results).toEqual(['ok', 'CONTROL', 'CONTROL', 'ok', 'ok']);
    expect(state.calls.start).toBe(5);
    expect(state.faults).toEqual([]);
  });

  it('uses the given code and message, and carries the details', async () => {
    const hv = await connect({ faults: [{ step: 'start', code: 'EXTERNAL', message: 'VT-x is disabled' }] });
    const vm = await hv.createVm(vmSpec());
    const error = await vm.start(startSpec()).catch((e: unknown) => e);
    expect(error).toMatchObject({
      codeName: 'EXTERNAL',
      message: 'VT-x is disabled',
      details: { step: 'start', call: 1, injected: true },
    });
    expect(await vm.state()).toBe('poweroff');
    expect(state.openServers).toBe(0);
  });

  it('defaults each step to its natural code', async () => {
    const hv = await connect();
    const vm = await hv.createVm(vmSpec());
    const expected = {
      destroy: 'DELETE',
      setExecutionCap: 'MODIFY',
      setProperty: 'MODIFY',
      getProperty: 'QUERY',
      state: 'QUERY',
    } as const;
    for (const step of Object.keys(expected) as (keyof typeof expected)[]) state.inject({ step });
    expect(await outcome(vm.destroy())).toBe('DELETE');
    expect(await outcome(vm.setExecutionCap?.(10))).toBe('MODIFY');
    expect(await outcome(vm.setProperty?.('a', 'b'))).toBe('MODIFY');
    expect(await outcome(vm.getProperty?.('a'))).toBe('QUERY');
    expect(await outcome(vm.state())).toBe('QUERY');
    expect(await vm.state()).toBe('poweroff');
    expect(state.vm(vm.id)).toMatchObject({ executionCap: 100, properties: {} });
  });

  it('leaves nothing behind when create fails', async () => {
    const hv = await connect({ faults: [{ step: 'create' }] });
    const spec = vmSpec();
    expect(await outcome(hv.createVm(spec))).toBe('CREATE');
    expect(await hv.listVms()).toEqual([]);
    expect(state.vms()).toEqual([]);
    await hv.createVm(spec);
    expect(await hv.listVms()).toHaveLength(1);
  });

  it('counts nth from the injection at run time', async () => {
    const hv = await connect();
    const vm = await hv.createVm(vmSpec());
    await vm.start(startSpec());
    await vm.pause?.();
    await vm.resume?.();
    state.inject({ step: 'pause' });
    expect(await outcome(vm.pause?.())).toBe('CONTROL');
    expect(await outcome(vm.pause?.())).toBe('ok');
  });

  it('fails every later call with times: Infinity until cleared', async () => {
    const hv = await connect();
    const vm = await hv.createVm(vmSpec());
    state.inject({ step: 'state', times: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 3; i++) expect(await outcome(vm.state())).toBe('QUERY');
    state.clearFaults();
    expect(await vm.state()).toBe('poweroff');
  });

  it('rejects malformed faults', () => {
    expect(() => state.inject({ step: 'start', nth: 0 })).toThrow(/nth/);
    expect(() => state.inject({ step: 'start', times: 1.5 })).toThrow(/times/);
    expect(() => state.inject({ step: 'nope' as 'start' })).toThrow(/step/);
    expect(() => state.inject({ step: 'start', code: 'NOPE' as 'CONTROL' })).toThrow(/code/);
  });

  it('hangs until the signal aborts, leaving nothing half-made', async () => {
    const hv = await connect({ faults: [{ step: 'create', hang: true }] });
    const controller = new AbortController();
    const pending = outcome(hv.createVm(vmSpec(), { signal: controller.signal }));
    // Aborted once the call reached the hypervisor (and hangs there).
    await vi.waitFor(() => expect(state.calls.create).toBe(1));
    controller.abort();
    expect(await pending).toBe('CONTROL aborted');
    expect(state.vms()).toEqual([]);
  });

  it('keeps a hung start from starting the VM', async () => {
    const hv = await connect({ faults: [{ step: 'start', hang: true }] });
    const vm = await hv.createVm(vmSpec());
    const controller = new AbortController();
    const pending = outcome(vm.start(startSpec(), { signal: controller.signal }));
    controller.abort();
    expect(await pending).toBe('CONTROL aborted');
    expect(await vm.state()).toBe('poweroff');
    expect(state.openServers).toBe(0);
  });

  it('releases hung calls on shutdown', async () => {
    const hv = await connect({ faults: [{ step: 'stop', hang: true }] });
    const vm = await hv.createVm(vmSpec());
    await vm.start(startSpec());
    const pending = outcome(vm.stop());
    await state.shutdown();
    expect(await pending).toBe('CONTROL');
  });

  it('rejects at once with an already aborted signal, without counting the call', async () => {
    const hv = await connect();
    const vm = await hv.createVm(vmSpec());
    expect(await outcome(vm.start(startSpec(), { signal: AbortSignal.abort() }))).toBe('CONTROL aborted');
    expect(await outcome(hv.createVm(vmSpec(), { signal: AbortSignal.abort() }))).toBe('CONTROL aborted');
    expect(await outcome(hv.listVms({ signal: AbortSignal.abort() }))).toBe('CONTROL aborted');
    expect(state.calls.start).toBe(0);
    expect(state.calls.create).toBe(1);
  });
});

describe('delays', () => {
  it('follow a manual clock', async () => {
    const clock = new ManualClock();
    const hv = await connect({ clock, delays: { create: 1000, start: 5000 } });
    let vmDone = false;
    const creating = hv.createVm(vmSpec()).then((vm) => {
      vmDone = true;
      return vm;
    });
    await clock.advance(999);
    expect(vmDone).toBe(false);
    expect(state.vms()).toEqual([]);
    await clock.advance(1);
    const vm = await creating;
    expect(vmDone).toBe(true);
    const starting = vm.start(startSpec());
    await clock.advance(4999);
    expect(await vm.state()).toBe('poweroff');
    await clock.advance(1);
    await starting;
    expect(await vm.state()).toBe('running');
    expect(clock.now()).toBe(6000);
  });

  it('apply the power rules when the delay ends', async () => {
    const clock = new ManualClock();
    const hv = await connect({ clock, delays: { pause: 100 } });
    const vm = await hv.createVm(vmSpec());
    await vm.start(startSpec());
    const pausing = outcome(vm.pause?.());
    await vm.stop();
    await clock.advance(100);
    expect(await pausing).toBe('INVALID_STATE');
  });

  it('can be aborted, changing nothing', async () => {
    const clock = new ManualClock();
    const hv = await connect({ clock, delays: { create: 1000, destroy: 1000 } });
    const controller = new AbortController();
    const creating = outcome(hv.createVm(vmSpec(), { signal: controller.signal }));
    await clock.advance(500);
    controller.abort();
    expect(await creating).toBe('CONTROL aborted');
    expect(clock.pending).toBe(0);
    expect(state.vms()).toEqual([]);
  });

  it('delay a fault too', async () => {
    const clock = new ManualClock();
    const hv = await connect({ clock, delays: { stop: 200 }, faults: [{ step: 'stop' }] });
    const vm = await hv.createVm(vmSpec());
    await vm.start(startSpec());
    let settled = false;
    const stopping = outcome(vm.stop()).finally(() => {
      settled = true;
    });
    await clock.advance(199);
    expect(settled).toBe(false);
    await clock.advance(1);
    expect(await stopping).toBe('CONTROL');
    expect(await vm.state()).toBe('running');
  });
});
