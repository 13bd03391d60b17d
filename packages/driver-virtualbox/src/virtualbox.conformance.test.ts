import { runConformanceSuite } from '@cvmweb/core/testing';
import {
  doubleDriver,
  leftovers,
  makeHome,
  removeHome,
  running,
  TEST_VERSION,
  testImages,
} from './testing/double-harness.js';

// One VBOX_USER_HOME per test: both driver() calls of a test (the simulated restart) share it.
let home: string | undefined;
const currentHome = async () => {
  home ??= await makeHome();
  return home;
};

runConformanceSuite({
  name: 'virtualbox (double)',
  driver: async () => doubleDriver(await currentHome()),
  images: async () => testImages(await currentHome()),
  requirements: { version: TEST_VERSION, ram: 256, disk: 64 },
  timeoutMs: 60_000,
  apiTimeoutMs: 30_000,
  leftovers: async (vmName) => leftovers(await currentHome(), vmName),
  // The double's guest serves the cvmweb guest API (a simulated test guest, on the real clock).
  running: async (vmName) => running(await currentHome(), vmName),
  cleanup: async () => {
    if (home) await removeHome(home);
    home = undefined;
  },
});
