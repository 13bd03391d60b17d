import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeDriver, type FakeDriverOptions } from '../../test/fake-driver.js';
import { rejection } from '../../test/rejection.js';
import { ManualClock } from '../clock/clock.js';
import { createCvmweb } from '../create-cvmweb.js';
import type { Cvmweb } from '../cvmweb.js';
import { HypervisorError } from '../errors/hypervisor-error.js';
import { ImageCache } from '../images/image-cache.js';
import { createMemorySessionRegistry } from '../registry/memory-session-registry.js';
import { TEST_SCRYPT_COST } from '../registry/owner-secret.js';
import type { SessionRecord } from '../registry/session-record.js';
import type { SessionRegistry } from '../registry/session-registry.js';
import { SessionState } from '../state/session-state.js';
import type { Session } from './session.js';
import { originalEventNames, type SessionEvents } from './session-events.js';

const { Closed, Opening, Open, Starting, Started, Error: Failed, Paused } = SessionState;

const eventNames: (keyof SessionEvents)[] = [...originalEventNames, 'stateChanged'];

type Recorded = [string, ...unknown[]];

function recordEvents(session: Session): Recorded[] {
  const events: Recorded[] = [];
  for (const name of eventNames)
    session.on(name, (...args: unknown[]) => events.push([String(name), ...args]));
  return events;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  driver: FakeDriver;
  cvmweb: Cvmweb;
  registry: SessionRegistry;
  session: Session;
  events: Recorded[];
  stateDir: string;
}

/** Makes the registry's next write of a record matching `when` fail once, as a full disk would. */
function failingWrites(registry: SessionRegistry) {
  let when: ((record: SessionRecord) => boolean) | undefined;
  const put = registry.put.bind(registry);
  registry.put = async (record, options) => {
    if (when?.(record)) {
      when = undefined;
      throw new HypervisorError('IO', 'no space left on device');
    }
    return put(record, options);
  };
  return (match: (record: SessionRecord) => boolean) => {
    when = match;
  };
}

async function setup(options: FakeDriverOptions = {}): Promise<Setup> {
  const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-session-test-'));
  const driver = new FakeDriver(options);
  const registry = createMemorySessionRegistry();
  const cvmweb = await createCvmweb({
    driver,
    stateDir,
    registry,
    secretCost: TEST_SCRYPT_COST,
    clock: new ManualClock(1_000_000),
    images: new ImageCache({ directory: join(stateDir, 'cache') }),
  });
  cleanups.push(async () => {
    await cvmweb.dispose();
    await rm(stateDir, { recursive: true, force: true });
  });
  const session = await cvmweb.requestSession('test session', 'secret');
  return { driver, cvmweb, registry, session, events: recordEvents(session), stateDir };
}

const named = (events: Recorded[], ...names: string[]) => events.filter(([name]) => names.includes(name));
const lifecycle = (events: Recorded[]) =>
  events.map(([name]) => name).filter((name) => !['progress', 'stateChanged', 'debug'].includes(name));
const transitions = (events: Recorded[]) => named(events, 'stateChanged').map(([, to, from]) => [from, to]);

async function started(options: FakeDriverOptions = {}): Promise<Setup> {
  const s = await setup(options);
  await s.session.open();
  await s.session.start('[cernvm]\nusers=user:users:s3cr3t\n');
  s.events.length = 0;
  return s;
}

