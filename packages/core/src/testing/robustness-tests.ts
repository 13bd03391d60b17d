import { expect, it } from 'vitest';
import { ErrorCode } from '../errors/error-code.js';
import { isHypervisorError } from '../errors/hypervisor-error.js';
import type { Requirements } from '../registry/session-record.js';
import type { Session } from '../session/session.js';
import { SessionState } from '../state/session-state.js';
import type { ConformanceHarness } from './conformance-harness.js';
import { expectGone } from './guest-checks.js';

/**
 * The conformance suite's tests of a driver under stress: close from any state, bad input,
 * serialised calls, abort, and reconcile after a simulated restart.
 */
export function registerRobustnessTests(h: ConformanceHarness): void {
  const { options, timeout, apiTimeout, userData, connect, fresh, open, ours } = h;

  it(
    'close() removes the VM and everything made for it, from any state (open, running, paused, saved)',
    async () => {
      const cvmweb = await connect();
      const states: Array<(s: Session) => Promise<void>> = [
        async (s) => open(s),
        async (s) => {
          await open(s);
          await s.start(userData);
        },
      ];
      if (h.capabilities.pause) {
        states.push(async (s) => {
          await open(s);
          await s.start(userData);
          await s.pause();
        });
      }
      if (h.capabilities.hibernate) {
        // Saved: destroy() removes the saved memory too.
        states.push(async (s) => {
          await open(s);
          await s.start(userData);
          await s.hibernate();
          expect(s.hibernated).toBe(true);
        });
      }
      for (const [index, reach] of states.entries()) {
        const session = await cvmweb.requestSession(`close-${index}`, 'key');
        await reach(session);
        await session.close();
        expect(session.state).toBe(SessionState.Closed);
        expect(await ours(cvmweb, session)).toEqual([]);
        if (options.leftovers) expect(await options.leftovers(session.vmName)).toEqual([]);
        await expectGone(undefined, session, options.running, apiTimeout);
      }
    },
    timeout,
  );

  it(
    'refuses bad input with INVALID_USAGE and leaves nothing behind',
    async () => {
      const { cvmweb, session } = await fresh();
      const bad: unknown[] = [
        { cpus: 0 },
        { cpus: 1.5 },
        { ram: '256' },
        { disk: -1 },
        { version: '../../etc' },
        { rma: 512 },
        'requirements',
        [1, 2],
      ];
      for (const requirements of bad) {
        const error = await session.open(requirements as Partial<Requirements>).catch((e: unknown) => e);
        expect(error, JSON.stringify(requirements)).toMatchObject({ code: ErrorCode.INVALID_USAGE });
        expect(isHypervisorError(error) && typeof error.details['field']).toBe('string');
      }
      expect(session.state).toBe(SessionState.Closed);
      expect(await ours(cvmweb, session)).toEqual([]);
      await expect(cvmweb.requestSession('', 'key')).rejects.toMatchObject({
        code: ErrorCode.INVALID_USAGE,
      });
      await expect(cvmweb.requestSession('x'.repeat(129), 'key')).rejects.toMatchObject({
        code: ErrorCode.INVALID_USAGE,
      });
      await expect(cvmweb.requestSession('conformance', 'wrong')).rejects.toMatchObject({
        code: ErrorCode.PASSWORD_DENIED,
      });
      await open(session);
      await expect(session.start(42 as unknown as string)).rejects.toMatchObject({
        code: ErrorCode.INVALID_USAGE,
      });
      expect(session.state).toBe(SessionState.Open);
    },
    timeout,
  );

  it(
    'serialises calls: open() and start() without awaiting run in order',
    async () => {
      const { session, log } = await fresh();
      const opening = open(session);
      const starting = session.start(userData);
      const pausing = h.capabilities.pause ? session.pause() : Promise.resolve();
      await Promise.all([opening, starting, pausing]);
      expect(session.state).toBe(h.capabilities.pause ? SessionState.Paused : SessionState.Started);
      expect(log.events.filter((e) => e === 'open' || e === 'start')).toEqual(['open', 'start']);
      if (h.capabilities.pause) {
        const second = await session.pause().catch((e: unknown) => e);
        expect(second).toMatchObject({ code: ErrorCode.INVALID_STATE });
      }
    },
    timeout,
  );

  it(
    'an aborted open() leaves no VM and a Closed session',
    async () => {
      const { cvmweb, session } = await fresh();
      const controller = new AbortController();
      controller.abort();
      await expect(session.open(options.requirements, { signal: controller.signal })).rejects.toMatchObject({
        aborted: true,
      });
      expect(session.state).toBe(SessionState.Closed);
      expect(await ours(cvmweb, session)).toEqual([]);
    },
    timeout,
  );

  it(
    'reconciles after a simulated restart: running VMs are re-attached, vanished ones close, orphans are found',
    async () => {
      const first = await connect();
      const keep = await first.requestSession('keep', 'key');
      await open(keep);
      await keep.start(userData);
      const lose = await first.requestSession('lose', 'key');
      await open(lose);
      const loseId = lose.id;
      const loseVmId = lose.record.vmId;
      await first.dispose();
      h.forget(first);

      const second = await connect();
      const vm = loseVmId ? await second.hypervisor.findVm(loseVmId) : undefined;
      expect(vm).toBeDefined();
      await vm?.destroy();
      const report = await second.reconcile();
      expect(report.vanished.map((r) => r.id)).toEqual([loseId]);
      const again = await second.requestSession('keep', 'key');
      expect(again.state).toBe(SessionState.Started);
      expect((await second.session(loseId))?.state).toBe(SessionState.Closed);
      if (h.capabilities.pause) {
        await again.pause();
        expect(again.state).toBe(SessionState.Paused);
      }
      await again.close();
      expect(await ours(second, again)).toEqual([]);
    },
    timeout * 2,
  );
}
