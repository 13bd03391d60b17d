import { expect } from 'vitest';
import type { GuestReport } from '../guest/guest-report.js';
import type { Session } from '../session/session.js';
import { SessionState } from '../state/session-state.js';
import type { GuestObserver } from './guest-observer.js';
import {
  EXECUTION_CAP_SHARE_TOLERANCE,
  EXECUTION_CAP_TOLERANCE,
  EXECUTION_CAP_WINDOW_MS,
  MEASURED_EXECUTION_CAP,
  PAUSE_UPTIME_TOLERANCE_MS,
  PAUSE_WINDOW_MS,
} from './guest-tolerances.js';

// The checks of the conformance suite that look at the guest through the cvmweb guest API.
// Each does the session action it observes and checks the session's state too.

/** The booted guest read exactly `userData` from a context medium; returns its report. */
export async function expectUserDataRead(observer: GuestObserver, userData: string): Promise<GuestReport> {
  const report = await observer.next('the booted guest');
  expect(report.userData, 'the user data the guest read back').toBe(userData);
  expect(report.context, 'the context medium the guest found').not.toBeNull();
  return report;
}

/**
 * Pauses for {@link PAUSE_WINDOW_MS}: the guest must not answer while paused, and its uptime
 * must not advance meanwhile (within {@link PAUSE_UPTIME_TOLERANCE_MS}); resumed, it is the same boot.
 */
export async function expectPauseFreezes(observer: GuestObserver, session: Session): Promise<void> {
  const clock = observer.clock;
  const startedAt = clock.now();
  const before = await observer.next('the running guest');
  await session.pause();
  expect(session.state).toBe(SessionState.Paused);
  expect(await observer.silent(), 'a paused guest answers no request').toBe(true);
  await clock.sleep(PAUSE_WINDOW_MS);
  await session.resume();
  expect(session.state).toBe(SessionState.Started);
  const after = await observer.next('the resumed guest');
  const elapsed = clock.now() - startedAt;
  expect(after.bootId, 'a resumed guest is the same boot').toBe(before.bootId);
  const ran = after.uptimeMs - before.uptimeMs;
  expect(ran, 'the guest ran on after it was resumed').toBeGreaterThanOrEqual(0);
  expect(
    ran,
    `uptime advanced ${ran} ms over ${elapsed} ms of which ${PAUSE_WINDOW_MS} ms paused (tolerance ${PAUSE_UPTIME_TOLERANCE_MS} ms)`,
  ).toBeLessThanOrEqual(elapsed - PAUSE_WINDOW_MS + PAUSE_UPTIME_TOLERANCE_MS);
}

/** Resets: the guest boots again, with a new boot id. */
export async function expectResetReboots(observer: GuestObserver, session: Session): Promise<void> {
  const before = await observer.next('the running guest');
  await session.reset();
  expect(session.state).toBe(SessionState.Started);
  const after = await observer.next('the reset guest');
  expect(after.bootId, 'a reset guest boots again (a new boot id)').not.toBe(before.bootId);
}

/** Stops: nothing answers on the API port, and `running` (when given) finds no process of the VM. */
export async function expectStopSilences(
  observer: GuestObserver,
  session: Session,
  running: ((vmName: string) => Promise<string[]>) | undefined,
): Promise<void> {
  await observer.next('the running guest');
  await session.stop();
  expect(session.state).toBe(SessionState.Open);
  await expectGone(observer, session, running, observer.bootTimeoutMs);
}

/**
 * Within `timeoutMs` (real time) nothing answers on the API port, and `running` (when given)
 * finds no process of the VM.
 */
export async function expectGone(
  observer: GuestObserver | undefined,
  session: Session,
  running: ((vmName: string) => Promise<string[]>) | undefined,
  timeoutMs: number,
): Promise<void> {
  const poll = { timeout: timeoutMs, interval: 200 };
  if (observer) {
    await expect
      .poll(() => observer.silent(), { ...poll, message: "nothing answers a stopped VM's API port" })
      .toBe(true);
  }
  if (running) {
    await expect
      .poll(() => running(session.vmName), { ...poll, message: 'no process runs a stopped VM' })
      .toEqual([]);
  }
}