describe('Session queueing', () => {
  it('runs calls made without awaiting one at a time, in call order', async () => {
    const { session, events } = await setup();
    expect(session.busy).toBe(false);
    const calls = [session.open(), session.start('x'), session.pause(), session.resume(), session.stop()];
    expect(session.busy).toBe(true);
    await Promise.all(calls);
    expect(session.busy).toBe(false);
    expect(lifecycle(events)).toEqual(['open', 'start', 'pause', 'resume', 'stop']);
    expect(transitions(events)).toEqual([
      [Closed, Opening],
      [Opening, Open],
      [Open, Starting],
      [Starting, Started],
      [Started, Paused],
      [Paused, Started],
      [Started, Open],
    ]);
    expect(session.state).toBe(Open);
  });

  it('checks a queued call against the state when its turn comes', async () => {
    const { session, driver } = await setup();
    const opening = session.open();
    const pausing = session.pause(); // legal nowhere but Started: refused when its turn comes (state Open)
    const starting = session.start(); // illegal now (Closed), legal when its turn comes (Open)
    await opening;
    expect((await rejection(pausing)).code).toBe(-8);
    await starting;
    expect(session.state).toBe(Started);
    expect(driver.calls.some((call) => call.startsWith('pause'))).toBe(false);
  });

  it('keeps running the queue after a failed action', async () => {
    const { session, driver } = await setup();
    driver.fail('create', new Error('no space'), 1);
    const first = session.open();
    const second = session.open();
    expect((await rejection(first)).code).toBe(-1);
    await second;
    expect(session.state).toBe(Open);
    expect(session.busy).toBe(false);
  });

  it('rejects an action aborted while queued with aborted: true, changing nothing', async () => {
    const { session, driver, events, registry } = await setup();
    const gate = driver.hang('create');
    const opening = session.open();
    await gate.entered;
    const controller = new AbortController();
    const starting = session.start('x', { signal: controller.signal });
    controller.abort();
    const error = await rejection(starting);
    expect(error).toMatchObject({ code: -3, aborted: true });
    expect(session.state).toBe(Opening);
    gate.release();
    await opening;
    expect(session.state).toBe(Open);
    expect(session.busy).toBe(false);
    expect(driver.calls.some((call) => call.startsWith('start'))).toBe(false);
    expect(lifecycle(events)).toEqual(['open']);
    expect(registry.get(session.id)?.userData).toBeUndefined();
  });

  it('rejects at once an action whose signal is already aborted', async () => {
    const { session, events } = await setup();
    const error = await rejection(session.open(undefined, { signal: AbortSignal.abort() }));
    expect(error).toMatchObject({ code: -3, aborted: true });
    expect(events).toEqual([]);
    expect(session.busy).toBe(false);
  });

  it('aborts open() during a hanging driver call: rejected, Closed, nothing left', async () => {
    const { session, driver, events, registry, stateDir } = await setup();
    const gate = driver.hang('create');
    const controller = new AbortController();
    const opening = session.open({ cpus: 2 }, { signal: controller.signal });
    await gate.entered;
    expect(session.state).toBe(Opening);
    controller.abort();
    const error = await rejection(opening);
    expect(error).toMatchObject({ code: -3, aborted: true });
    expect(session.state).toBe(Closed);
    expect(driver.vms.size).toBe(0);
    expect(registry.get(session.id)).toMatchObject({ state: Closed });
    expect(registry.get(session.id)?.vmId).toBeUndefined();
    expect(registry.get(session.id)?.pending).toBeUndefined();
    expect(existsSync(join(stateDir, 'vms', session.id))).toBe(false);
    expect(named(events, 'openError', 'error')).toEqual([
      ['openError', error.message, -3],
      ['error', error.message, -3, 'open'],
    ]);
    expect(transitions(events)).toEqual([
      [Closed, Opening],
      [Opening, Closed],
    ]);
  });

  it('aborts start() during a hanging driver call: rejected, Error', async () => {
    const { session, driver } = await setup();
    await session.open();
    const gate = driver.hang('start');
    const controller = new AbortController();
    const starting = session.start('x', { signal: controller.signal });
    await gate.entered;
    expect(session.state).toBe(Starting);
    controller.abort();
    expect(await rejection(starting)).toMatchObject({ code: -3, aborted: true });
    expect(session.state).toBe(Failed);
    await session.start('x');
    expect(session.state).toBe(Started);
  });
});

