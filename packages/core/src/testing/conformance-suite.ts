import { describe, it } from 'vitest';
import { GUEST_REPORT_PATH } from '../guest/guest-report.js';
import { createHarness } from './conformance-harness.js';
import type { ConformanceOptions } from './conformance-options.js';
import { registerDisplayTests } from './display-tests.js';
import { registerLifecycleTests } from './lifecycle-tests.js';
import { registerRobustnessTests } from './robustness-tests.js';

/**
 * The driver conformance suite: the test a driver author runs first. Call it
 * from a vitest test file of the driver package:
 *
 * ```ts
 * // my-driver.conformance.test.ts; runConformanceSuite comes from the `@cvmweb/core/testing` export.
 * import { myDriver } from './my-driver.js';
 *
 * runConformanceSuite({ name: 'my', driver: () => myDriver() });
 * ```
 *
 * It covers the full lifecycle, every legal and illegal transition, properties,
 * execution cap bounds, hibernate and restore, that `close()` removes every
 * VM (and whatever {@link ConformanceOptions.leftovers} reports), bad input,
 * serialised calls, abort, reconcile after a simulated restart, the display (it listens on
 * 127.0.0.1, a VNC one greets with `RFB 003.00x`, `rdpURL`/`displayURL` say where) and
 * screenshots (a PNG with a size). Tests of a
 * capability the driver lacks check that core answers `NOT_SUPPORTED` instead.
 *
 * Unless {@link ConformanceOptions.guest} is `false`, it also observes the guest through the
 * cvmweb guest API (the cvmweb test guest, or the mock driver's endpoint) wherever the driver
 * forwards an API port: the user data given to `start()` is read back; a paused guest does not
 * answer and its uptime stands still; resumed it is the same boot, reset a new one, restored
 * after hibernate the same boot with its uptime going on; once stopped nothing answers and
 * {@link ConformanceOptions.running} finds no process; under an execution cap its CPU rate
 * drops. The tolerances are the named constants of `guest-tolerances.ts`.
 */
export function runConformanceSuite(options: ConformanceOptions): void {
  describe(`driver conformance: ${options.name}`, () => {
    if (options.guest === false) {
      it.skip(`guest observation through ${GUEST_REPORT_PATH}: off (guest: false), so user data, pause, reset, hibernate, stop and the execution cap are checked by power states only`, () =>
        undefined);
    }
    const harness = createHarness(options);
    registerLifecycleTests(harness);
    registerRobustnessTests(harness);
    registerDisplayTests(harness);
  });
}
