import { expect, it } from 'vitest';
import { ErrorCode } from '../errors/error-code.js';
import type { Session } from '../session/session.js';
import { isLegal, type SessionAction, sessionActions } from '../state/action-table.js';
import { SessionState, type SessionStateValue } from '../state/session-state.js';
import type { ConformanceHarness } from './conformance-harness.js';
import { waitFor } from './event-log.js';
import {
  expectCapLimitsCpu,
  expectGone,
  expectPauseFreezes,
  expectResetReboots,
  expectRestoreContinues,
  expectStopSilences,
  expectUserDataRead,
} from './guest-checks.js';

/**
 * The conformance suite's tests of what a driver does to a VM: probe, the whole lifecycle,
 * illegal actions, properties, the execution cap, hibernate and restore (observing the guest
 * where the harness can).
 */
export function registerLifecycleTests(h: ConformanceHarness): void {
  const { options, timeout, apiTimeout, userData, fresh, open, ours, observe } = h;

  it('probes without throwing and reports a well-formed verdict', async () => {
    const driver = await options.driver();
    const verdict = await driver.probe();
    expect(typeof verdict.installed).toBe('boolean');
    expect(typeof verdict.healthy).toBe('boolean');
    expect(Number.isFinite(verdict.score)).toBe(true);
    if (!verdict.healthy) expect(verdict.reason).toBeTruthy();
    expect(driver.name).toMatch(/^[a-z][a-z0-9-]*$/);
  });

  it(
    'runs the whole lifecycle with the original plugin’s events in order',
    async () => {
      const { cvmweb, session, log } = await fresh();
      expect(session.state).toBe(SessionState.Closed);
      await open(session);
      expect(session.state).toBe(SessionState.Open);
      expect(await ours(cvmweb, session)).toHaveLength(1);
      const api = h.capabilities.apiPortForwarding ? waitFor(session, 'apiAvailable', apiTimeout) : undefined;
      await session.start(userData);
      expect(session.state).toBe(SessionState.Started);
      if (api) {
        const [ip, url] = await api;
        expect(ip).toBeTruthy();
        expect(url).toMatch(/^http:\/\//);
        expect(session.apiURL).toBe(url);
      }
      const observer = observe(session);
      if (observer) await expectUserDataRead(observer, userData);
      if (h.capabilities.pause) {
        if (observer) {
          await expectPauseFreezes(observer, session);
        } else {
          await session.pause();
          expect(session.state).toBe(SessionState.Paused);
          await session.resume();
          expect(session.state).toBe(SessionState.Started);
        }
      }
      if (h.capabilities.reset) {
        if (observer) {
          await expectResetReboots(observer, session);
        } else {
          await session.reset();
          expect(session.state).toBe(SessionState.Started);
        }
      }
      if (observer) {
        await expectStopSilences(observer, session, options.running);
      } else {
        await session.stop();
        expect(session.state).toBe(SessionState.Open);
        await expectGone(undefined, session, options.running, apiTimeout);
      }
      await session.close();
      expect(session.state).toBe(SessionState.Closed);
      expect(await ours(cvmweb, session)).toEqual([]);
      if (options.leftovers) expect(await options.leftovers(session.vmName)).toEqual([]);
      const lifecycle = log.events.filter((e) =>
        ['open', 'start', 'pause', 'resume', 'reset', 'stop', 'close'].includes(e),
      );
      expect(lifecycle).toEqual([
        'open',
        'start',
        ...(h.capabilities.pause ? ['pause', 'resume'] : []),
        ...(h.capabilities.reset ? ['reset'] : []),
        'stop',
        'close',
      ]);
      expect(log.states).toEqual([
        [1, 0],
        [2, 1],
        [3, 2],
        [4, 3],
        ...(h.capabilities.pause
          ? [
              [6, 4],
              [4, 6],
            ]
          : []),
        [2, 4],
        [0, 2],
      ]);
      expect(log.progress.length).toBeGreaterThan(0);
      expect(log.events).not.toContain('error');
    },
    timeout,
  );

  it(
    'rejects every illegal action with INVALID_STATE and changes nothing',
    async () => {
      const { session, log } = await fresh();
      const tryIllegal = async (state: SessionStateValue) => {
        expect(session.state).toBe(state);
        for (const action of sessionActions) {
          if (isLegal(action, state)) continue;
          const before = log.events.length;
          const error = await attempt(session, action);
          expect(error, `${action} in state ${state}`).toMatchObject({ code: ErrorCode.INVALID_STATE });
          expect(session.state).toBe(state);
          expect(log.events.length).toBe(before);
        }
      };
      await tryIllegal(SessionState.Closed);
      await open(session);
      await tryIllegal(SessionState.Open);
      await session.start(userData);
      await tryIllegal(SessionState.Started);
      if (h.capabilities.pause) {
        await session.pause();
        await tryIllegal(SessionState.Paused);
        await session.stop();
      } else {
        await session.stop();
      }
      await tryIllegal(SessionState.Open);
    },
    timeout,
  );

  it(
    'keeps properties, and refuses bad property names and values',
    async () => {
      const { session } = await fresh();
      await open(session);
      expect(await session.getProperty('unset')).toBe('');
      await session.setProperty('host', '10.110.17.67');
      expect(await session.getProperty('host')).toBe('10.110.17.67');
      const tricky = `quote" <tag> & 'single' $(rm -rf /) \n--flag`;
      await session.setProperty('tricky', tricky);
      expect(await session.getProperty('tricky')).toBe(tricky);
      for (const bad of ['', 'a b', 'a/b', '../x', 'x'.repeat(129)]) {
        await expect(session.setProperty(bad, 'v')).rejects.toMatchObject({
          code: ErrorCode.INVALID_USAGE,
        });
      }
      await expect(session.setProperty('ok', 42 as unknown as string)).rejects.toMatchObject({
        code: ErrorCode.INVALID_USAGE,
      });
    },
    timeout,
  );

  it(
    'enforces execution cap bounds',
    async () => {
      const { session } = await fresh();
      await open(session);
      for (const bad of [0, 101, -5, 1.5, Number.NaN, '50' as unknown as number]) {
        await expect(session.setExecutionCap(bad)).rejects.toMatchObject({ code: ErrorCode.INVALID_USAGE });
      }
      expect(session.executionCap).toBe(100);
      if (!h.capabilities.executionCap) {
        await expect(session.setExecutionCap(50)).rejects.toMatchObject({ code: ErrorCode.NOT_SUPPORTED });
        return;
      }
      for (const cap of [1, 50, 100]) {
        await session.setExecutionCap(cap);
        expect(session.executionCap).toBe(cap);
      }
      await session.start(userData);
      const observer = observe(session);
      if (observer) {
        await expectCapLimitsCpu(observer, session, options.cpuTime);
      } else {
        await session.setExecutionCap(20);
        expect(session.executionCap).toBe(20);
      }
    },
    timeout,
  );

  it(
    'hibernates and restores, or answers NOT_SUPPORTED',
    async () => {
      const { session, log } = await fresh();
      await open(session);
      await session.start(userData);
      if (!h.capabilities.hibernate) {
        await expect(session.hibernate()).rejects.toMatchObject({ code: ErrorCode.NOT_SUPPORTED });
        expect(session.state).toBe(SessionState.Started);
        return;
      }
      const observer = observe(session);
      if (observer) {
        const booted = await observer.next('the booted guest');
        // Until the guest's clock has run a second, so a restore that loses it shows.
        await observer.next('a second of guest uptime', (r) => r.uptimeMs >= booted.uptimeMs + 1000);
        await expectRestoreContinues(observer, session, userData);
      } else {
        await session.hibernate();
        expect(session.state).toBe(SessionState.Open);
        expect(session.hibernated).toBe(true);
        await session.start(userData);
        expect(session.state).toBe(SessionState.Started);
      }
      expect(session.hibernated).toBe(false);
      expect(log.events).toContain('hibernate');
    },
    timeout,
  );
}

async function attempt(session: Session, action: SessionAction): Promise<unknown> {
  const calls: Record<SessionAction, () => Promise<unknown>> = {
    open: () => session.open(),
    start: () => session.start(''),
    pause: () => session.pause(),
    resume: () => session.resume(),
    stop: () => session.stop(),
    hibernate: () => session.hibernate(),
    reset: () => session.reset(),
    close: () => session.close(),
    setExecutionCap: () => session.setExecutionCap(50),
    setProperty: () => session.setProperty('k', 'v'),
    getProperty: () => session.getProperty('k'),
  };
  return calls[action]().then(
    () => undefined,
    (error: unknown) => error,
  );
}