describe('Session events', () => {
  it('are typed strictly: a misspelt event name or a wrong listener does not compile (checked by npm run typecheck)', () => {
    const listen = (session: Session) => {
      // @ts-expect-error 'apiAvaliable' is no event
      session.on('apiAvaliable', () => undefined);
      // @ts-expect-error 'opne' is no event
      session.addEventListener('opne', () => undefined);
      // @ts-expect-error progress gives (done: number, total: number, message: string)
      session.on('progress', (done: string) => done);
      session.on('apiAvailable', (ip: string, url: string) => `${ip} ${url}`);
    };
    expect(listen).toBeTypeOf('function');
  });

  it('fires the original plugin’s events with its argument orders through a whole lifecycle', async () => {
    const { session, events } = await setup();
    await session.open();
    expect(events[0]).toEqual(['stateChanged', Opening, Closed]);
    const openProgress = named(events, 'progress');
    expect(openProgress.at(0)).toEqual(['progress', 0, 100, expect.any(String)]);
    expect(openProgress.at(-1)).toEqual(['progress', 100, 100, expect.any(String)]);
    expect(events.at(-1)).toEqual(['open']);

    events.length = 0;
    await session.start('x');
    expect(named(events, 'progress').map(([, done, total]) => [done, total])).toEqual([
      [0, 100],
      [50, 100],
      [100, 100],
    ]);
    expect(events.at(-1)).toEqual(['start']);

    for (const [action, name] of [
      [() => session.pause(), 'pause'],
      [() => session.resume(), 'resume'],
      [() => session.reset(), 'reset'],
      [() => session.hibernate(), 'hibernate'],
    ] as const) {
      events.length = 0;
      await action();
      expect(lifecycle(events)).toEqual([name]);
      expect(events.at(-1)).toEqual([name]);
    }
    expect(session.hibernated).toBe(true);

    events.length = 0;
    await session.close();
    const closeProgress = named(events, 'progress');
    expect(closeProgress.map(([, done, total]) => [done, total])).toEqual([
      [0, 100],
      [50, 100],
      [100, 100],
    ]);
    for (const [, , , message] of closeProgress) expect(typeof message).toBe('string');
    expect(events.at(-1)).toEqual(['close']);
    expect(session.state).toBe(Closed);
  });

  it('fires openError(message, code) and error(message, code, category) when open() fails', async () => {
    const { session, driver, events } = await setup();
    driver.fail('create', new HypervisorError('CREATE', 'no space left on device'));
    const error = await rejection(session.open());
    expect(error.code).toBe(-1);
    expect(error.message).toContain('no space left on device');
    expect(named(events, 'openError', 'error', 'open')).toEqual([
      ['openError', error.message, -1],
      ['error', error.message, -1, 'open'],
    ]);
    expect(session.state).toBe(Closed);
    expect(driver.vms.size).toBe(0);
  });

  it.each([
    ['start', 'startError', -3],
    ['pause', 'pauseError', -3],
    ['resume', 'resumeError', -3],
    ['stop', 'stopError', -3],
    ['hibernate', 'hibernateError', -3],
    ['reset', 'resetError', -3],
    ['close', 'closeError', -4],
  ] as const)(
    'fires %s failures as %s(message, %i) and error(message, code, action)',
    async (action, event, code) => {
      const s = await setup();
      await s.session.open();
      if (action !== 'start') await s.session.start('x');
      if (action === 'resume') await s.session.pause();
      const op = action === 'close' ? 'destroy' : action;
      s.driver.fail(op, new Error(`${action} broke`));
      s.events.length = 0;
      const before = s.session.state;
      const run: Record<typeof action, () => Promise<void>> = {
        start: () => s.session.start('x'),
        pause: () => s.session.pause(),
        resume: () => s.session.resume(),
        stop: () => s.session.stop(),
        hibernate: () => s.session.hibernate(),
        reset: () => s.session.reset(),
        close: () => s.session.close(),
      };
      const error = await rejection(run[action]());
      expect(error.code).toBe(code);
      expect(error.message).toContain(`${action} broke`);
      expect(named(s.events, event, 'error', action)).toEqual([
        [event, error.message, code],
        ['error', error.message, code, action],
      ]);
      const expected = action === 'start' ? Failed : action === 'close' ? Failed : before;
      expect(s.session.state).toBe(expected);
    },
  );

  it('fires nothing for an action illegal in the current state', async () => {
    const { session, events, driver } = await setup();
    for (const run of [
      () => session.start(),
      () => session.pause(),
      () => session.stop(),
      () => session.close(),
    ]) {
      expect((await rejection(run())).code).toBe(-8);
    }
    expect(events).toEqual([]);
    expect(driver.calls.filter((call) => call !== 'connect')).toEqual([]);
  });

  it('refuses bad arguments with INVALID_USAGE at call time, firing nothing', async () => {
    const { session, events } = await setup();
    const bad: [() => Promise<unknown>, string][] = [
      [() => session.open({ cpus: 0 }), 'cpus'],
      [() => session.open({ rma: 5 } as never), 'rma'],
      [() => session.start(5 as never), 'userData'],
      [() => session.start('x'.repeat(1024 * 1024 + 1)), 'userData'],
      [() => session.setExecutionCap(0), 'cap'],
      [() => session.setProperty('bad key', 'v'), 'propertyName'],
      [() => session.setProperty('k', 5 as never), 'propertyValue'],
      [() => session.getProperty(''), 'propertyName'],
    ];
    for (const [run, field] of bad) {
      const error = await rejection(run());
      expect(error.code).toBe(-99);
      expect(error.details['field']).toBe(field);
    }
    expect(events).toEqual([]);
    expect(session.busy).toBe(false);
  });
});