/** Hibernates and starts again: the same boot goes on, its uptime continuing and its user data kept. */
export async function expectRestoreContinues(
  observer: GuestObserver,
  session: Session,
  userData: string,
): Promise<void> {
  const before = await observer.next('the running guest');
  await session.hibernate();
  expect(session.state).toBe(SessionState.Open);
  expect(session.hibernated).toBe(true);
  expect(await observer.silent(), 'a hibernated guest answers no request').toBe(true);
  await session.start(userData);
  expect(session.state).toBe(SessionState.Started);
  const after = await observer.next('the restored guest');
  expect(after.bootId, 'a restored guest is the same boot, not a new one').toBe(before.bootId);
  expect(after.uptimeMs, "a restored guest's uptime continues").toBeGreaterThanOrEqual(before.uptimeMs);
  expect(after.userData).toBe(before.userData);
}

/**
 * Spins the guest's CPU and checks it under {@link MEASURED_EXECUTION_CAP}, leaving the cap there.
 * With `cpuTime` (the driver's accounting of the VM's CPU time, in ms): once the capped VM has
 * been given {@link MEASURED_EXECUTION_CAP} % of {@link EXECUTION_CAP_WINDOW_MS} of CPU time, its
 * share of a CPU over the wall time that took is at most the cap plus
 * {@link EXECUTION_CAP_SHARE_TOLERANCE}, and the guest's busy loop went on. Without it: the
 * busy loop's rate under the cap, as a fraction of its uncapped rate, is at most the cap plus
 * {@link EXECUTION_CAP_TOLERANCE}, and above zero.
 */
export async function expectCapLimitsCpu(
  observer: GuestObserver,
  session: Session,
  cpuTime?: (vmName: string) => Promise<number>,
): Promise<void> {
  expect(session.executionCap).toBe(100);
  await observer.next('the running guest');
  await observer.spin();
  if (cpuTime) return expectCapLimitsCpuShare(observer, session, cpuTime);
  const full = await observer.spinRate(EXECUTION_CAP_WINDOW_MS);
  expect(full, "the guest's busy loop makes progress").toBeGreaterThan(0);
  await session.setExecutionCap(MEASURED_EXECUTION_CAP);
  expect(session.executionCap).toBe(MEASURED_EXECUTION_CAP);
  const capped = await observer.spinRate(EXECUTION_CAP_WINDOW_MS);
  const ratio = capped / full;
  expect(
    ratio,
    `CPU rate under a ${MEASURED_EXECUTION_CAP} % cap, as a fraction of the uncapped rate`,
  ).toBeLessThanOrEqual(MEASURED_EXECUTION_CAP / 100 + EXECUTION_CAP_TOLERANCE);
  expect(ratio, 'a capped guest still runs').toBeGreaterThan(0);
}

/** {@link expectCapLimitsCpu} by the VM's CPU time: waits for CPU time given, not for a time. */
async function expectCapLimitsCpuShare(
  observer: GuestObserver,
  session: Session,
  cpuTime: (vmName: string) => Promise<number>,
): Promise<void> {
  await session.setExecutionCap(MEASURED_EXECUTION_CAP);
  expect(session.executionCap).toBe(MEASURED_EXECUTION_CAP);
  const before = await observer.next('a report');
  const budget = (EXECUTION_CAP_WINDOW_MS * MEASURED_EXECUTION_CAP) / 100;
  // CPU time is real time: the wall time is too, whatever clock the observer runs on.
  const start = await cpuTime(session.vmName);
  const from = performance.now();
  const given = async () => (await cpuTime(session.vmName)) - start;
  await expect
    .poll(given, {
      timeout: observer.bootTimeoutMs,
      interval: 100,
      message: `CPU time given to the capped VM, in ms (waiting for ${budget})`,
    })
    .toBeGreaterThanOrEqual(budget);
  const share = (await given()) / (performance.now() - from);
  expect(
    share,
    `share of a CPU given to the VM under a ${MEASURED_EXECUTION_CAP} % cap, by its CPU time over wall time`,
  ).toBeLessThanOrEqual(MEASURED_EXECUTION_CAP / 100 + EXECUTION_CAP_SHARE_TOLERANCE);
  const after = await observer.next('a report');
  expect(after.bootId, 'the capped guest is the same boot').toBe(before.bootId);
  expect(after.spin, "a capped guest's busy loop goes on").toBeGreaterThan(before.spin);
}
