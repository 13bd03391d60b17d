import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCvmweb } from '@cvmweb/core';
import { closeAndDispose, ManualClock, TEST_SCRYPT_COST } from '@cvmweb/core/testing';
import { PNG } from 'pngjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FAKE_DISPLAY_HEIGHT, FAKE_DISPLAY_WIDTH } from './fake-display.js';
import { mock } from './mock.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A session on the mock whose guest API never answers, on a manual clock. */
async function silentGuest(options: Parameters<typeof mock>[0] = {}) {
  const clock = new ManualClock();
  const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-mock-debug-screenshot-'));
  cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
  const cvmweb = await createCvmweb({
    driver: mock({ clock, apiDelayMs: Number.POSITIVE_INFINITY, ...options }),
    stateDir,
    clock,
    secretCost: TEST_SCRYPT_COST,
    apiTiming: { screenshotAfterMs: 60_000 },
  });
  cleanups.push(() => closeAndDispose(cvmweb));
  const session = await cvmweb.requestSession('silent', 'secret');
  const debug: [string, string | undefined][] = [];
  session.on('debug', (message, screenshot) => debug.push([message, screenshot]));
  return { clock, session, debug, attached: () => debug.filter(([, screenshot]) => screenshot) };
}

describe('screenshots in the debug stream', () => {
  it('carries the screen as a PNG data URL once when the guest API has not answered for screenshotAfterMs', async () => {
    const { clock, session, attached } = await silentGuest();
    await session.open();
    await session.start();
    await clock.advance(59_000);
    expect(attached()).toEqual([]);
    await clock.advance(1000);
    await vi.waitFor(() => expect(attached()).toHaveLength(1));
    const [message, url = ''] = attached()[0] ?? [];
    expect(message).toMatch(
      /^the API has not answered for 60000 ms; screenshot attached \(\d+ bytes of PNG\)$/,
    );
    expect(url).toMatch(/^data:image\/png;base64,/);
    const bytes = Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');
    expect(bytes.length).toBeLessThanOrEqual(1024 * 1024);
    const png = PNG.sync.read(bytes);
    expect([png.width, png.height]).toEqual([FAKE_DISPLAY_WIDTH, FAKE_DISPLAY_HEIGHT]);
    // Once per boot: more silence adds none; a new boot arms it again.
    await clock.advance(120_000);
    expect(attached()).toHaveLength(1);
    await session.stop();
    await session.start();
    await clock.advance(60_000);
    await vi.waitFor(() => expect(attached()).toHaveLength(2));
  });

  it('carries none when the API answers in time, or when the driver cannot take screenshots', async () => {
    const answering = await silentGuest({ apiDelayMs: 1000 });
    await answering.session.open();
    await answering.session.start();
    await answering.clock.advance(1000);
    await vi.waitFor(() => expect(answering.session.apiURL).not.toBe(''));
    await answering.clock.advance(120_000);
    expect(answering.attached()).toEqual([]);

    const blind = await silentGuest({ display: false });
    await blind.session.open();
    await blind.session.start();
    await blind.clock.advance(120_000);
    expect(blind.debug.filter(([message]) => message.includes('has not answered'))).toEqual([]);
  });

  it('says why there is no screenshot when a start fails and the VM is not running', async () => {
    const { session, debug } = await silentGuest({
      faults: [{ step: 'start', message: 'VT-x is disabled' }],
    });
    await session.open();
    await expect(session.start()).rejects.toThrow(/VT-x is disabled/);
    const line = debug.find(([message]) => message.startsWith('start failed'));
    expect(line?.[0]).toMatch(/^start failed: .*VT-x is disabled; no screenshot: /);
    expect(line?.[1]).toBeUndefined();
  });
});
