import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeDriver } from '../test/fake-driver.js';
import { rejection } from '../test/rejection.js';
import { createCvmweb } from './create-cvmweb.js';
import type { Cvmweb, CvmwebOptions, CvmwebWarning } from './cvmweb.js';
import type { Daemon } from './daemon/daemon-contract.js';
import type { HypervisorError } from './errors/hypervisor-error.js';
import { ImageCache } from './images/image-cache.js';
import { createMemorySessionRegistry } from './registry/memory-session-registry.js';
import { TEST_SCRYPT_COST } from './registry/owner-secret.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: Partial<CvmwebOptions> = {}): Promise<Cvmweb> {
  const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-entry-test-'));
  cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
  const cvmweb = await createCvmweb({
    ...(options.drivers ? {} : { driver: new FakeDriver() }),
    stateDir,
    registry: createMemorySessionRegistry(),
    secretCost: TEST_SCRYPT_COST,
    images: new ImageCache({ directory: join(stateDir, 'cache') }),
    env: {},
    ...options,
  });
  cleanups.push(() => cvmweb.dispose());
  return cvmweb;
}

function fakeDaemon(): Daemon & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    isRunning: true,
    isSystemIdle: false,
    idleTime: 30,
    path: '/usr/libexec/cvmweb-daemon',
    setIdleTime: async (seconds) => void calls.push(`setIdleTime ${seconds}`),
    start: async () => void calls.push('start'),
    stop: async () => void calls.push('stop'),
  };
}

describe('Cvmweb.requestSession', () => {
  it('makes the first requester the owner; the same key gets the same Session object', async () => {
    const cvmweb = await setup();
    const first = await cvmweb.requestSession('analysis', 'owner-key');
    const again = await cvmweb.requestSession('analysis', 'owner-key');
    expect(again).toBe(first);
    expect(first.name).toBe('analysis');
    expect(first.scope).toBe('local');
    expect(first.state).toBe(0);
    expect(first.vmName).toMatch(/^cvmweb-analysis-[0-9a-f]{12}$/);
    expect(cvmweb.sessions()).toHaveLength(1);
  });

  it('stores only a salted hash of the secret', async () => {
    const cvmweb = await setup();
    const session = await cvmweb.requestSession('analysis', 'owner-key');
    const record = cvmweb.registry.get(session.id)!;
    expect(JSON.stringify(record)).not.toContain('owner-key');
    expect(record.owner.algorithm).toBe('scrypt');
  });

  it('refuses a wrong key with PASSWORD_DENIED and a message that reveals nothing', async () => {
    const cvmweb = await setup();
    const session = await cvmweb.requestSession('analysis', 'owner-key');
    const record = cvmweb.registry.get(session.id)!;
    const errors: HypervisorError[] = [];
    for (const wrong of ['wrong-key', 'owner-key ', 'OWNER-KEY', 'x']) {
      const error = await rejection(cvmweb.requestSession('analysis', wrong));
      expect(error.code).toBe(-20);
      expect(error.codeName).toBe('PASSWORD_DENIED');
      expect(error.details).toEqual({});
      expect(error.cause).toBeUndefined();
      for (const secret of [
        'owner-key',
        wrong,
        session.id,
        record.owner.salt,
        record.owner.hash,
        'analysis',
      ]) {
        expect(error.message).not.toContain(secret);
      }
      errors.push(error);
    }
    expect(new Set(errors.map((e) => e.message)).size).toBe(1);
    // The owner still gets in.
    expect(await cvmweb.requestSession('analysis', 'owner-key')).toBe(session);
  });

  it('isolates scopes: the same name in two scopes is two sessions with two owners', async () => {
    const cvmweb = await setup();
    const a = await cvmweb.requestSession('analysis', 'key-a', { scope: 'https://a.example' });
    const b = await cvmweb.requestSession('analysis', 'key-b', { scope: 'https://b.example' });
    const local = await cvmweb.requestSession('analysis', 'key-l');
    expect(new Set([a.id, b.id, local.id]).size).toBe(3);
    expect(new Set([a.vmName, b.vmName, local.vmName]).size).toBe(3);
    expect(b.scope).toBe('https://b.example');
    expect(
      (await rejection(cvmweb.requestSession('analysis', 'key-a', { scope: 'https://b.example' }))).code,
    ).toBe(-20);
    expect(cvmweb.sessions('https://a.example').map((r) => r.id)).toEqual([a.id]);
    expect(cvmweb.sessions()).toHaveLength(3);
  });

  it('creates exactly one record for concurrent first requests of one name', async () => {
    const cvmweb = await setup();
    const sessions = await Promise.all(Array.from({ length: 8 }, () => cvmweb.requestSession('race', 'key')));
    for (const session of sessions) expect(session).toBe(sessions[0]);
    expect(cvmweb.sessions()).toHaveLength(1);
  });

  it('lets exactly one of concurrent first requesters with different keys own the name', async () => {
    const cvmweb = await setup();
    const keys = Array.from({ length: 6 }, (_, i) => `key-${i}`);
    const results = await Promise.allSettled(keys.map((key) => cvmweb.requestSession('race', key)));
    const owners = results.filter((r) => r.status === 'fulfilled');
    expect(owners).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') expect((r.reason as HypervisorError).code).toBe(-20);
    }
    expect(cvmweb.sessions()).toHaveLength(1);
  });

  it('gives up a request aborted while an earlier request of the name runs, without touching the name', async () => {
    const registry = createMemorySessionRegistry();
    const put = registry.put.bind(registry);
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered = () => {};
    const writing = new Promise<void>((resolve) => {
      entered = resolve;
    });
    registry.put = async (record, options) => {
      entered();
      await held;
      return put(record, options);
    };
    const cvmweb = await setup({ registry });
    const first = cvmweb.requestSession('race', 'owner');
    await writing; // the first request is writing the new record
    const controller = new AbortController();
    const second = cvmweb.requestSession('race', 'other', { signal: controller.signal });
    controller.abort();
    expect(await rejection(second)).toMatchObject({ code: -3, aborted: true });
    release();
    const owned = await first;
    expect(await cvmweb.requestSession('race', 'owner')).toBe(owned);
    expect(cvmweb.sessions()).toHaveLength(1);
  });

  it.each([
    ['an empty name', '', 'key', 'name'],
    ['a name of 129 characters', 'x'.repeat(129), 'key', 'name'],
    ['a name with a newline', 'a\nb', 'key', 'name'],
    ['a non-string name', 42, 'key', 'name'],
    ['an empty secret', 'ok', '', 'secretKey'],
    ['a secret of 257 characters', 'ok', 'k'.repeat(257), 'secretKey'],
    ['a non-string secret', 'ok', 1234, 'secretKey'],
  ])('refuses %s with INVALID_USAGE', async (_what, name, secret, field) => {
    const cvmweb = await setup();
    const error = await rejection(cvmweb.requestSession(name as string, secret as string));
    expect(error.code).toBe(-99);
    expect(error.details['field']).toBe(field);
    expect(cvmweb.sessions()).toEqual([]);
  });
});