describe('Session when the registry cannot write', () => {
  it('open() leaves no VM behind when recording the new VM fails', async () => {
    const { session, driver, registry } = await setup();
    const failNext = failingWrites(registry);
    failNext((record) => record.vmId !== undefined);
    expect((await rejection(session.open())).code).toBe(-6);
    expect(session.state).toBe(Closed);
    expect(driver.vms.size).toBe(0);
  });

  it('start() does not leave the session in the transient Starting state when recording fails', async () => {
    const { session, registry } = await setup();
    await session.open();
    const failNext = failingWrites(registry);
    failNext((record) => record.state === Started);
    expect((await rejection(session.start('x'))).code).toBe(-6);
    expect([Starting, Opening]).not.toContain(session.state);
    expect(session.busy).toBe(false);
  });
});

describe('Session capabilities', () => {
  it('answers NOT_SUPPORTED for missing capabilities without calling the driver', async () => {
    const { session, driver } = await started({
      capabilities: { pause: false, hibernate: false, reset: false, executionCap: false },
    });
    const before = driver.calls.length;
    for (const run of [
      () => session.pause(),
      () => session.hibernate(),
      () => session.reset(),
      () => session.setExecutionCap(50),
    ]) {
      expect((await rejection(run())).code).toBe(-11);
      expect(session.state).toBe(Started);
    }
    expect(driver.calls.length).toBe(before);
    expect(session.executionCap).toBe(100);
  });

  it('sets the execution cap on the VM and in the record when supported', async () => {
    const { session, driver, registry } = await setup();
    await session.open();
    await session.setExecutionCap(40);
    expect(session.executionCap).toBe(40);
    expect(registry.get(session.id)?.executionCap).toBe(40);
    expect([...driver.vms.values()][0]?.cap).toBe(40);
  });

  it('keeps properties in the registry when the driver lacks guestProperties', async () => {
    const { session, driver, registry } = await setup({ capabilities: { guestProperties: false } });
    await session.open();
    await session.setProperty('host', '10.110.17.67');
    expect(registry.get(session.id)?.properties).toEqual({ host: '10.110.17.67' });
    expect(await session.getProperty('host')).toBe('10.110.17.67');
    expect(await session.getProperty('unset')).toBe('');
    expect(driver.calls.some((call) => /^(set|get)Property/.test(call))).toBe(false);
  });

  it('writes properties to the guest and the registry, and reads the guest value, when supported', async () => {
    const { session, driver, registry } = await setup();
    await session.open();
    await session.setProperty('host', 'a');
    const vm = [...driver.vms.values()][0]!;
    expect(vm.properties.get('host')).toBe('a');
    expect(registry.get(session.id)?.properties).toEqual({ host: 'a' });
    vm.properties.set('host', 'changed-by-guest');
    expect(await session.getProperty('host')).toBe('changed-by-guest');
    vm.properties.delete('host');
    expect(await session.getProperty('host')).toBe('a');
  });
});

