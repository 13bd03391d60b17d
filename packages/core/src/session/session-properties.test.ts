import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeDriver, type FakeDriverOptions } from '../../test/fake-driver.js';
import { rejection } from '../../test/rejection.js';
import { ManualClock } from '../clock/clock.js';
import { createCvmweb } from '../create-cvmweb.js';
import { ImageCache } from '../images/image-cache.js';
import { createMemorySessionRegistry } from '../registry/memory-session-registry.js';
import { TEST_SCRYPT_COST } from '../registry/owner-secret.js';
import { SessionState } from '../state/session-state.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: FakeDriverOptions = {}) {
  const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-session-properties-test-'));
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
  const session = await cvmweb.requestSession('properties', 'secret');
  const changed: number[] = [];
  session.on('changed', () => changed.push(session.executionCap));
  return { driver, registry, session, changed };
}

describe('Session properties of a session without a VM', () => {
  it('reads and writes properties while Closed, before open and after close', async () => {
    const { session, registry, driver } = await setup();
    expect(session.state).toBe(SessionState.Closed);
    await session.setProperty('host', 'before-open');
    expect(await session.getProperty('host')).toBe('before-open');
    await session.open();
    await session.close();
    expect(session.state).toBe(SessionState.Closed);
    expect(await session.getProperty('host')).toBe('before-open');
    await session.setProperty('host', 'after-close');
    expect(await session.getProperty('host')).toBe('after-close');
    expect(registry.get(session.id)?.properties).toEqual({ host: 'after-close' });
    expect(driver.vms.size).toBe(0);
  });

  it('records an execution cap while Closed and applies it at the next open()', async () => {
    const { session, registry, driver } = await setup();
    await session.setExecutionCap(30);
    expect(registry.get(session.id)?.executionCap).toBe(30);
    await session.open();
    expect([...driver.vms.values()][0]?.cap).toBe(30);
  });

  it('still refuses an execution cap the driver cannot apply, with NOT_SUPPORTED', async () => {
    const { session } = await setup({ capabilities: { executionCap: false } });
    expect((await rejection(session.setExecutionCap(30))).code).toBe(-11);
    expect(session.executionCap).toBe(100);
  });
});

describe('Session setters are seen at once', () => {
  it('executionCap gives the requested value right after setExecutionCap() returns', async () => {
    const { session, changed } = await setup();
    await session.open();
    const setting = session.setExecutionCap(50);
    expect(session.executionCap).toBe(50); // the original plugin's README: alert(sess.executionCap) says '50'
    expect(changed).toContain(50);
    await setting;
    expect(session.executionCap).toBe(50);
    expect(session.record.executionCap).toBe(50);
  });

  it('shows the value while an earlier action still runs, and the latest of several requests', async () => {
    const { session, driver } = await setup();
    const hang = driver.hang('create');
    const opening = session.open();
    await hang.entered;
    const first = session.setExecutionCap(40);
    const second = session.setExecutionCap(60);
    expect(session.executionCap).toBe(60);
    hang.release();
    await Promise.all([opening, first, second]);
    expect(session.executionCap).toBe(60);
  });

  it('writes the daemon fields in turn with the actions: after an earlier action, before a later one', async () => {
    const { session, driver, registry } = await setup();
    const hang = driver.hang('create');
    const opening = session.open();
    await hang.entered;
    const setting = session.setDaemonSettings({ controlled: true, minCap: 25 });
    const starting = session.start('x');
    expect(session.daemonMinCap).toBe(25); // shown at once…
    expect(registry.get(session.id)?.daemon.minCap).toBe(0); // …written when its turn comes
    const order: string[] = [];
    void setting.then(() => order.push('daemon settings'));
    void starting.then(() => order.push('start'));
    hang.release();
    await Promise.all([opening, setting, starting]);
    expect(order).toEqual(['daemon settings', 'start']);
    expect(registry.get(session.id)?.daemon).toMatchObject({ controlled: true, minCap: 25 });
    expect([...driver.vms.values()][0]?.properties.get('daemonMinCap')).toBe('25');
  });

  it('returns to the previous value, with a changed event, before the error events when it fails', async () => {
    const { session, driver, changed } = await setup();
    await session.open();
    driver.fail('setExecutionCap', new Error('refused'), 1);
    const seenByError: number[] = [];
    session.on('error', () => seenByError.push(session.executionCap));
    const setting = session.setExecutionCap(50);
    expect(session.executionCap).toBe(50);
    expect((await rejection(setting)).code).not.toBe(0);
    expect(session.executionCap).toBe(100);
    expect(seenByError).toEqual([100]);
    expect(changed.slice(-2)).toEqual([50, 100]);
  });

  it('the daemon fields give the requested values at once, and the previous ones when persisting fails', async () => {
    const { session, registry } = await setup();
    const put = registry.put.bind(registry);
    let failing = false;
    registry.put = async (record, options) => {
      if (failing) throw new Error('no space left on device');
      return put(record, options);
    };
    let seen = 0;
    session.on('changed', () => seen++);
    const setting = session.setDaemonSettings({ controlled: true, minCap: 10, maxCap: 90, flags: 1 });
    expect([
      session.daemonControlled,
      session.daemonMinCap,
      session.daemonMaxCap,
      session.daemonFlags,
    ]).toEqual([true, 10, 90, 1]);
    await setting;
    expect(session.record.daemon).toEqual({ controlled: true, minCap: 10, maxCap: 90, flags: 1 });
    failing = true;
    seen = 0;
    const refused = session.setDaemonSettings({ minCap: 20 });
    expect(session.daemonMinCap).toBe(20);
    expect(seen).toBe(1);
    await expect(refused).rejects.toThrow();
    expect(session.daemonMinCap).toBe(10);
    expect(seen).toBe(2);
  });
});
