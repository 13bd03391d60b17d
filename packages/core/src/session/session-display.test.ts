import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeDriver, type FakeDriverOptions, fakePng } from '../../test/fake-driver.js';
import { rejection } from '../../test/rejection.js';
import { ManualClock } from '../clock/clock.js';
import { createCvmweb } from '../create-cvmweb.js';
import { ImageCache } from '../images/image-cache.js';
import { createMemorySessionRegistry } from '../registry/memory-session-registry.js';
import { TEST_SCRYPT_COST } from '../registry/owner-secret.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const display = { protocol: 'vnc', host: '127.0.0.1', port: 5901, password: 'pw123456' } as const;

async function setup(options: FakeDriverOptions) {
  const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-session-display-test-'));
  const driver = new FakeDriver({ display, ...options });
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
  return { driver, session: await cvmweb.requestSession('display', 'secret') };
}

describe('Session display and screenshot', () => {
  it('sets rdpURL and displayURL while the VM runs or is paused, and clears them when it stops', async () => {
    const { session } = await setup({ capabilities: { display: true, screenshot: true } });
    await session.open();
    expect([session.rdpURL, session.displayURL]).toEqual(['', '']);
    await session.start();
    await vi.waitFor(() => expect(session.rdpURL).toBe('127.0.0.1:5901'));
    expect(session.displayURL).toBe('vnc://127.0.0.1:5901');
    await session.pause();
    expect(session.displayURL).toBe('vnc://127.0.0.1:5901');
    expect(await session.displayEndpoint()).toEqual(display);
    expect(await session.screenshot()).toEqual(fakePng);
    await session.stop();
    expect([session.rdpURL, session.displayURL]).toEqual(['', '']);
    expect((await rejection(session.screenshot())).code).toBe(-8);
    expect((await rejection(session.displayEndpoint())).code).toBe(-8);
  });

  it('answers NOT_SUPPORTED without the capabilities, in every state, without reaching the driver', async () => {
    const { session, driver } = await setup({});
    expect((await rejection(session.screenshot())).code).toBe(-11);
    await session.open();
    await session.start();
    const calls = driver.calls.length;
    expect((await rejection(session.screenshot())).code).toBe(-11);
    expect((await rejection(session.displayEndpoint())).code).toBe(-11);
    expect(driver.calls.slice(calls)).toEqual([]);
    expect([session.rdpURL, session.displayURL]).toEqual(['', '']);
  });

  it('turns a connection-time "false" into NOT_SUPPORTED too', async () => {
    const { session } = await setup({
      capabilities: { display: true, screenshot: true },
      connected: { screenshot: false },
    });
    await session.open();
    await session.start();
    await vi.waitFor(() => expect(session.displayURL).toBe('vnc://127.0.0.1:5901'));
    expect((await rejection(session.screenshot())).code).toBe(-11);
  });
});
