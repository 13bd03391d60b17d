import { runConformanceSuite } from '@cvmweb/core/testing';
import {
  doubleDriver,
  leftovers,
  makeHome,
  removeHome,
  running,
  TEST_VERSION,
  testImages,
} from '../test/double-harness.js';

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
  // Generous: the double starts each guest's API server as a new Node process, which a loaded
  // two-core machine may take many seconds to start.
  timeoutMs: 120_000,
  apiTimeoutMs: 60_000,
  leftovers: async (vmName) => leftovers(await currentHome(), vmName),
  // The double's guest serves the cvmweb guest API (a simulated test guest, on the real clock).
  running: async (vmName) => running(await currentHome(), vmName),
  cleanup: async () => {
    if (home) await removeHome(home);
    home = undefined;
  },
});