describe('Session start() user data', () => {
  it('expands name and name:default placeholders from options.values', async () => {
    const { session, driver, registry } = await setup();
    await session.open();
    await session.start(`users=\${user:guest}\nhost=\${host}\nkeep=\${missing}\nurl=\${url:http://h:80}`, {
      values: { host: 'h1', user: 'alice' },
    });
    const expected = `users=alice\nhost=h1\nkeep=\${missing}\nurl=http://h:80`;
    expect(driver.starts[0]?.userData).toBe(expected);
    expect(registry.get(session.id)?.userData).toBeUndefined(); // never at rest in the registry
    expect(driver.starts[0]?.context.format).toBe('cernvm');
    expect(driver.starts[0]?.context.size).toBeGreaterThan(0);
  });

  it('refuses user data that expands beyond 1 MiB with INVALID_USAGE at call time, changing nothing', async () => {
    const { session, events, driver } = await setup();
    await session.open();
    events.length = 0;
    const error = await rejection(session.start(`\${big}`, { values: { big: 'x'.repeat(1024 * 1024 + 1) } }));
    expect(error.code).toBe(-99);
    expect(error.details['field']).toBe('userData');
    expect(session.state).toBe(Open);
    expect(events).toEqual([]);
    expect(driver.starts).toEqual([]);
  });

  it('restores a hibernated session without writing a new medium', async () => {
    const { session, driver, events } = await started();
    await session.hibernate();
    expect(session.state).toBe(Open);
    expect(session.hibernated).toBe(true);
    events.length = 0;
    await session.start('ignored');
    expect(session.hibernated).toBe(false);
    expect(named(events, 'progress').map(([, done, total]) => [done, total])).toEqual([
      [0, 100],
      [100, 100],
    ]);
    expect(driver.starts).toHaveLength(2);
  });
});

