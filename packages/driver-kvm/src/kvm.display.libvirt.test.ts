import { mkdtemp, rm } from 'node:fs/promises';
import { connect as dial, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cvmweb, createCvmweb } from '@cvmweb/core';
import { authenticateVnc } from '@cvmweb/core/node';
import { closeAndDispose, TEST_SCRYPT_COST, waitFor } from '@cvmweb/core/testing';
import { testGuest } from '@cvmweb/test-guest';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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

    it('answers RFB on 127.0.0.1, refuses a wrong password, takes the password, and screenshots the screen', async () => {
      cvmweb = await createCvmweb({
        driver: kvm({ uri: TEST_URI, pool: TEST_POOL, poolPath: TEST_POOL_PATH, shutdownTimeoutMs: 8000 }),
        stateDir: await mkdtemp(join(dir, 'state-')),
        secretCost: TEST_SCRYPT_COST,
        images: guestCache(join(dir, 'images'), guestEntries(server, await testGuest())),
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

      // The guest has written its boot messages on the screen by the time its API answers.
      const png = PNG.sync.read(Buffer.from(await session.screenshot()));
      expect([png.width, png.height]).toEqual(size);
      const colours = new Set<number>();
      for (let i = 0; i < png.data.length; i += 4) colours.add(png.data.readUInt32BE(i));
      expect(colours.size).toBeGreaterThan(1);
      await session.close();
    }, 240_000);
  },
);
