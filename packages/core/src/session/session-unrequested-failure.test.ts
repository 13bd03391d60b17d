import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeDriver } from '../../test/fake-driver.js';
import type { ActionOptions } from '../action-options.js';
import { ManualClock } from '../clock/clock.js';
import { createCvmweb } from '../create-cvmweb.js';
import type { Hypervisor, StopCause, VmHandle } from '../driver/driver.js';
import { HypervisorError } from '../errors/hypervisor-error.js';
import { ImageCache } from '../images/image-cache.js';
import { createMemorySessionRegistry } from '../registry/memory-session-registry.js';
import { TEST_SCRYPT_COST } from '../registry/owner-secret.js';
import { SessionState } from '../state/session-state.js';

/** A fake driver whose VMs say why they stopped, as the KVM driver reads it from libvirt. */
class CauseDriver extends FakeDriver {
  cause: StopCause | undefined;

  override async create(options?: ActionOptions): Promise<Hypervisor> {
    const hypervisor = await super.create(options);
    const wrap = (vm: VmHandle): VmHandle => ({ ...vm, stopCause: async () => this.cause });
    return {
      ...hypervisor,
      createVm: async (spec, o) => wrap(await hypervisor.createVm(spec, o)),
      findVm: async (id, o) => {
        const vm = await hypervisor.findVm(id, o);
        return vm && wrap(vm);
      },
    };
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function running(driver: FakeDriver = new CauseDriver()) {
  const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-unrequested-test-'));
  const cvmweb = await createCvmweb({
    driver,
    stateDir,
    registry: createMemorySessionRegistry(),
    secretCost: TEST_SCRYPT_COST,
    clock: new ManualClock(1_000_000),
    images: new ImageCache({ directory: join(stateDir, 'cache') }),
  });
  cleanups.push(async () => {
    await cvmweb.dispose();
    await rm(stateDir, { recursive: true, force: true });
  });
  const session = await cvmweb.requestSession('unrequested', 'secret');
  await session.open();
  await session.start('x');
  const errors: [string, number, string][] = [];
  session.on('error', (message, code, category) => errors.push([message, code, category]));
  const vm = [...driver.vms.values()][0]!;
  /** Tells core what the hypervisor's event stream would: this VM changed. */
  const notify = () => {
    for (const listener of driver.watchers) listener(vm.id);
  };
  return { session, vm, errors, notify };
}

describe('Session: failures nobody asked for fire error(message, code, "session")', () => {
  it('a crash (the hypervisor reports an error state)', async () => {
    const { session, vm, errors, notify } = await running();
    vm.power = 'error';
    notify();
    await vi.waitFor(() => expect(errors).toEqual([[expect.any(String), -3, 'session']]));
    expect(session.state).toBe(SessionState.Error);
  });

  it('a VM powered off from outside, when the driver tells so', async () => {
    const driver = new CauseDriver();
    const { session, vm, errors, notify } = await running(driver);
    driver.cause = 'failure';
    vm.power = 'poweroff';
    notify();
    await vi.waitFor(() => expect(errors).toEqual([[expect.any(String), -3, 'session']]));
    expect(session.state).toBe(SessionState.Open);
  });

  it('a vanished VM', async () => {
    const driver = new CauseDriver();
    const { session, errors, notify } = await running(driver);
    const [id] = [...driver.vms.keys()];
    driver.vms.delete(id!);
    notify();
    await vi.waitFor(() => expect(errors).toEqual([[expect.any(String), -9, 'session']]));
    expect(session.state).toBe(SessionState.Closed);
  });

  it('a hypervisor that went away (the state cannot be read)', async () => {
    const driver = new CauseDriver();
    const { errors, notify } = await running(driver);
    driver.fail('state', new HypervisorError('EXTERNAL', 'libvirtd is not running'));
    notify();
    await vi.waitFor(() => expect(errors).toEqual([['libvirtd is not running', -7, 'session']]));
  });

  it('not a guest that powered itself off cleanly: only stateChanged', async () => {
    const driver = new CauseDriver();
    const { session, vm, errors, notify } = await running(driver);
    driver.cause = 'guest';
    const states: number[] = [];
    session.on('stateChanged', (state) => states.push(state));
    vm.power = 'poweroff';
    notify();
    await vi.waitFor(() => expect(states).toEqual([SessionState.Open]));
    expect(errors).toEqual([]);
  });

  it('not a power-off a driver cannot explain (no stopCause)', async () => {
    const { session, vm, errors, notify } = await running(new FakeDriver());
    vm.power = 'poweroff';
    notify();
    await vi.waitFor(() => expect(session.state).toBe(SessionState.Open));
    expect(errors).toEqual([]);
  });
});
