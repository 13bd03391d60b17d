import { mkdtemp, rm } from 'node:fs/promises';
import { connect as dial, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cvmweb, createCvmweb, GUEST_REPORT_PATH, parseGuestReport } from '@cvmweb/core';
import { authenticateVnc } from '@cvmweb/core/node';
import { closeAndDispose, TEST_SCRYPT_COST, waitFor } from '@cvmweb/core/testing';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { kvm } from './kvm.js';
import {
  FileServer,
  guestCache,
  guestEntries,
  libvirtUnavailable,
  lockLibvirt,
  purgeLeftovers,
  TEST_POOL,
  TEST_POOL_PATH,
  TEST_URI,
} from './testing/index.js';

// The display of a real guest: VNC on 127.0.0.1 with the domain's password, and screenshots.
const unavailable = await libvirtUnavailable();

/** Whether the pixel rows `[top, bottom)` and columns `[left, right)` of `png` hold any non-black pixel. */
function lit(png: PNG, top: number, bottom: number, left = 0, right = png.width): boolean {
  for (let y = top; y < bottom; y++) {
    for (let x = left; x < right; x++) {
      const i = (y * png.width + x) * 4;
      if ((png.data[i] ?? 0) + (png.data[i + 1] ?? 0) + (png.data[i + 2] ?? 0) > 0) return true;
    }
  }
  return false;
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = dial(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

describe.skipIf(unavailable !== undefined)(
  `kvm display on real libvirt${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let server: FileServer;
    let dir: string;
    let cvmweb: Cvmweb | undefined;
    let release: () => Promise<void> = async () => undefined;

    beforeAll(async () => {
      release = await lockLibvirt('shared');
      await purgeLeftovers(['display']);
      server = await new FileServer().start();
      dir = await mkdtemp(join(tmpdir(), 'cvmweb-kvm-display-'));
    }, 10 * 60_000);
    afterAll(async () => {
      if (cvmweb) await closeAndDispose(cvmweb);
      await server?.stop();
      await rm(dir, { recursive: true, force: true });
      await release();
    }, 120_000);

    it('answers RFB on 127.0.0.1, refuses a wrong password, takes the password, screenshots the banner, and types keys that reach the guest', async () => {
      cvmweb = await createCvmweb({
        driver: kvm({ uri: TEST_URI, pool: TEST_POOL, poolPath: TEST_POOL_PATH, shutdownTimeoutMs: 8000 }),
        stateDir: await mkdtemp(join(dir, 'state-')),
        secretCost: TEST_SCRYPT_COST,
        images: guestCache(join(dir, 'images'), guestEntries(server, inject('testGuest').files)),
        stopTimeoutMs: 8000,
      });
      const session = await cvmweb.requestSession('display', 'key');
      await session.open({ ram: 128, disk: 0, version: 'test-kernel' });
      const api = waitFor(session, 'apiAvailable', 120_000);
      await session.start('');
      await api;
      const endpoint = await session.displayEndpoint();
      expect(endpoint).toMatchObject({ protocol: 'vnc', host: '127.0.0.1' });
      expect(endpoint.password).toMatch(/^[A-Za-z0-9_-]{8}$/);
      await vi.waitFor(() => expect(session.rdpURL).toBe(`127.0.0.1:${endpoint.port}`));
      expect(session.displayURL).toBe(`vnc://127.0.0.1:${endpoint.port}`);

      const wrong = await open(endpoint.port);
      await expect(authenticateVnc(wrong, 'wrong!!!')).rejects.toMatchObject({ code: -10 });
      wrong.destroy();
      const right = await open(endpoint.port);
      await authenticateVnc(right, endpoint.password);
      const init = new Promise<Buffer>((resolve) => right.once('data', resolve));
      right.write(Buffer.from([1]));
      const serverInit = await init;
      right.destroy();
      const size = [serverInit.readUInt16BE(0), serverInit.readUInt16BE(2)];

      // By the time its API answers, the guest has cleared its screen and written its banner on
      // the first line: those cells are lit, the screen below the second line is black.
      const { cell, banner } = inject('testGuest').screen;
      expect(size).toEqual([inject('testGuest').screen.width, inject('testGuest').screen.height]);
      const png = PNG.sync.read(Buffer.from(await session.screenshot()));
      expect([png.width, png.height]).toEqual(size);
      expect(lit(png, 0, cell.height, 0, banner.length * cell.width)).toBe(true);
      expect(lit(png, 0, cell.height, (banner.length + 1) * cell.width)).toBe(false);
      expect(lit(png, 2 * cell.height, png.height)).toBe(false);

      // Keys typed through VNC (RFB KeyEvents: down and up) reach the guest's report and its screen.
      const keyboard = await open(endpoint.port);
      await authenticateVnc(keyboard, endpoint.password);
      keyboard.write(Buffer.from([1]));
      for (const keysym of [0x68, 0x69, 0xff0d]) {
        for (const down of [1, 0]) {
          keyboard.write(Buffer.from([4, down, 0, 0, 0, 0, keysym >> 8, keysym & 255]));
        }
      }
      const report = async () =>
        parseGuestReport(await (await fetch(new URL(GUEST_REPORT_PATH, session.apiURL))).text());
      await expect.poll(async () => (await report())?.keys, { timeout: 30_000 }).toBe('hi\n');
      keyboard.destroy();
      const typed = PNG.sync.read(Buffer.from(await session.screenshot()));
      expect(lit(typed, cell.height, 2 * cell.height, 0, 2 * cell.width)).toBe(true);
      await session.close();
    }, 240_000);
  },
);
