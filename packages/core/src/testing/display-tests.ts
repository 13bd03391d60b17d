import { connect } from 'node:net';
import { expect, it, vi } from 'vitest';
import { ErrorCode } from '../errors/error-code.js';
import type { ConformanceHarness } from './conformance-harness.js';

/** The first bytes of a PNG file. */
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The conformance suite's tests of the `display` and `screenshot` capabilities: a running VM's
 * display listens on 127.0.0.1 and speaks its protocol, `rdpURL`/`displayURL` say where, a
 * screenshot is a PNG with a size; without a capability core answers `NOT_SUPPORTED`.
 */
export function registerDisplayTests(h: ConformanceHarness): void {
  const { timeout, userData, fresh, open } = h;

  it(
    'shows a running VM’s display on 127.0.0.1 and takes screenshots, or answers NOT_SUPPORTED',
    async () => {
      const { session } = await fresh();
      await open(session);
      await session.start(userData);
      if (h.capabilities.display) {
        const endpoint = await session.displayEndpoint();
        expect(endpoint.host).toBe('127.0.0.1');
        expect(endpoint.port).toBeGreaterThan(0);
        await vi.waitFor(() => expect(session.rdpURL).toBe(`127.0.0.1:${endpoint.port}`), {
          timeout: 10_000,
        });
        expect(session.displayURL).toBe(`${endpoint.protocol}://127.0.0.1:${endpoint.port}`);
        if (endpoint.protocol === 'vnc') expect(await greeting(endpoint.port)).toMatch(/^RFB 003\.00\d\n$/);
      } else {
        await expect(session.displayEndpoint()).rejects.toMatchObject({ code: ErrorCode.NOT_SUPPORTED });
        expect(session.rdpURL).toBe('');
      }
      if (h.capabilities.screenshot) {
        const png = await session.screenshot();
        expect([...png.subarray(0, 8)]).toEqual(PNG_SIGNATURE);
        const header = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
        expect(header.readUInt32BE(16)).toBeGreaterThan(0); // IHDR width
        expect(header.readUInt32BE(20)).toBeGreaterThan(0); // IHDR height
      } else {
        await expect(session.screenshot()).rejects.toMatchObject({ code: ErrorCode.NOT_SUPPORTED });
      }
      await session.stop();
      expect([session.rdpURL, session.displayURL]).toEqual(['', '']);
      if (h.capabilities.screenshot) {
        await expect(session.screenshot()).rejects.toMatchObject({ code: ErrorCode.INVALID_STATE });
      }
    },
    timeout,
  );
}

/** The first 12 bytes a VNC server sends (its protocol version), as text. */
function greeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    socket.setTimeout(10_000, () => socket.destroy(new Error('no RFB greeting within 10 s')));
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 12) return;
      socket.destroy();
      resolve(received.subarray(0, 12).toString('latin1'));
    });
    socket.on('error', reject);
  });
}
