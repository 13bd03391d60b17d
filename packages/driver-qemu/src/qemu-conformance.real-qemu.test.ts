// The core conformance suite on real QEMU (TCG here), booting the cvmweb test guest, which serves
// the guest API the suite observes it through. Named `*.real-qemu.test.ts`, it runs in vitest's
// serial project of real-hypervisor tests (vitest.config.ts), after the unit tests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConformanceSuite } from '@cvmweb/core/testing';
import { afterAll, describe, it } from 'vitest';
import {
  filesLeft,
  qemuProcesses,
  qemuUnavailable,
  testGuest,
  testGuestImages,
} from '../test/testing-support.js';
import { qemu } from './qemu.js';

const unavailable = qemuUnavailable();

if (unavailable) {
  describe('driver conformance: qemu (real QEMU)', () => {
    it.skip(`skipped: ${unavailable}`, () => undefined);
  });
} else {
  const cacheDir = await mkdtemp(join(tmpdir(), 'cvmweb-qemu-images-'));
  // A path with a space and a quote: every command line must take it as it is.
  const root = await mkdtemp(join(tmpdir(), `cvmweb qemu "vms" `));
  afterAll(async () => {
    await rm(cacheDir, { recursive: true, force: true });
    await rm(root, { recursive: true, force: true });
  });

  runConformanceSuite({
    name: 'qemu',
    driver: () => qemu({ directory: root, shutdownTimeoutMs: 8000 }),
    // Direct kernel boot is the quickest form under TCG; the ISO and disk forms are booted in
    // qemu-vm.real-qemu.test.ts.
    requirements: { ram: 128, disk: 16, version: testGuest().versions.kernel },
    images: () => testGuestImages(cacheDir),
    userData: '[cernvm]\nusers=user:users:s3cr3t\n',
    timeoutMs: 120_000,
    apiTimeoutMs: 60_000,
    leftovers: async (vmName) => [...(await filesLeft(root, vmName)), ...(await qemuProcesses(vmName))],
    running: qemuProcesses,
    cvmweb: { stopTimeoutMs: 8000 },
  });
}
