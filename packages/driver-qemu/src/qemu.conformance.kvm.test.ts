// The core conformance suite on real QEMU (TCG here), booting the cvmweb test guest, which serves
// the guest API the suite observes it through. `kvm` in the file name puts it in the serial batch
// of real-hypervisor tests (scripts/test-all.sh); run it under the same lock as the others:
//   flock /work/kvm-tests.lock npx vitest run --no-file-parallelism packages/driver-qemu/src/qemu.conformance.kvm.test.ts
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConformanceSuite } from '@cvmweb/core/testing';
import { TEST_GUEST_VERSIONS, testGuest, testGuestImages } from '@cvmweb/test-guest';
import { afterAll, describe, it } from 'vitest';
import { qemu } from './qemu.js';
import { filesLeft, qemuProcesses, qemuUnavailable } from './testing-support.js';

const unavailable = qemuUnavailable();

if (unavailable) {
  describe('driver conformance: qemu (real QEMU)', () => {
    it.skip(`skipped: ${unavailable}`, () => undefined);
  });
} else {
  const guest = await testGuest();
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
    // qemu.real.kvm.test.ts.
    requirements: { ram: 128, disk: 16, version: TEST_GUEST_VERSIONS.kernel },
    images: () => testGuestImages(guest, cacheDir),
    userData: '[cernvm]\nusers=user:users:s3cr3t\n',
    timeoutMs: 120_000,
    apiTimeoutMs: 60_000,
    leftovers: async (vmName) => [...(await filesLeft(root, vmName)), ...(await qemuProcesses(vmName))],
    running: qemuProcesses,
    cvmweb: { stopTimeoutMs: 8000 },
  });
}