describe('Cvmweb.requestDaemonAccess', () => {
  it('rejects with NOT_IMPLEMENTED when no daemon runs', async () => {
    const cvmweb = await setup();
    expect((await rejection(cvmweb.requestDaemonAccess())).code).toBe(-100);
  });

  it('gives a non-privileged caller read access only (NOT_ALLOWED for the rest)', async () => {
    const daemon = fakeDaemon();
    const cvmweb = await setup({ daemon });
    const access = await cvmweb.requestDaemonAccess();
    expect(access.privileged).toBe(false);
    expect([access.isRunning, access.isSystemIdle, access.idleTime]).toEqual([true, false, 30]);
    expect(access.path).toBeUndefined();
    expect((await rejection(access.start())).code).toBe(-10);
    expect((await rejection(access.stop())).code).toBe(-10);
    expect((await rejection(access.setIdleTime(60))).code).toBe(-10);
    expect(daemon.calls).toEqual([]);
  });

  it('gives a privileged caller the controls', async () => {
    const daemon = fakeDaemon();
    const cvmweb = await setup({ daemon });
    const access = await cvmweb.requestDaemonAccess({ privileged: true });
    expect(access.path).toBe('/usr/libexec/cvmweb-daemon');
    await access.setIdleTime(60);
    await access.start();
    await access.stop();
    expect(daemon.calls).toEqual(['setIdleTime 60', 'start', 'stop']);
  });
});

describe('Cvmweb.dispose', () => {
  it('refuses use after dispose with INVALID_STATE and releases the driver once', async () => {
    const driver = new FakeDriver();
    const cvmweb = await setup({ driver, daemon: fakeDaemon() });
    const session = await cvmweb.requestSession('s', 'key');
    await cvmweb.dispose();
    await cvmweb.dispose();
    expect(driver.disposed).toBe(1);
    expect((await rejection(cvmweb.requestSession('s', 'key'))).code).toBe(-8);
    expect((await rejection(cvmweb.requestSession('other', 'key'))).code).toBe(-8);
    expect((await rejection(cvmweb.requestDaemonAccess())).code).toBe(-8);
    expect((await rejection(cvmweb.session(session.id))).code).toBe(-8);
    expect((await rejection(cvmweb.reconcile())).code).toBe(-8);
  });
});