describe('Session daemon settings', () => {
  it('validates and persists the daemon fields', async () => {
    const { session, registry } = await setup();
    expect([
      session.daemonControlled,
      session.daemonMinCap,
      session.daemonMaxCap,
      session.daemonFlags,
    ]).toEqual([false, 0, 100, 0]);
    await session.setDaemonSettings({ controlled: true, minCap: 25, maxCap: 100, flags: 0x3 });
    expect(registry.get(session.id)?.daemon).toEqual({ controlled: true, minCap: 25, maxCap: 100, flags: 3 });
    expect(session.daemonMinCap).toBe(25);
    await session.setDaemonSettings({ minCap: 0, maxCap: 0 }); // max ignored when min is 0
    expect(session.daemonMaxCap).toBe(0);
  });

  it('keeps every change when several fields are set at once (as the original plugin sets them one by one)', async () => {
    const { session, registry } = await setup();
    await Promise.all([
      session.setDaemonSettings({ controlled: true }),
      session.setDaemonSettings({ minCap: 25 }),
      session.setDaemonSettings({ maxCap: 90 }),
      session.setDaemonSettings({ flags: 0x1 }),
    ]);
    expect(registry.get(session.id)?.daemon).toEqual({ controlled: true, minCap: 25, maxCap: 90, flags: 1 });
  });

  it('writes the daemon fields as guest properties while a VM exists, and only then', async () => {
    const { session, driver } = await setup();
    await session.setDaemonSettings({ controlled: true });
    await session.open();
    await session.setDaemonSettings({ minCap: 25, flags: 0x2 });
    const vm = [...driver.vms.values()][0];
    expect(Object.fromEntries(vm?.properties ?? [])).toEqual({
      daemonControlled: 'true',
      daemonMinCap: '25',
      daemonMaxCap: '100',
      daemonFlags: '2',
    });
  });

  it('keeps the daemon fields in the registry only without the guestProperties capability', async () => {
    const { session, driver } = await setup({ capabilities: { guestProperties: false } });
    await session.open();
    await session.setDaemonSettings({ controlled: true, minCap: 10 });
    expect(session.daemonMinCap).toBe(10);
    expect([...driver.vms.values()][0]?.properties.size).toBe(0);
  });

  it.each([
    [{ minCap: -1 }, 'daemonMinCap'],
    [{ minCap: 101 }, 'daemonMinCap'],
    [{ minCap: 2.5 }, 'daemonMinCap'],
    [{ maxCap: 101 }, 'daemonMaxCap'],
    [{ maxCap: -1 }, 'daemonMaxCap'],
    [{ maxCap: '50' as never }, 'daemonMaxCap'],
    [{ minCap: 60, maxCap: 50 }, 'daemonMinCap'],
    [{ flags: 0x4 }, 'daemonFlags'],
    [{ flags: 0x8000_0000 }, 'daemonFlags'],
    [{ flags: -1 }, 'daemonFlags'],
    [{ flags: 1.5 }, 'daemonFlags'],
    [{ controlled: 'yes' as never }, 'daemonControlled'],
  ])('refuses %j with INVALID_USAGE naming %s, changing nothing', async (change, field) => {
    const { session, registry } = await setup();
    const before = registry.get(session.id);
    const error = await rejection(session.setDaemonSettings(change));
    expect(error.code).toBe(-99);
    expect(error.details['field']).toBe(field);
    expect(registry.get(session.id)).toBe(before);
  });
});

describe('Session refresh()', () => {
  it('adopts an out-of-band power change', async () => {
    const { session, driver, events } = await started();
    const vm = [...driver.vms.values()][0]!;
    vm.power = 'poweroff';
    expect(await session.refresh()).toBe(Open);
    vm.power = 'paused';
    expect(await session.refresh()).toBe(Paused);
    vm.power = 'saved';
    expect(await session.refresh()).toBe(Open);
    expect(session.hibernated).toBe(true);
    expect(await session.refresh()).toBe(Open);
    expect(transitions(events)).toEqual([
      [Started, Open],
      [Open, Paused],
      [Paused, Open],
    ]);
    expect(named(events, 'error')).toEqual([]);
  });

  it('is a no-op for a closed session', async () => {
    const { session, events, driver } = await setup();
    expect(await session.refresh()).toBe(Closed);
    expect(events).toEqual([]);
    expect(driver.calls).toEqual(['connect']);
  });

  it('closes a session whose VM vanished, with an error event', async () => {
    const { session, driver, events, registry } = await started();
    driver.vms.clear();
    expect(await session.refresh()).toBe(Closed);
    expect(transitions(events)).toEqual([[Started, Closed]]);
    expect(named(events, 'error')).toEqual([['error', expect.any(String), -9, 'session']]);
    expect(registry.get(session.id)?.vmId).toBeUndefined();
  });

  it('closes a session whose VM vanished while no process held it', async () => {
    const { session, driver, cvmweb, registry, stateDir } = await started();
    driver.vms.clear();
    await cvmweb.dispose();
    const again = await createCvmweb({
      driver: new FakeDriver(),
      stateDir,
      registry,
      secretCost: TEST_SCRYPT_COST,
      images: new ImageCache({ directory: join(stateDir, 'cache') }),
    });
    cleanups.push(() => again.dispose());
    const revived = (await again.session(session.id))!;
    const events = recordEvents(revived);
    expect(revived.state).toBe(Started);
    expect(await revived.refresh()).toBe(Closed);
    expect(named(events, 'error')).toEqual([['error', expect.any(String), -9, 'session']]);
  });
});

