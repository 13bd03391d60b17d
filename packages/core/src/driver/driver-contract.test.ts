// What core asks of a driver, as docs/writing-a-driver.md tells a driver author: where the VM's
// directory reaches the driver and when it goes, which states stop() and destroy() are called
// in, how often apiEndpoint() is called, and capabilities a connection turns off.
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeDriver, type FakeDriverOptions } from '../../test/fake-driver.js';
import { rejection } from '../../test/rejection.js';
import { ManualClock } from '../clock/clock.js';
import { createCvmweb } from '../create-cvmweb.js';
import type { Cvmweb } from '../cvmweb.js';
import { ImageCache } from '../images/image-cache.js';
import { createMemorySessionRegistry } from '../registry/memory-session-registry.js';
import { TEST_SCRYPT_COST } from '../registry/owner-secret.js';
import type { SessionRegistry } from '../registry/session-registry.js';
import { SessionState } from '../state/session-state.js';
import type { VmPowerState } from './driver.js';

const userData = '[cernvm]\nusers=user:users:s3cr3t\n';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function stateDirectory(): Promise<string> {
  const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-contract-'));
  cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
  return stateDir;
}

/** A cvmweb on `driver`; a second call with the same state directory and registry is a restart. */
async function connect(
  driver: FakeDriver,
  stateDir: string,
  registry: SessionRegistry,
  extra: { clock?: ManualClock } = {},
): Promise<Cvmweb> {
  const cvmweb = await createCvmweb({
    driver,
    stateDir,
    registry,
    secretCost: TEST_SCRYPT_COST,
    images: new ImageCache({ directory: join(stateDir, 'cache') }),
    ...(extra.clock
      ? {
          clock: extra.clock,
          apiTiming: { onlineIntervalMs: 2000, offlineInitialMs: 250, offlineMaxMs: 5000 },
        }
      : {}),
  });
  cleanups.push(() => cvmweb.dispose());
  return cvmweb;
}

async function setup(options: FakeDriverOptions = {}, prepare: (driver: FakeDriver) => void = () => {}) {
  const stateDir = await stateDirectory();
  const driver = new FakeDriver(options);
  prepare(driver);
  const registry = createMemorySessionRegistry();
  const cvmweb = await connect(driver, stateDir, registry);
  const session = await cvmweb.requestSession('contract', 'key');
  return { stateDir, driver, registry, cvmweb, session };
}

/** The power state of the VM each time the driver was asked to `op` it. */
function powerAt(driver: FakeDriver, op: 'stop' | 'destroy'): VmPowerState[] {
  const seen: VmPowerState[] = [];
  const create = driver.create.bind(driver);
  driver.create = async (options) => {
    const inner = await create(options);
    const watch = <T extends { id: string; stop: unknown; destroy: unknown }>(vm: T): T => {
      const original = vm[op] as (o?: unknown) => Promise<void>;
      return {
        ...vm,
        [op]: (o?: unknown) => {
          seen.push(driver.vms.get(vm.id)?.power ?? 'poweroff');
          return original(o);
        },
      };
    };
    return {
      ...inner,
      createVm: async (spec, o) => watch(await inner.createVm(spec, o)),
      findVm: async (id, o) => {
        const vm = await inner.findVm(id, o);
        return vm && watch(vm);
      },
    };
  };
  return seen;
}

describe('the VM directory', () => {
  it('reaches createVm() only, exists (0700) under the state directory, and is removed by close()', async () => {
    const { stateDir, driver, session } = await setup();
    await session.open();
    const [vm] = [...driver.vms.values()];
    const directory = vm?.spec.directory ?? '';
    expect(directory).toBe(join(stateDir, 'vms', session.id));
    expect(statSync(directory).mode & 0o777).toBe(0o700);
    await session.start(userData);
    await session.close();
    expect(existsSync(directory)).toBe(false);
    expect(driver.vms.size).toBe(0);
  });

  it('is removed when createVm() fails', async () => {
    const { stateDir, driver, session } = await setup();
    driver.fail('create');
    await expect(session.open()).rejects.toBeDefined();
    expect(existsSync(join(stateDir, 'vms', session.id))).toBe(false);
  });

  it('after a restart, the VM is found again by its id alone: findVm() and listVms() get no directory', async () => {
    const { stateDir, driver, registry, session } = await setup();
    await session.open();
    await session.start(userData);
    const vmId = session.record.vmId;
    driver.calls.length = 0;
    const again = await connect(driver, stateDir, registry);
    expect((await again.reconcile()).vanished).toEqual([]);
    const found = await again.requestSession('contract', 'key');
    expect(found.state).toBe(SessionState.Started);
    expect(driver.calls).toContain(`find ${vmId}`);
    expect(driver.calls).toContain('list');
    expect(driver.calls.filter((call) => call.startsWith('create'))).toEqual([]);
  });
});