describe('createCvmweb driver selection', () => {
  const probe = (score: number, healthy = true, installed = true) => ({
    installed,
    healthy,
    score,
    version: '1',
  });

  it('picks the best healthy driver by detection', async () => {
    const drivers = [
      new FakeDriver({ name: 'slow', probe: probe(30) }),
      new FakeDriver({ name: 'best', probe: probe(100) }),
      new FakeDriver({ name: 'broken', probe: probe(200, false) }),
      new FakeDriver({ name: 'absent', probe: probe(300, false, false) }),
    ];
    const cvmweb = await setup({ drivers });
    expect(cvmweb.hypervisorName).toBe('best');
    expect(cvmweb.fallback).toBe(false);
    expect(cvmweb.detection?.winner?.name).toBe('best');
    expect(drivers[1]?.calls).toEqual(['connect']);
    for (const i of [0, 2, 3]) expect(drivers[i]?.calls).toEqual([]);
  });

  it('uses the fallback when no driver is usable, and says so', async () => {
    const fallback = new FakeDriver({ name: 'mock', probe: probe(0) });
    const cvmweb = await setup({
      drivers: [new FakeDriver({ name: 'kvm', probe: probe(100, false) })],
      fallback,
    });
    expect(cvmweb.hypervisorName).toBe('mock');
    expect(cvmweb.fallback).toBe(true);
    expect(cvmweb.detection?.winner).toBeUndefined();
    expect(fallback.calls).toEqual(['connect']);
  });

  it('rejects with NOT_FOUND, listing the candidates, when nothing is usable and there is no fallback', async () => {
    const kvm = new FakeDriver({
      name: 'kvm',
      probe: { ...probe(100, false), reason: 'no /dev/kvm', fix: 'modprobe kvm' },
    });
    const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-entry-test-'));
    cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
    const error = await rejection(createCvmweb({ drivers: [kvm], stateDir, env: {} }));
    expect(error.code).toBe(-9);
    expect(error.details['candidates']).toEqual([
      { name: 'kvm', reason: expect.stringContaining('no /dev/kvm'), fix: 'modprobe kvm' },
    ]);
    expect(kvm.calls).toEqual([]);
  });

  it('rejects when the chosen driver cannot connect, without opening a registry', async () => {
    const driver = new FakeDriver();
    driver.fail('connect', new Error('daemon not running'));
    const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-entry-test-'));
    cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
    const error = await rejection(createCvmweb({ driver, stateDir }));
    expect(error.code).toBe(-7);
    expect(error.message).toContain('daemon not running');
  });

  it('emits a session event for each new session object', async () => {
    const cvmweb = await setup();
    const listener = vi.fn();
    cvmweb.on('session', listener);
    const session = await cvmweb.requestSession('s', 'key');
    await cvmweb.requestSession('s', 'key');
    expect(listener).toHaveBeenCalledTimes(1);
    expect(listener).toHaveBeenCalledWith(session);
  });
});

describe('Cvmweb and a damaged session record', () => {
  it('warns while starting, keeps the name reserved (INVALID_STATE) and keeps its VM out of the orphans', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-entry-damaged-'));
    cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
    const driver = new FakeDriver();
    const options = {
      driver,
      stateDir,
      secretCost: TEST_SCRYPT_COST,
      images: new ImageCache({ directory: join(stateDir, 'cache') }),
      env: {},
    };
    const first = await createCvmweb(options);
    const session = await first.requestSession('analysis', 'owner-key');
    await first.dispose();
    // Its VM exists; then its record is torn (a disk fault, a bad edit).
    const vm = { id: 'fake-vm', spec: { name: session.vmName, sessionId: session.id }, power: 'running' };
    driver.vms.set(vm.id, { ...vm, cap: 100, properties: new Map() } as never);
    const file = join(stateDir, 'sessions', `${session.id}.json`);
    await writeFile(file, (await readFile(file, 'utf8')).slice(0, 150));

    const warnings: CvmwebWarning[] = [];
    const cvmweb = await createCvmweb({ ...options, onWarning: (warning) => warnings.push(warning) });
    cleanups.push(() => cvmweb.dispose());
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.damaged).toMatchObject({ id: session.id, reason: 'not-json', foundAt: file });
    expect(warnings[0]?.message).toContain('"analysis"');
    expect(cvmweb.damaged()).toEqual([warnings[0]?.damaged]);

    // Nobody gets the name, whatever the key.
    for (const key of ['owner-key', 'another-key']) {
      const error = await rejection(cvmweb.requestSession('analysis', key));
      expect(error).toMatchObject({
        codeName: 'INVALID_STATE',
        details: { reason: 'damaged-record', id: session.id },
      });
    }
    expect(cvmweb.sessions()).toEqual([]);

    // Reconcile keeps its VM, even with removeOrphans, and says so again.
    const events: CvmwebWarning[] = [];
    cvmweb.on('warning', (warning) => events.push(warning));
    const report = await cvmweb.reconcile({ removeOrphans: true });
    expect(report.kept.map((kept) => kept.id)).toEqual(['fake-vm']);
    expect(report.orphans).toEqual([]);
    expect(driver.vms.has('fake-vm')).toBe(true);
    expect(events).toMatchObject([{ damaged: { id: session.id }, keptVms: [session.vmName] }]);
    expect(warnings).toHaveLength(2); // onWarning hears the events too
  });
});
