import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCvmweb, GUEST_REPORT_PATH, parseGuestReport } from '@cvmweb/core';
import { authenticateVnc } from '@cvmweb/core/node';
import { closeAndDispose, TEST_SCRYPT_COST } from '@cvmweb/core/testing';
import { PNG } from 'pngjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FAKE_DISPLAY_HEIGHT, FAKE_DISPLAY_WIDTH } from './fake-display.js';
import { mock } from './mock.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function entry(options: Parameters<typeof mock>[0] = {}) {
  const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-mock-display-'));
  cleanups.push(() => rm(stateDir, { recursive: true, force: true }));
  const cvmweb = await createCvmweb({ driver: mock(options), stateDir, secretCost: TEST_SCRYPT_COST });
  cleanups.push(() => closeAndDispose(cvmweb));
  return cvmweb;
}

async function running() {
  const cvmweb = await entry();
  const session = await cvmweb.requestSession('display', 'secret');
  await session.open();
  await session.start();
  return session;
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
    cleanups.push(async () => void socket.destroy());
  });
}

describe('the mock driver’s display', () => {
  it('serves RFB 3.8 with VNC authentication on 127.0.0.1, refusing a wrong password', async () => {
    const session = await running();
    const endpoint = await session.displayEndpoint();
    expect(endpoint).toMatchObject({ protocol: 'vnc', host: '127.0.0.1' });
    expect(endpoint.password).toMatch(/^[A-Za-z0-9_-]{8}$/);
    await vi.waitFor(() => expect(session.displayURL).toBe(`vnc://127.0.0.1:${endpoint.port}`));
    const wrong = await authenticateVnc(await dial(endpoint.port), 'wrong!!!').catch((e: unknown) => e);
    expect(wrong).toMatchObject({ code: -10 });
    const socket = await dial(endpoint.port);
    expect(await authenticateVnc(socket, endpoint.password)).toHaveLength(0);
    // ClientInit, then ServerInit says the size; a key typed reaches the guest report.
    const init = new Promise<Buffer>((resolve) => socket.once('data', resolve));
    socket.write(Buffer.from([1]));
    const serverInit = await init;
    expect([serverInit.readUInt16BE(0), serverInit.readUInt16BE(2)]).toEqual([
      FAKE_DISPLAY_WIDTH,
      FAKE_DISPLAY_HEIGHT,
    ]);
    for (const key of [0x68, 0x69, 0xff0d])
      socket.write(Buffer.from([4, 1, 0, 0, 0, 0, key >> 8, key & 255]));
    await vi.waitFor(async () => {
      const body = await (await fetch(new URL(GUEST_REPORT_PATH, session.apiURL))).text();
      expect(parseGuestReport(body)?.keys).toBe('hi\n');
    }, 10_000);
  });

  it('takes a non-blank PNG screenshot of the display’s size', async () => {
    const session = await running();
    const png = PNG.sync.read(Buffer.from(await session.screenshot()));
    expect([png.width, png.height]).toEqual([FAKE_DISPLAY_WIDTH, FAKE_DISPLAY_HEIGHT]);
    expect(new Set(png.data.filter((_, i) => i % 4 === 0)).size).toBeGreaterThan(10);
  });

  it('closes the display when the VM stops, and has none without the option', async () => {
    const session = await running();
    const { port } = await session.displayEndpoint();
    await session.stop();
    expect(session.rdpURL).toBe('');
    await expect(dial(port)).rejects.toThrow();
    const off = await entry({ display: false });
    expect(off.hypervisor.capabilities).toMatchObject({ display: false, screenshot: false });
  });
});
