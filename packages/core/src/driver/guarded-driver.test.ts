import { describe, expect, it } from 'vitest';
import { FakeDriver } from '../../test/fake-driver.js';
import { rejection } from '../../test/rejection.js';
import { HypervisorError, isHypervisorError } from '../errors/hypervisor-error.js';
import type { Driver, VmSpec } from './driver.js';
import { GuardedDriver, type GuardedHypervisor } from './guarded-driver.js';

const image = {
  version: '1.3',
  context: 'cernvm' as const,
  resolve: () => Promise.reject(new Error('unused')),
};

function spec(name = 'cvmweb-test-000000000000'): VmSpec {
  return {
    sessionId: 's1',
    name,
    cpus: 1,
    ram: 256,
    disk: 0,
    executionCap: 100,
    image,
    directory: '/nowhere',
  };
}

/** Lets pending promise callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

async function connected(driver = new FakeDriver(), onDebug?: (line: string) => void) {
  const guard = new GuardedDriver(driver, onDebug ? { onDebug } : {});
  const hypervisor = await guard.connect();
  return { driver, guard, hypervisor };
}

describe('GuardedDriver', () => {
  it('connects once however many callers ask at the same time', async () => {
    const driver = new FakeDriver();
    const guard = new GuardedDriver(driver);
    const all = await Promise.all([guard.connect(), guard.connect(), guard.connect()]);
    expect(driver.calls.filter((c) => c === 'connect')).toHaveLength(1);
    expect(all[1]).toBe(all[0]);
    expect(all[2]).toBe(all[0]);
    expect(await guard.connect()).toBe(all[0]);
    expect(driver.calls.filter((c) => c === 'connect')).toHaveLength(1);
  });

  it('retries create on the next connect after a failure, keeping the cause', async () => {
    const driver = new FakeDriver();
    const cause = new Error('socket refused');
    driver.fail('connect', cause, 1);
    const guard = new GuardedDriver(driver);
    const [a, b] = await Promise.allSettled([guard.connect(), guard.connect()]);
    expect(a.status).toBe('rejected');
    expect(b.status).toBe('rejected');
    const error = (a as PromiseRejectedResult).reason as HypervisorError;
    expect(isHypervisorError(error)).toBe(true);
    expect(error.code).toBe(-7);
    expect(error.cause).toBe(cause);
    expect(driver.calls.filter((c) => c === 'connect')).toHaveLength(1);
    const hypervisor = await guard.connect();
    expect(hypervisor.name).toBe('fake');
    expect(driver.calls.filter((c) => c === 'connect')).toHaveLength(2);
  });

  it('refuses every use after dispose with INVALID_STATE and disposes the connection once', async () => {
    const { driver, guard, hypervisor } = await connected();
    const vm = await hypervisor.createVm(spec());
    await guard.dispose();
    await guard.dispose();
    await hypervisor.dispose();
    expect(driver.disposed).toBe(1);
    const before = driver.calls.length;
    expect((await rejection(guard.connect())).code).toBe(-8);
    expect((await rejection(hypervisor.createVm(spec('cvmweb-other-000000000000')))).code).toBe(-8);
    expect((await rejection(hypervisor.listVms())).code).toBe(-8);
    expect((await rejection(hypervisor.findVm(vm.id))).code).toBe(-8);
    expect((await rejection(vm.state())).code).toBe(-8);
    expect((await rejection(vm.destroy())).code).toBe(-8);
    expect(vm.apiEndpoint()).toBeUndefined();
    expect(driver.calls.length).toBe(before);
  });

  it('answers NOT_SUPPORTED uniformly for every missing capability, without calling the driver', async () => {
    const driver = new FakeDriver({
      capabilities: {
        pause: false,
        hibernate: false,
        reset: false,
        executionCap: false,
        guestProperties: false,
      },
    });
    const { hypervisor } = await connected(driver);
    const vm = await hypervisor.createVm(spec());
    const before = driver.calls.length;
    const cases: [string, string, () => Promise<unknown>][] = [
      ['pause', 'pause', () => vm.pause()],
      ['resume', 'pause', () => vm.resume()],
      ['hibernate', 'hibernate', () => vm.hibernate()],
      ['reset', 'reset', () => vm.reset()],
      ['setExecutionCap', 'executionCap', () => vm.setExecutionCap(50)],
      ['setProperty', 'guestProperties', () => vm.setProperty('k', 'v')],
      ['getProperty', 'guestProperties', () => vm.getProperty('k')],
    ];
    for (const [operation, capability, run] of cases) {
      const error = await rejection(run());
      expect(error.code).toBe(-11);
      expect(error.details).toEqual({ driver: 'fake', operation, capability });
    }
    expect(driver.calls.length).toBe(before);
    expect(vm.apiEndpoint()).toBeUndefined();
  });

  it('turns off, for the connection, the capabilities its hypervisor reports the host lacks', async () => {
    const driver = new FakeDriver({ capabilities: { hibernate: false } });
    const create = driver.create.bind(driver);
    // Found out at create(): no cgroups here; a true cannot turn on what the driver lacks.
    driver.create = async (options) => ({
      ...(await create(options)),
      capabilities: { executionCap: false, hibernate: true },
      capabilityReasons: { executionCap: '/sys/fs/cgroup is cgroup v1' },
    });
    const { guard, hypervisor } = await connected(driver);
    expect(hypervisor.capabilities).toMatchObject({ executionCap: false, hibernate: false, pause: true });
    expect(guard.capabilities.executionCap).toBe(true); // what the driver declares, before connecting
    const vm = await hypervisor.createVm(spec());
    const before = driver.calls.length;
    const error = await rejection(vm.setExecutionCap(50));
    expect(error.code).toBe(-11);
    expect(error.details).toEqual({
      driver: 'fake',
      operation: 'setExecutionCap',
      capability: 'executionCap',
      reason: '/sys/fs/cgroup is cgroup v1', // the hypervisor's reason, in the message too
    });
    expect(error.message).toBe(
      'the fake driver does not support setExecutionCap(): /sys/fs/cgroup is cgroup v1',
    );
    expect(hypervisor.capabilityReasons).toEqual({ executionCap: '/sys/fs/cgroup is cgroup v1' });
    expect((await rejection(vm.hibernate())).code).toBe(-11);
    expect(driver.calls.length).toBe(before);
    await vm.setProperty('k', 'v'); // the others still reach the driver
    expect(driver.calls.at(-1)).toBe('setProperty cvmweb-test-000000000000');
  });

  it("refuses a hypervisor whose name is not the driver's, and disposes it", async () => {
    const driver = new FakeDriver();
    const create = driver.create.bind(driver);
    driver.create = async (options) => ({ ...(await create(options)), name: 'other' });
    const guard = new GuardedDriver(driver);
    const error = await rejection(guard.connect());
    expect(error.code).toBe(-12);
    expect(error.details).toEqual({ driver: 'fake', hypervisor: 'other' });
    expect(driver.disposed).toBe(1);
  });

  it('answers undefined when apiEndpoint() throws, and says why in a debug line', async () => {
    const lines: string[] = [];
    const driver = new FakeDriver({ capabilities: { apiPortForwarding: true } });
    const create = driver.create.bind(driver);
    driver.create = async (options) => {
      const inner = await create(options);
      return {
        ...inner,
        createVm: async (s, o) => ({
          ...(await inner.createVm(s, o)),
          apiEndpoint: () => {
            throw new Error('no port yet');
          },
        }),
      };
    };
    const { hypervisor } = await connected(driver, (line) => lines.push(line));
    const vm = await hypervisor.createVm(spec());
    expect(vm.apiEndpoint()).toBeUndefined();
    expect(lines.at(-1)).toBe('fake: apiEndpoint cvmweb-test-000000000000 failed: no port yet');
  });

  it('answers NOT_IMPLEMENTED when a capability is declared but its method is missing', async () => {
    const driver = new FakeDriver({ missing: ['pause', 'setExecutionCap', 'getProperty'] });
    const { hypervisor } = await connected(driver);
    const vm = await hypervisor.createVm(spec());
    expect((await rejection(vm.pause())).code).toBe(-100);
    expect((await rejection(vm.setExecutionCap(10))).code).toBe(-100);
    expect((await rejection(vm.getProperty('k'))).code).toBe(-100);
    await vm.start({ userData: '', context: { format: 'cernvm', path: '', size: 0 } });
    expect(await vm.state()).toBe('running');
  });

  it.each([
    ['state', -5],
    ['start', -3],
    ['stop', -3],
    ['destroy', -4],
    ['pause', -3],
    ['resume', -3],
    ['hibernate', -3],
    ['reset', -3],
    ['setExecutionCap', -2],
    ['setProperty', -2],
    ['getProperty', -5],
  ] as const)(
    'turns a plain Error of %s into a HypervisorError with code %i, keeping the cause',
    async (op, code) => {
      const { driver, hypervisor } = await connected();
      const vm = await hypervisor.createVm(spec());
      const cause = new Error(`${op} exploded`);
      driver.fail(op, cause);
      const calls: Record<typeof op, () => Promise<unknown>> = {
        state: () => vm.state(),
        start: () => vm.start({ userData: '', context: { format: 'cernvm', path: '', size: 0 } }),
        stop: () => vm.stop(),
        destroy: () => vm.destroy(),
        pause: () => vm.pause(),
        resume: () => vm.resume(),
        hibernate: () => vm.hibernate(),
        reset: () => vm.reset(),
        setExecutionCap: () => vm.setExecutionCap(5),
        setProperty: () => vm.setProperty('k', 'v'),
        getProperty: () => vm.getProperty('k'),
      };
      const error = await rejection(calls[op]());
      expect(error.code).toBe(code);
      expect(error.cause).toBe(cause);
      expect(error.message).toContain(`${op} exploded`);
    },
  );

  it.each([
    ['createVm', 'create', -1],
    ['findVm', 'find', -5],
    ['listVms', 'list', -5],
  ] as const)('turns a plain Error of %s into code %i', async (method, op, code) => {
    const { driver, hypervisor } = await connected();
    const cause = new TypeError('boom');
    driver.fail(op, cause);
    const run: Record<typeof method, () => Promise<unknown>> = {
      createVm: () => hypervisor.createVm(spec()),
      findVm: () => hypervisor.findVm('fake-1'),
      listVms: () => hypervisor.listVms(),
    };
    const error = await rejection(run[method]());
    expect(error.code).toBe(code);
    expect(error.cause).toBe(cause);
  });

  it('passes a HypervisorError of the driver through unchanged', async () => {
    const { driver, hypervisor } = await connected();
    const vm = await hypervisor.createVm(spec());
    const original = new HypervisorError('NOT_VALIDATED', 'bad checksum');
    driver.fail('start', original);
    expect(
      await rejection(vm.start({ userData: '', context: { format: 'cernvm', path: '', size: 0 } })),
    ).toBe(original);
  });

  it('serialises calls on one VM: the second waits until the first is done', async () => {
    const { driver, hypervisor } = await connected();
    const vm = await hypervisor.createVm(spec());
    const gate = driver.hang('state');
    const first = vm.state();
    const second = vm.getProperty('k');
    const third = vm.stop();
    await gate.entered;
    await settle();
    expect(driver.calls.slice(-1)).toEqual([`state ${vm.name}`]);
    gate.release();
    expect(await first).toBe('poweroff');
    expect(await second).toBeUndefined();
    await third;
    expect(driver.calls.slice(-3)).toEqual([`state ${vm.name}`, `getProperty ${vm.name}`, `stop ${vm.name}`]);
  });

  it('keeps serialising after a failed call', async () => {
    const { driver, hypervisor } = await connected();
    const vm = await hypervisor.createVm(spec());
    driver.fail('pause', new Error('no'), 1);
    const gate = driver.hang('pause');
    const first = vm.pause();
    const second = vm.state();
    await gate.entered;
    await settle();
    expect(driver.calls.at(-1)).toBe(`pause ${vm.name}`);
    gate.release();
    expect((await rejection(first)).code).toBe(-3);
    expect(await second).toBe('poweroff');
  });

  it('lets calls on two VMs overlap', async () => {
    const { driver, hypervisor } = await connected();
    const a = await hypervisor.createVm(spec('cvmweb-a-000000000000'));
    const b = await hypervisor.createVm(spec('cvmweb-b-000000000000'));
    const gate = driver.hang('state');
    const blocked = a.state();
    await gate.entered;
    await b.start({ userData: '', context: { format: 'cernvm', path: '', size: 0 } });
    expect(await b.state()).toBe('running');
    gate.release();
    expect(await blocked).toBe('poweroff');
  });

  it('rejects a call whose signal is already aborted without reaching the driver', async () => {
    const { driver, hypervisor } = await connected();
    const vm = await hypervisor.createVm(spec());
    const before = driver.calls.length;
    const error = await rejection(vm.stop({ signal: AbortSignal.abort() }));
    expect(error).toMatchObject({ code: -3, aborted: true });
    expect(driver.calls.length).toBe(before);
  });

  it('reports one debug line per driver call', async () => {
    const lines: string[] = [];
    const { hypervisor } = await connected(new FakeDriver(), (line) => lines.push(line));
    const vm = await hypervisor.createVm(spec('cvmweb-dbg-000000000000'));
    await vm.state();
    await vm.setProperty('k', 'v');
    await hypervisor.listVms();
    await hypervisor.findVm(vm.id);
    expect(lines).toHaveLength(5);
    expect(lines[0]).toContain('create cvmweb-dbg-000000000000');
    expect(lines[1]).toContain('state cvmweb-dbg-000000000000');
    expect(lines[2]).toContain('setProperty');
    expect(lines.every((line) => line.startsWith('fake:'))).toBe(true);
  });

  it('probe never throws', async () => {
    const driver: Driver = {
      name: 'broken',
      capabilities: new FakeDriver().capabilities,
      probe: () => Promise.reject(new Error('exploded')),
      create: () => Promise.reject(new Error('unused')),
    };
    const result = await new GuardedDriver(driver).probe();
    expect(result).toMatchObject({ installed: false, healthy: false, score: 0 });
    expect(result.reason).toContain('exploded');
  });

  it('wraps found VMs the same way', async () => {
    const { driver, hypervisor } = await connected(new FakeDriver({ capabilities: { pause: false } }));
    const made = await hypervisor.createVm(spec());
    const found = (await hypervisor.findVm(made.id)) as Awaited<ReturnType<GuardedHypervisor['findVm']>>;
    expect(found?.id).toBe(made.id);
    expect((await rejection(found!.pause())).code).toBe(-11);
    expect(await hypervisor.findVm('nope')).toBeUndefined();
    expect(driver.calls.filter((c) => c.startsWith('pause'))).toHaveLength(0);
  });
});

describe('GuardedDriver watch', () => {
  it('passes VM notifications through, isolates a failing listener, and is silent after dispose', async () => {
    const driver = new FakeDriver();
    const lines: string[] = [];
    const { guard, hypervisor } = await connected(driver, (line) => lines.push(line));
    const seen: string[] = [];
    hypervisor.watch(() => {
      throw new Error('listener broke');
    });
    const stop = hypervisor.watch((vmId) => seen.push(vmId));
    for (const listener of driver.watchers) listener('vm-1');
    expect(seen).toEqual(['vm-1']);
    expect(lines.some((line) => line.includes('listener broke'))).toBe(true);
    stop();
    for (const listener of driver.watchers) listener('vm-2');
    expect(seen).toEqual(['vm-1']);
    const late: string[] = [];
    hypervisor.watch((vmId) => late.push(vmId));
    await guard.dispose();
    for (const listener of driver.watchers) listener('vm-3');
    expect(late).toEqual([]);
  });

  it('passes resyncs through, isolates a failing one, and is silent after dispose', async () => {
    const driver = new FakeDriver();
    const lines: string[] = [];
    const { guard, hypervisor } = await connected(driver, (line) => lines.push(line));
    let resyncs = 0;
    hypervisor.watch(
      () => undefined,
      () => {
        throw new Error('resync broke');
      },
    );
    const stop = hypervisor.watch(
      () => undefined,
      () => resyncs++,
    );
    for (const resync of driver.resyncers) resync();
    expect(resyncs).toBe(1);
    expect(lines.some((line) => line.includes('a resync listener failed: resync broke'))).toBe(true);
    stop();
    expect(driver.resyncers.size).toBe(1);
    await guard.dispose();
    for (const resync of driver.resyncers) resync();
    expect(resyncs).toBe(1);
  });

  it('is a no-op for a driver without watch', async () => {
    const driver = new FakeDriver();
    const create = driver.create.bind(driver);
    driver.create = async (options) => {
      const { watch: _watch, ...rest } = await create(options);
      return rest;
    };
    const { hypervisor } = await connected(driver);
    expect(() => hypervisor.watch(() => undefined)()).not.toThrow();
  });
});
