/**
 * Global setup of vitest's `libvirt` project: builds the cvmweb test guest once with
 * `@cvmweb/test-guest` (or finds it in its cache) and provides it to the real-guest tests as
 * `inject('testGuest')`. The drivers' tests take the guest from here, so a driver package imports
 * no cvmweb package but core, not even in its tests.
 */
import { spawnSync } from 'node:child_process';
import { TEST_GUEST_SCREEN, TEST_GUEST_VERSIONS, testGuest, testGuestCatalog } from '@cvmweb/test-guest';
import type { TestProject } from 'vitest/node';

export default async function setup(project: TestProject): Promise<void> {
  let guest: Awaited<ReturnType<typeof testGuest>>;
  try {
    guest = await testGuest();
  } catch (error) {
    // Without QEMU the real-guest tests skip themselves, and nothing needs the guest.
    if (spawnSync('qemu-system-x86_64', ['--version']).status !== 0) return;
    throw error;
  }
  project.provide('testGuest', {
    files: guest,
    catalog: testGuestCatalog(guest),
    versions: TEST_GUEST_VERSIONS,
    screen: TEST_GUEST_SCREEN,
  });
}
