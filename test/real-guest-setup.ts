/**
 * Global setup of vitest's `libvirt` project: builds the cvmweb test guest once with
 * `@cvmweb/test-guest` (or finds it in its cache) and provides it to the real-guest tests as
 * `inject('testGuest')`. The drivers' tests take the guest from here, so a driver package imports
 * no cvmweb package but core, not even in its tests.
 */
import { spawnSync } from 'node:child_process';
import { TEST_GUEST_SCREEN, TEST_GUEST_VERSIONS, testGuest, testGuestCatalog } from '@cvmweb/test-guest';
import type { TestProject } from 'vitest/node';

/**
 * Why no real-guest test can run here (each then skips itself with its own reason), or `undefined`:
 * the QEMU driver's tests need only Linux and QEMU, the libvirt ones more.
 */
function realGuestsSkipped(): string | undefined {
  if (process.platform !== 'linux') return 'real-guest tests run on Linux';
  for (const program of ['qemu-system-x86_64', 'qemu-img']) {
    if (spawnSync(program, ['--version']).status !== 0) return `${program} is not installed`;
  }
  return undefined;
}

export default async function setup(project: TestProject): Promise<void> {
  const skipped = realGuestsSkipped();
  let guest: Awaited<ReturnType<typeof testGuest>>;
  try {
    guest = await testGuest();
  } catch (error) {
    // Where the tests skip themselves nothing needs the guest; elsewhere a failed build fails the run.
    if (skipped === undefined) throw error;
    console.warn(`real-guest setup: no test guest (${skipped}): ${(error as Error).message}`);
    return;
  }
  project.provide('testGuest', {
    files: guest,
    catalog: testGuestCatalog(guest),
    versions: TEST_GUEST_VERSIONS,
    screen: TEST_GUEST_SCREEN,
  });
}
