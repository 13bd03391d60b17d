import { type Hypervisor, HypervisorError, isHypervisorError, type VmHandle } from '@cvmweb/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSpec, vmSpec } from '../test/test-helpers.js';
import { createMockHypervisor, type MockHypervisor, mock } from './index.js';

let state: MockHypervisor;
let hv: Hypervisor;

beforeEach(async () => {
  state = createMockHypervisor();
  hv = await mock({ instance: state }).create();
});

afterEach(async () => {
  await hv.dispose();
  await state.shutdown();
  expect(state.openServers).toBe(0);
});

async function rejection(promise: Promise<unknown>): Promise<HypervisorError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isHypervisorError(error)) throw new Error(`expected a HypervisorError, got ${String(error)}`);
  return error;
}

function bootId(vm: VmHandle): number | undefined {
  return state.vm(vm.id)?.bootId;
}

describe('mock driver', () => {
  it('is named mock, can do everything, and never wins detection by itself', async () => {
    const driver = mock({ version: '9.9' });
    expect(driver.name).toBe('mock');
    expect(Object.values(driver.capabilities).every(Boolean)).toBe(true);
    const probe = await driver.probe();
    expect(probe).toMatchObject({ installed: true, healthy: true, score: 0, version: '9.9' });
    expect(probe.reason).toContain('--driver mock');
    expect(await mock({ probe: { healthy: false, reason: 'broken' } }).probe()).toMatchObject({
      healthy: false,
      reason: 'broken',
    });
    expect(mock({ api: false }).capabilities.apiPortForwarding).toBe(false);
  });

  it('refuses to connect with an aborted signal', async () => {
    const error = await rejection(mock().create({ signal: AbortSignal.abort() }));
    expect(error).toMatchObject({ codeName: 'CONTROL', aborted: true });
  });
});

describe('hypervisor', () => {
  it('creates powered-off VMs, finds and lists them', async () => {
    const spec = vmSpec({ executionCap: 40 });
    const vm = await hv.createVm(spec);
    expect(vm.name).toBe(spec.name);
    expect(await vm.state()).toBe('poweroff');
    expect(await hv.findVm(vm.id)).toMatchObject({ id: vm.id, name: spec.name });
    expect(await hv.findVm('nope')).toBeUndefined();
    expect(await hv.listVms()).toEqual([
      { id: vm.id, name: spec.name, sessionId: spec.sessionId, state: 'poweroff' },
    ]);
    expect(state.vm(vm.id)).toMatchObject({ executionCap: 40, spec, ours: true });
    expect(state.calls.create).toBe(1);
  });

  it('rejects a second VM of the same name and keeps the first', async () => {
    const spec = vmSpec();
    await hv.createVm(spec);
    expect(await rejection(hv.createVm(spec))).toMatchObject({ codeName: 'CREATE' });
    expect(await hv.listVms()).toHaveLength(1);
  });

  it('never lists or finds foreign VMs', async () => {
    const id = state.addForeignVm('someone-elses-vm');
    expect(() => state.addForeignVm('someone-elses-vm')).toThrow(/exists/);
    expect(state.vm(id)).toMatchObject({ ours: false, state: 'poweroff' });
    expect(await hv.listVms()).toEqual([]);
    expect(await hv.findVm(id)).toBeUndefined();
    expect(await rejection(hv.createVm(vmSpec({ name: 'someone-elses-vm' })))).toMatchObject({
      codeName: 'CREATE',
    });
  });

  it('shares VMs between connections and drivers on one state, and not beyond', async () => {
    const vm = await hv.createVm(vmSpec());
    await vm.start(startSpec());
    await hv.dispose();
    // A "restarted process": a new driver on the same state finds the running VM.
    const again = await mock({ instance: state }).create();
    const found = await again.findVm(vm.id);
    expect(await found?.state()).toBe('running');
    expect(await again.listVms()).toHaveLength(1);
    expect(await (await mock().create()).listVms()).toEqual([]);
    await found?.stop();
    expect(await vm.state().catch((e: unknown) => e)).toMatchObject({ codeName: 'INVALID_STATE' });
    await again.dispose();
  });

  it('refuses calls after dispose but keeps running VMs running', async () => {
    const vm = await hv.createVm(vmSpec());
    await vm.start(startSpec());
    await hv.dispose();
    expect(await rejection(hv.listVms())).toMatchObject({ codeName: 'INVALID_STATE' });
    expect(await rejection(vm.pause?.() ?? Promise.resolve())).toMatchObject({ codeName: 'INVALID_STATE' });
    expect(state.vms()[0]?.state).toBe('running');
    expect(state.openServers).toBe(1);
  });

  it('reports progress and debug lines for create, start and destroy', async () => {
    const lines: string[] = [];
    const progress: string[] = [];
    const options = {
      onDebug: (line: string) => lines.push(line),
      onProgress: (done: number, total: number, message: string) =>
        progress.push(`${done}/${total} ${message}`),
    };
    const spec = vmSpec();
    const vm = await hv.createVm(spec, options);
    await vm.start(startSpec(), options);
    await vm.destroy(options);
    expect(lines).toEqual([
      `mock: create ${spec.name}`,
      `mock: start ${spec.name}`,
      `mock: destroy ${spec.name}`,
    ]);
    expect(progress.filter((p) => p.startsWith('3/3'))).toHaveLength(3);
    expect(progress[0]).toMatch(/^0\/3 /);
  });

  it('sends every step to the driver-wide onDebug too', async () => {
    const lines: string[] = [];
    const driverHv = await mock({ instance: state, onDebug: (l) => lines.push(l) }).create();
    const vm = await driverHv.createVm(vmSpec());
    await vm.setProperty?.('k', 'v');
    await vm.state();
    expect(lines.map((l) => l.split(' ')[1])).toEqual(['create', 'setProperty', 'state']);
  });
});

