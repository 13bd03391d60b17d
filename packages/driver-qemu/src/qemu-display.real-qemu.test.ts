// The display of a real QEMU guest (TCG here): VNC on 127.0.0.1 with the launch's password, the
// session's rdpURL/displayURL, and screenshots through QMP screendump. Named `*.real-qemu.test.ts`,
// it runs in vitest's serial project of real-hypervisor tests (vitest.config.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as dial, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Cvmweb,
  createCvmweb,
  type DisplayEndpoint,
  GUEST_REPORT_PATH,
  parseGuestReport,
} from '@cvmweb/core';
import { authenticateVnc } from '@cvmweb/core/node';
import { closeAndDispose, TEST_SCRYPT_COST, waitFor } from '@cvmweb/core/testing';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { qemuUnavailable, testGuest, testGuestImages } from '../test/testing-support.js';
import { qemu } from './qemu.js';

const unavailable = qemuUnavailable();

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = dial(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** The framebuffer's size from the ServerInit of an authenticated connection. */
async function framebufferSize(endpoint: DisplayEndpoint): Promise<number[]> {
  const socket = await open(endpoint.port);
  try {
    await authenticateVnc(socket, endpoint.password ?? '');
    const init = new Promise<Buffer>((resolve) => socket.once('data', resolve));
    socket.write(Buffer.from([1])); // ClientInit: shared
    const serverInit = await init;
    return [serverInit.readUInt16BE(0), serverInit.readUInt16BE(2)];
  } finally {
    socket.destroy();
  }
}

describe.skipIf(unavailable !== undefined)(
  `qemu display on real QEMU${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let dir: string | undefined;
    let cvmweb: Cvmweb | undefined;
    afterAll(async () => {
      if (cvmweb) await closeAndDispose(cvmweb);
      if (dir) await rm(dir, { recursive: true, force: true });
    }, 120_000);

    it('answers RFB on 127.0.0.1, refuses a wrong password, takes the launch’s one, screenshots the test guest’s screen, and types keys that reach the guest', async () => {
      dir = await mkdtemp(join(tmpdir(), 'cvmweb-qemu-display-'));
      cvmweb = await createCvmweb({
        driver: qemu({ directory: join(dir, 'vms'), shutdownTimeoutMs: 8000 }),
        stateDir: await mkdtemp(join(dir, 'state-')),
        secretCost: TEST_SCRYPT_COST,
        images: testGuestImages(join(dir, 'images')),
        stopTimeoutMs: 8000,
      });
      const session = await cvmweb.requestSession('display', 'key');
      await session.open({ ram: 128, disk: 0, version: testGuest().versions.kernel });
      const debug: string[] = [];
      session.on('debug', (message) => debug.push(message));
      const api = waitFor(session, 'apiAvailable', 120_000);
      await session.start('');
      await api;
      const endpoint = await session.displayEndpoint();
      expect(endpoint).toMatchObject({ protocol: 'vnc', host: '127.0.0.1' });
      expect(endpoint.password).toMatch(/^[A-Za-z0-9_-]{8}$/);
      await vi.waitFor(() => expect(session.rdpURL).toBe(`127.0.0.1:${endpoint.port}`));
      expect(session.displayURL).toBe(`vnc://127.0.0.1:${endpoint.port}`);
      expect(debug.join('\n')).not.toContain(endpoint.password);

      const wrong = await open(endpoint.port);
      await expect(authenticateVnc(wrong, 'wrong!!!')).rejects.toMatchObject({ code: -10 });
      wrong.destroy();
      const size = await framebufferSize(endpoint);

      // The guest has written its banner on its screen (the test guest's size) by the time its API answers.
      expect(size).toEqual([testGuest().screen.width, testGuest().screen.height]);
      const png = PNG.sync.read(Buffer.from(await session.screenshot()));
      expect([png.width, png.height]).toEqual(size);
      const colours = new Set<number>();
      for (let i = 0; i < png.data.length; i += 4) colours.add(png.data.readUInt32BE(i));
      expect(colours.size).toBeGreaterThan(1);

      // Keys typed through VNC (RFB KeyEvents, down and up) reach the guest's report.
      const keyboard = await open(endpoint.port);
      await authenticateVnc(keyboard, endpoint.password);
      keyboard.write(Buffer.from([1]));
      for (const keysym of [0x68, 0x69, 0xff0d]) {
        for (const down of [1, 0])
          keyboard.write(Buffer.from([4, down, 0, 0, 0, 0, keysym >> 8, keysym & 255]));
      }
      const keys = async () =>
        parseGuestReport(await (await fetch(new URL(GUEST_REPORT_PATH, session.apiURL))).text())?.keys;
      await expect.poll(keys, { timeout: 30_000 }).toBe('hi\n');
      keyboard.destroy();

      // Each launch has its own password: the old one is refused after a restart.
      await session.stop();
      expect([session.rdpURL, session.displayURL]).toEqual(['', '']);
      await session.start('');
      const next = await session.displayEndpoint();
      expect(next.password).not.toBe(endpoint.password);
      const stale = await open(next.port);
      await expect(authenticateVnc(stale, endpoint.password ?? '')).rejects.toMatchObject({ code: -10 });
      stale.destroy();
      expect((await framebufferSize(next))[0]).toBeGreaterThan(0);
      await session.close();
    }, 300_000);
  },
);