describe('stop() and destroy()', () => {
  it('stop() is called on a paused VM, and on a saved one from Error: the session is then Open, not hibernated', async () => {
    let stops: VmPowerState[] = [];
    const { driver, session } = await setup({}, (d) => {
      stops = powerAt(d, 'stop');
    });
    await session.open();
    await session.start(userData);
    await session.pause();
    await session.stop();
    expect(session.state).toBe(SessionState.Open);
    // A restore that fails leaves the session in Error with its VM still saved.
    await session.start(userData);
    await session.hibernate();
    driver.fail('start', new Error('restore failed'), 1);
    await expect(session.start(userData)).rejects.toBeDefined();
    expect(session.state).toBe(SessionState.Error);
    await session.stop();
    expect(stops).toEqual(['paused', 'saved']);
    expect(session.state).toBe(SessionState.Open);
    expect(session.hibernated).toBe(false); // so the driver must have dropped the saved memory
  });

  it('destroy() is called by close() in every state: powered off, running, paused, saved, error', async () => {
    let destroys: VmPowerState[] = [];
    const { driver, cvmweb } = await setup({}, (d) => {
      destroys = powerAt(d, 'destroy');
    });
    const reach: ((s: Awaited<ReturnType<Cvmweb['requestSession']>>) => Promise<void>)[] = [
      async () => undefined,
      (s) => s.start(userData),
      (s) => s.start(userData).then(() => s.pause()),
      (s) => s.start(userData).then(() => s.hibernate()),
      async (s) => {
        driver.fail('start', new Error('the hypervisor gave up'), 1);
        await s.start(userData).catch(() => undefined);
        const vm = driver.vms.get(s.record.vmId ?? '');
        if (vm) vm.power = 'error';
      },
    ];
    for (const [index, step] of reach.entries()) {
      const session = await cvmweb.requestSession(`contract-${index}`, 'key');
      await session.open();
      await step(session);
      await session.close();
      expect(session.state).toBe(SessionState.Closed);
    }
    expect(destroys).toEqual(['poweroff', 'running', 'paused', 'saved', 'error']);
    expect(driver.vms.size).toBe(0);
  });
});

describe('apiEndpoint()', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((done) => server?.close(done) ?? done(undefined));
    server = undefined;
  });

  it('is called once per look of the API watch: every 2 s while the API answers, never while a pause runs or the VM is paused', async () => {
    server = createServer((_request, response) => response.end('ok'));
    await new Promise<void>((done) => server?.listen(0, '127.0.0.1', done));
    const port = (server.address() as AddressInfo).port;
    const stateDir = await stateDirectory();
    const driver = new FakeDriver({
      capabilities: { apiPortForwarding: true },
      api: { host: '127.0.0.1', port },
    });
    let calls = 0;
    const create = driver.create.bind(driver);
    driver.create = async (options) => {
      const inner = await create(options);
      return {
        ...inner,
        createVm: async (spec, o) => {
          const vm = await inner.createVm(spec, o);
          return {
            ...vm,
            apiEndpoint: () => {
              calls++;
              return vm.apiEndpoint?.();
            },
          };
        },
      };
    };
    const clock = new ManualClock(1_000_000);
    const cvmweb = await connect(driver, stateDir, createMemorySessionRegistry(), { clock });
    const session = await cvmweb.requestSession('api', 'key');
    await session.open();
    expect(calls).toBe(0);
    await session.start(userData);
    await vi.waitFor(() => expect(session.apiURL).toBe(`http://127.0.0.1:${port}/`));
    expect(calls).toBe(1);
    for (let look = 2; look <= 5; look++) {
      await clock.advance(2000);
      await vi.waitFor(() => expect(calls).toBe(look));
    }
    const events: string[] = [];
    session.on('apiAvailable', () => events.push('apiAvailable'));
    session.on('apiUnavailable', () => events.push('apiUnavailable'));
    const atPause = calls;
    const held = driver.hang('pause');
    const pausing = session.pause();
    await held.entered;
    await clock.advance(10_000);
    expect(calls).toBe(atPause);
    held.release();
    await pausing;
    expect(events).toEqual(['apiUnavailable']);
    const paused = calls;
    await clock.advance(60_000);
    expect(calls).toBe(paused);
  });
});

describe('capabilities', () => {
  it('a connection turns off what create() found missing on this host: sessions answer NOT_SUPPORTED', async () => {
    const driver = new FakeDriver();
    const create = driver.create.bind(driver);
    driver.create = async (options) => ({
      ...(await create(options)),
      capabilities: { executionCap: false },
    });
    const stateDir = await stateDirectory();
    const cvmweb = await connect(driver, stateDir, createMemorySessionRegistry());
    expect(cvmweb.hypervisor.capabilities.executionCap).toBe(false);
    const session = await cvmweb.requestSession('caps', 'key');
    await session.open();
    await session.start(userData);
    expect((await rejection(session.setExecutionCap(50))).code).toBe(-11);
    expect(driver.calls.filter((call) => call.startsWith('setExecutionCap'))).toEqual([]);
    await session.pause();
    expect(session.state).toBe(SessionState.Paused);
  });
});
