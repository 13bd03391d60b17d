// What test/real-guest-setup.ts provides to the tests of vitest's `libvirt` project.
import type { ImageEntry } from '@cvmweb/core';
import type { TEST_GUEST_SCREEN, TEST_GUEST_VERSIONS, TestGuest } from '@cvmweb/test-guest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The built test guest: its files, its catalog entries (`file:` URLs), versions and screen. */
    testGuest: {
      readonly files: TestGuest;
      readonly catalog: ImageEntry[];
      readonly versions: typeof TEST_GUEST_VERSIONS;
      readonly screen: typeof TEST_GUEST_SCREEN;
    };
  }
}
