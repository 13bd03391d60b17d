import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock/clock.js';
import { createCvmweb } from '../cvmweb.js';
import { ImageCache } from '../images/image-cache.js';
import { createMemorySessionRegistry } from '../registry/memory-session-registry.js';
import { TEST_SCRYPT_COST } from '../registry/owner-secret.js';
import { SessionState } from '../state/session-state.js';
import { FakeDriver, type FakeDriverOptions } from '../testing/fake-driver.js';
import { rejection } from '../testing/rejection.js';

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