describe('power rules', () => {
  it('follows poweroff → running ⇄ paused → poweroff', async () => {
    const vm = await hv.createVm(vmSpec());
    await vm.start(startSpec());
    expect(await vm.state()).toBe('running');
    await vm.pause?.();
    expect(await vm.state()).toBe('paused');
    await vm.resume?.();
    expect(await vm.state()).toBe('running');
    await vm.pause?.();
    await vm.stop();
    expect(await vm.state()).toBe('poweroff');
    expect(bootId(vm)).toBeUndefined();
  });

  it('rejects actions that the power state does not allow, changing nothing', async () => {
    const vm = await hv.createVm(vmSpec());
    for (const action of [
      () => vm.pause?.(),
      () => vm.resume?.(),
      () => vm.hibernate?.(),
      () => vm.reset?.(),
    ]) {
      expect(await rejection(action() ?? Promise.resolve())).toMatchObject({ codeName: 'INVALID_STATE' });
    }
    await vm.start(startSpec());
    expect(await rejection(vm.start(startSpec()))).toMatchObject({
      codeName: 'INVALID_STATE',
      details: { action: 'start', state: 'running' },
    });
    expect(await rejection(vm.resume?.() ?? Promise.resolve())).toMatchObject({ codeName: 'INVALID_STATE' });
    await vm.pause?.();
    expect(await rejection(vm.pause?.() ?? Promise.resolve())).toMatchObject({ codeName: 'INVALID_STATE' });
    expect(await rejection(vm.reset?.() ?? Promise.resolve())).toMatchObject({ codeName: 'INVALID_STATE' });
    expect(await vm.state()).toBe('paused');
  });

  it('stops a VM that is off already as a no-op', async () => {
    const vm = await hv.createVm(vmSpec());
    await vm.stop();
    expect(await vm.state()).toBe('poweroff');
    expect(state.calls.stop).toBe(1);
  });

  it('keeps the boot across hibernate and restore, and starts a new one on boot and reset', async () => {
    const vm = await hv.createVm(vmSpec());
    await vm.start(startSpec('first'));
    const first = bootId(vm);
    expect(first).toBeDefined();
    await vm.hibernate?.();
    expect(await vm.state()).toBe('saved');
    expect(await rejection(vm.hibernate?.() ?? Promise.resolve())).toMatchObject({
      codeName: 'INVALID_STATE',
    });
    expect(await rejection(vm.stop())).toMatchObject({ codeName: 'INVALID_STATE' });
    await vm.start(startSpec('second'));
    expect(bootId(vm)).toBe(first);
    expect(state.vm(vm.id)?.userData).toBe('first');
    await vm.reset?.();
    const afterReset = bootId(vm);
    expect(afterReset).not.toBe(first);
    expect(await vm.state()).toBe('running');
    await vm.stop();
    await vm.start(startSpec('third'));
    expect(bootId(vm)).not.toBe(afterReset);
    expect(state.vm(vm.id)?.userData).toBe('third');
  });

  it('hibernates a paused VM', async () => {
    const vm = await hv.createVm(vmSpec());
    await vm.start(startSpec());
    await vm.pause?.();
    await vm.hibernate?.();
    expect(await vm.state()).toBe('saved');
  });

  it('boots a crashed VM again and stops it', async () => {
    const vm = await hv.createVm(vmSpec());
    await vm.start(startSpec());
    await state.crash(vm.id);
    expect(await vm.state()).toBe('error');
    expect(state.openServers).toBe(0);
    await vm.stop();
    await vm.start(startSpec());
    await state.guestShutdown(vm.name);
    expect(await vm.state()).toBe('poweroff');
    await vm.start(startSpec());
    expect(await vm.state()).toBe('running');
  });

  it('destroys a VM in any state, idempotently', async () => {
    for (const setup of ['poweroff', 'running', 'paused', 'saved'] as const) {
      const vm = await hv.createVm(vmSpec());
      if (setup !== 'poweroff') await vm.start(startSpec());
      if (setup === 'paused') await vm.pause?.();
      if (setup === 'saved') await vm.hibernate?.();
      await vm.destroy();
      await vm.destroy();
      expect(await hv.findVm(vm.id)).toBeUndefined();
      expect(await rejection(vm.state())).toMatchObject({ codeName: 'NOT_FOUND' });
      expect(await rejection(vm.start(startSpec()))).toMatchObject({ codeName: 'NOT_FOUND' });
    }
    expect(await hv.listVms()).toEqual([]);
    expect(state.openServers).toBe(0);
    expect(state.calls.destroy).toBe(8);
  });

  it('validates and keeps the execution cap in any state', async () => {
    const vm = await hv.createVm(vmSpec());
    await vm.setExecutionCap?.(50);
    expect(state.vm(vm.id)?.executionCap).toBe(50);
    await vm.start(startSpec());
    await vm.setExecutionCap?.(1);
    await vm.setExecutionCap?.(100);
    for (const bad of [0, 101, 50.5, Number.NaN]) {
      expect(await rejection(vm.setExecutionCap?.(bad) ?? Promise.resolve())).toMatchObject({
        codeName: 'INVALID_USAGE',
      });
    }
    expect(state.vm(vm.id)?.executionCap).toBe(100);
  });

  it('stores guest properties', async () => {
    const vm = await hv.createVm(vmSpec());
    expect(await vm.getProperty?.('missing')).toBeUndefined();
    await vm.setProperty?.('key', 'one');
    await vm.setProperty?.('key', 'two');
    await vm.start(startSpec());
    expect(await vm.getProperty?.('key')).toBe('two');
    expect(state.vm(vm.id)?.properties).toEqual({ key: 'two' });
    await vm.destroy();
    expect(await rejection(vm.getProperty?.('key') ?? Promise.resolve())).toMatchObject({
      codeName: 'NOT_FOUND',
    });
  });

  it('counts every step', async () => {
    const vm = await hv.createVm(vmSpec());
    await vm.start(startSpec());
    await vm.pause?.();
    await vm.pause?.().catch(() => undefined);
    await vm.state();
    expect(state.calls).toMatchObject({ create: 1, start: 1, pause: 2, state: 1, stop: 0 });
  });

  it('exposes the boot id on its own handles', async () => {
    const vm = await hv.createVm(vmSpec());
    await vm.start(startSpec());
    expect((vm as { bootId?: number }).bootId).toBe(bootId(vm));
  });
});

describe('memory', () => {
  it('holds thousands of VMs cheaply and without servers while they are off', async () => {
    const vms = await Promise.all(Array.from({ length: 2000 }, () => hv.createVm(vmSpec())));
    expect(vms).toHaveLength(2000);
    expect(state.openServers).toBe(0);
    expect(await hv.listVms()).toHaveLength(2000);
  });
});

it('rejects with HypervisorError instances', async () => {
  const vm = await hv.createVm(vmSpec());
  const error = await vm.pause?.().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(HypervisorError);
});
