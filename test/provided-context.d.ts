// What test/real-guest-setup.ts provides to the tests of vitest's `libvirt` project. Written out
// here (only core's types imported), so a driver's type check needs no cvmweb package but core;
// the setup's `provide` call checks that the test-guest kit's values fit.
import type { ImageEntry } from '@cvmweb/core';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The built test guest: its files, its catalog entries (`file:` URLs), versions and screen. */
    testGuest: {
      /** The guest's files, as the kit's `testGuest()` resolves them. */
      readonly files: {
        readonly directory: string;
        readonly vmlinux: string;
        readonly vmlinuz: string;
        readonly initrd: string;
        readonly iso: string;
        readonly qcow2: string;
        readonly cmdline: string;
        readonly sha256: Readonly<Record<string, string>>;
      };
      /** The kit's `testGuestCatalog()`. */
      readonly catalog: ImageEntry[];
      /** The kit's `TEST_GUEST_VERSIONS`. */
      readonly versions: {
        readonly kernel: string;
        readonly iso: string;
        readonly cloudInit: string;
        readonly disk: string;
      };
      /** The kit's `TEST_GUEST_SCREEN`. */
      readonly screen: {
        readonly width: number;
        readonly height: number;
        readonly banner: string;
        readonly cell: { readonly width: number; readonly height: number };
      };
    };
  }
}
