import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

const bridge = JSON.parse(readFileSync('packages/web-bridge/package.json', 'utf8')) as { version: string };

/** Tests that boot real guests on the shared libvirt daemon (TCG here): named `*.libvirt.test.ts`. */
const LIBVIRT_TESTS = 'packages/*/src/**/*.libvirt.test.ts';
/** Tests that boot real guests on QEMU run directly (TCG here): named `*.real-qemu.test.ts`. */
const REAL_QEMU_TESTS = 'packages/*/src/**/*.real-qemu.test.ts';

export default defineConfig({
  // What the web bridge's tsup build defines, for tests run on its sources.
  define: { __CVMWEB_CLIENT_VERSION__: JSON.stringify(bridge.version) },
  test: {
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      {
        // Everything else, fake runners and doubles included, files in parallel.
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'scripts/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**', LIBVIRT_TESTS, REAL_QEMU_TESTS],
          sequence: { groupOrder: 0 },
        },
      },
      {
        // Real libvirt/QEMU: one file at a time, after the unit project, so two cores are not
        // oversubscribed and the files share one storage pool and one libvirtd. Real guests of
        // QEMU run directly (the QEMU driver) join them for the cores.
        extends: true,
        test: {
          name: 'libvirt',
          include: [LIBVIRT_TESTS, REAL_QEMU_TESTS],
          fileParallelism: false,
          // Builds the test guest once and provides it to the files (`inject('testGuest')`).
          globalSetup: ['test/real-guest-setup.ts'],
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
