import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCvmweb } from '@cvmweb/core';
import { isPng } from '@cvmweb/core/node';
import { closeAndDispose, ManualClock, TEST_SCRYPT_COST } from '@cvmweb/core/testing';
import { mock } from '@cvmweb/driver-mock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEBUG_SCREENSHOT_DIR, printDebugStream } from './debug-stream-printer.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('serve --debug', () => {
  it('prints the sessions’ debug lines and saves the screenshot of a guest API that never answered', async () => {
    const clock = new ManualClock();
    const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-cli-debug-'));
    cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
    const cvmweb = await createCvmweb({
      driver: mock({ clock, apiDelayMs: Number.POSITIVE_INFINITY }),
      stateDir,
      clock,
      secretCost: TEST_SCRYPT_COST,
      apiTiming: { screenshotAfterMs: 60_000 },
    });
    cleanups.push(() => closeAndDispose(cvmweb));
    const err: string[] = [];
    printDebugStream(
      cvmweb,
      { out: () => undefined, err: (text) => err.push(text), isTTY: false, env: {}, drivers: () => [] },
      stateDir,
    );
    const session = await cvmweb.requestSession('a "page" name', 'secret');
    await session.open();
    await session.start();
    await clock.advance(60_000);
    await vi.waitFor(() => expect(err.join('')).toContain('screenshot: '));
    const line = err.find((text) => text.includes('screenshot: ')) ?? '';
    // One line, the page-given name quoted.
    expect(line).toMatch(
      /^cvmweb debug "a \\"page\\" name": the API has not answered for 60000 ms; .*\(screenshot: .*\.png\)\n$/,
    );
    const [file = ''] = await readdir(join(stateDir, DEBUG_SCREENSHOT_DIR));
    const path = join(stateDir, DEBUG_SCREENSHOT_DIR, file);
    expect(line).toContain(path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(isPng(await readFile(path))).toBe(true);
    // Lines without a screenshot are printed too.
    expect(err.filter((text) => !text.includes('screenshot: ')).length).toBeGreaterThan(0);
  });
});