describe('Session stoppedByUser', () => {
  it('is set by a user stop, not by a daemon stop, and cleared by start', async () => {
    const { session, registry } = await started();
    await session.stop();
    expect(session.stoppedByUser).toBe(true);
    expect(registry.get(session.id)?.stoppedByUser).toBe(true);
    await session.start('x');
    expect(session.stoppedByUser).toBe(false);
    await session.stop({ initiator: 'daemon' });
    expect(session.stoppedByUser).toBe(false);
    expect(registry.get(session.id)?.stoppedByUser).toBe(false);
    expect(session.state).toBe(Open);
  });

  it('is set by a user close', async () => {
    const { session } = await started();
    await session.close();
    expect(session.stoppedByUser).toBe(true);
  });

  it('is set by a user pause or hibernate, cleared by resume, and left alone by the daemon', async () => {
    const { session } = await started();
    await session.pause({ initiator: 'daemon' });
    expect(session.stoppedByUser).toBe(false);
    await session.resume({ initiator: 'daemon' });
    await session.pause();
    expect(session.stoppedByUser).toBe(true);
    await session.resume();
    expect(session.stoppedByUser).toBe(false);
    await session.hibernate();
    expect(session.stoppedByUser).toBe(true);
    await session.start('x');
    expect(session.stoppedByUser).toBe(false);
    await session.hibernate({ initiator: 'daemon' });
    expect(session.stoppedByUser).toBe(false);
  });
});

describe('Session and the hypervisor watch', () => {
  it('adopts a change the driver reports (the guest powered itself off), and stops listening on dispose', async () => {
    const { session, driver, cvmweb } = await started();
    const vm = [...driver.vms.values()][0]!;
    vm.power = 'poweroff';
    for (const listener of driver.watchers) listener(vm.id);
    await vi.waitFor(() => expect(session.state).toBe(SessionState.Open));
    await cvmweb.dispose();
    expect(driver.watchers.size).toBe(0);
  });

  it('re-reads every VM when the driver resyncs after a gap in its events (a change it never reported)', async () => {
    const { session, driver, cvmweb } = await started();
    const vm = [...driver.vms.values()][0]!;
    vm.power = 'paused';
    for (const resync of driver.resyncers) resync();
    await vi.waitFor(() => expect(session.state).toBe(SessionState.Paused));
    await cvmweb.dispose();
    expect(driver.resyncers.size).toBe(0);
  });
});

describe('Session changed event', () => {
  it('fires when the cap, a property or a daemon field changes, not for reads', async () => {
    const { session } = await setup();
    await session.open();
    let changes = 0;
    session.on('changed', () => changes++);
    // A setter seen at once fires when its value shows, and again when the record is written.
    await session.setExecutionCap(50);
    expect(changes).toBe(2);
    await session.setProperty('k', 'v');
    expect(changes).toBe(3);
    await session.setDaemonSettings({ controlled: true });
    expect(changes).toBe(5);
    await session.getProperty('k');
    expect(changes).toBe(5);
  });
});

describe('Session property limits', () => {
  it('refuses a property beyond the per-session count, but still updates existing ones', async () => {
    const { session } = await setup();
    await session.open();
    for (let i = 0; i < 128; i++) await session.setProperty(`p${i}`, 'v');
    const error = await rejection(session.setProperty('one-too-many', 'v'));
    expect(error.codeName).toBe('INVALID_USAGE');
    expect(error.details['field']).toBe('propertyName');
    await session.setProperty('p0', 'changed');
    expect(await session.getProperty('p0')).toBe('changed');
    expect(await session.getProperty('one-too-many')).toBe('');
  });
});

describe('Session start() with expand: false', () => {
  it('uses the user data exactly as given', async () => {
    const { session, driver } = await started();
    await session.stop();
    const raw = ['a=$', '{x:default}'].join('');
    await session.start(raw, { expand: false, values: { x: 'value' } });
    expect(driver.starts.at(-1)?.userData).toBe(raw);
  });
});
