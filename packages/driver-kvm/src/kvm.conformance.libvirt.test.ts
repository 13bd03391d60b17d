import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConformanceSuite } from '@cvmweb/core/testing';
import { afterAll, describe, inject, it } from 'vitest';
import { kvm } from './kvm.js';
import {
  FileServer,
  guestCache,
  guestEntries,
  leftovers,
  libvirtUnavailable,
  lockLibvirt,
  purgeLeftovers,
  qemuProcesses,
  TEST_POOL,
  TEST_POOL_PATH,
  TEST_URI,
  vcpuTimeMs,
} from './testing/index.js';

// The core conformance suite on a real libvirt daemon, booting the test guest (TCG here), which
// serves the cvmweb guest API the suite observes it through.
const unavailable = await libvirtUnavailable();

if (unavailable) {
  describe('driver conformance: kvm (real libvirt)', () => {
    it.skip(`skipped: ${unavailable}`, () => undefined);
  });
} else {
  // Waits while kvm.restart.libvirt.test.ts restarts libvirtd.
  const release = await lockLibvirt('shared');
  await purgeLeftovers(['conformance', 'keep', 'lose', 'close-0', 'close-1', 'close-2']);
  const server = await new FileServer().start();
  const entries = guestEntries(server, inject('testGuest').files);
  const cacheDir = await mkdtemp(join(tmpdir(), 'cvmweb-kvm-images-'));
  afterAll(async () => {
    await server.stop();
    await rm(cacheDir, { recursive: true, force: true });
    await release();
  });

  runConformanceSuite({
    name: 'kvm',
    driver: () => kvm({ uri: TEST_URI, pool: TEST_POOL, poolPath: TEST_POOL_PATH, shutdownTimeoutMs: 8000 }),
    requirements: { ram: 128, disk: 16, version: 'test-kernel' },
    images: () => guestCache(cacheDir, entries),
    userData: '[cernvm]\nusers=user:users:s3cr3t\n',
    timeoutMs: 120_000,
    apiTimeoutMs: 60_000,
    // The domain, its volumes, and a QEMU process still running it.
    leftovers: async (vmName) => [...(await leftovers(vmName)), ...(await qemuProcesses(vmName))],
    running: qemuProcesses,
    // libvirt's accounting of the vCPU threads, which the execution cap (vcpu_quota) limits.
    cpuTime: vcpuTimeMs,
    cvmweb: { stopTimeoutMs: 8000 },
  });
}
