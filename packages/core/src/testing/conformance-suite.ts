import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Cvmweb, type CvmwebOptions, createCvmweb } from '../cvmweb.js';
import type { Driver, DriverCapabilities } from '../driver/driver.js';
import { ErrorCode } from '../errors/error-code.js';
import { isHypervisorError } from '../errors/hypervisor-error.js';
import type { ImageCache } from '../images/image-cache.js';
import { TEST_SCRYPT_COST } from '../registry/owner-secret.js';
import type { Requirements } from '../registry/session-record.js';
import type { Session } from '../session/session.js';
import { type SessionEvents, seedEventNames } from '../session/session-events.js';
import { isLegal, type SessionAction, sessionActions } from '../state/action-table.js';
import { SessionState, type SessionStateValue } from '../state/session-state.js';
import { closeAndDispose } from './close-and-dispose.js';

/** Options of {@link runConformanceSuite}. */
export interface ConformanceOptions {
  /** Title of the `describe` block, usually the driver's name. */
  name: string;
  /**
   * Returns a driver. Called once per test and once more for the simulated
   * restart: drivers returned by successive calls within one test must see the
   * same hypervisor (as two processes on one machine would).
   */
  driver: () => Driver | Promise<Driver>;
  /** Requirements used to open sessions (e.g. `{ ram: 128 }` for a small test guest). */
  requirements?: Partial<Requirements>;
  /** The image cache sessions download from (real drivers boot a real image). */
  images?: () => ImageCache | Promise<ImageCache>;
  /** User data given to `start()`. */
  userData?: string;
  /** Time box of each test in ms (default 30 s; real VMs need more). */
  timeoutMs?: number;
  /** Time to wait for `apiAvailable` after `start()` in ms (default 20 s). */
  apiTimeoutMs?: number;
  /**
   * Lists anything the driver made that should be gone after `close()` (disks,
   * volumes, port rules, files) for the given VM name. The suite asserts it is empty.
   */
  leftovers?: (vmName: string) => Promise<string[]>;
  /** Runs after each test (stop fake servers, remove temp files). */
  cleanup?: () => Promise<void> | void;
  /** Extra options for `createCvmweb`. */
  cvmweb?: Partial<CvmwebOptions>;
}

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
 * serialised calls, abort, and reconcile after a simulated restart. Tests of a
 * capability the driver lacks check that core answers `NOT_SUPPORTED` instead.
 */
export function runConformanceSuite(options: ConformanceOptions): void {
  const timeout = options.timeoutMs ?? 30_000;
  const apiTimeout = options.apiTimeoutMs ?? 20_000;
  const userData = options.userData ?? '[cernvm]\nusers=user:users:s3cr3t\n';

  describe(`driver conformance: ${options.name}`, () => {
    let stateDir: string;
    const opened: Cvmweb[] = [];
    let capabilities: DriverCapabilities;

    const connect = async (extra: Partial<CvmwebOptions> = {}) => {
      const driver = await options.driver();
      capabilities = driver.capabilities;
      const cvmweb = await createCvmweb({
        driver,
        stateDir,
        secretCost: TEST_SCRYPT_COST,
        apiTiming: { onlineIntervalMs: 200, offlineInitialMs: 50, offlineMaxMs: 500, probeTimeoutMs: 1000 },
        ...(options.images ? { images: await options.images() } : {}),
        ...options.cvmweb,
        ...extra,
      });
      opened.push(cvmweb);
      return cvmweb;
    };
    const fresh = async (name = 'conformance') => {
      const cvmweb = await connect();
      const session = await cvmweb.requestSession(name, 'key');
      return { cvmweb, session, log: record(session) };
    };
    const open = (session: Session) => session.open(options.requirements);
    const ours = async (cvmweb: Cvmweb, session: Session) =>
      (await cvmweb.hypervisor.listVms()).filter((vm) => vm.sessionId === session.id);

    beforeEach(async () => {
      stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-conformance-'));
    });

    afterEach(async () => {
      for (const cvmweb of opened.splice(0)) await closeAndDispose(cvmweb);
      await options.cleanup?.();
      await rm(stateDir, { recursive: true, force: true });
    }, timeout);

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
      'runs the whole lifecycle with the seed events in order',
      async () => {
        const { cvmweb, session, log } = await fresh();
        expect(session.state).toBe(SessionState.Closed);
        await open(session);
        expect(session.state).toBe(SessionState.Open);
        expect(await ours(cvmweb, session)).toHaveLength(1);
        const api = capabilities.apiPortForwarding ? waitFor(session, 'apiAvailable', apiTimeout) : undefined;
        await session.start(userData);
        expect(session.state).toBe(SessionState.Started);
        if (api) {
          const [ip, url] = await api;
          expect(ip).toBeTruthy();
          expect(url).toMatch(/^http:\/\//);
          expect(session.apiURL).toBe(url);
        }
        if (capabilities.pause) {
          await session.pause();
          expect(session.state).toBe(SessionState.Paused);
          await session.resume();
          expect(session.state).toBe(SessionState.Started);
        }
        if (capabilities.reset) {
          await session.reset();
          expect(session.state).toBe(SessionState.Started);
        }
        await session.stop();
        expect(session.state).toBe(SessionState.Open);
        await session.close();
        expect(session.state).toBe(SessionState.Closed);
        expect(await ours(cvmweb, session)).toEqual([]);
        const lifecycle = log.events.filter((e) =>
          ['open', 'start', 'pause', 'resume', 'reset', 'stop', 'close'].includes(e),
        );
        expect(lifecycle).toEqual([
          'open',
          'start',
          ...(capabilities.pause ? ['pause', 'resume'] : []),
          ...(capabilities.reset ? ['reset'] : []),
          'stop',
          'close',
        ]);
        expect(log.states).toEqual([
          [1, 0],
          [2, 1],
          [3, 2],
          [4, 3],
          ...(capabilities.pause
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
        if (capabilities.pause) {
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
        if (!capabilities.executionCap) {
          await expect(session.setExecutionCap(50)).rejects.toMatchObject({ code: ErrorCode.NOT_SUPPORTED });
          return;
        }
        for (const cap of [1, 100, 50]) {
          await session.setExecutionCap(cap);
          expect(session.executionCap).toBe(cap);
        }
        await session.start(userData);
        await session.setExecutionCap(20);
        expect(session.executionCap).toBe(20);
      },
      timeout,
    );

    it(
      'hibernates and restores, or answers NOT_SUPPORTED',
      async () => {
        const { session, log } = await fresh();
        await open(session);
        await session.start(userData);
        if (!capabilities.hibernate) {
          await expect(session.hibernate()).rejects.toMatchObject({ code: ErrorCode.NOT_SUPPORTED });
          expect(session.state).toBe(SessionState.Started);
          return;
        }
        await session.hibernate();
        expect(session.state).toBe(SessionState.Open);
        expect(session.hibernated).toBe(true);
        await session.start(userData);
        expect(session.state).toBe(SessionState.Started);
        expect(session.hibernated).toBe(false);
        expect(log.events).toContain('hibernate');
      },
      timeout,
    );

    it(
      'close() removes the VM and everything made for it, from any state',
      async () => {
        const cvmweb = await connect();
        const states: Array<(s: Session) => Promise<void>> = [
          async (s) => open(s),
          async (s) => {
            await open(s);
            await s.start(userData);
          },
        ];
        if (capabilities.pause) {
          states.push(async (s) => {
            await open(s);
            await s.start(userData);
            await s.pause();
          });
        }
        for (const [index, reach] of states.entries()) {
          const session = await cvmweb.requestSession(`close-${index}`, 'key');
          await reach(session);
          await session.close();
          expect(session.state).toBe(SessionState.Closed);
          expect(await ours(cvmweb, session)).toEqual([]);
          if (options.leftovers) expect(await options.leftovers(session.vmName)).toEqual([]);
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
        const pausing = capabilities.pause ? session.pause() : Promise.resolve();
        await Promise.all([opening, starting, pausing]);
        expect(session.state).toBe(capabilities.pause ? SessionState.Paused : SessionState.Started);
        expect(log.events.filter((e) => e === 'open' || e === 'start')).toEqual(['open', 'start']);
        if (capabilities.pause) {
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
        await expect(session.open(options.requirements, { signal: controller.signal })).rejects.toMatchObject(
          {
            aborted: true,
          },
        );
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
        opened.splice(opened.indexOf(first), 1);

        const second = await connect();
        const vm = loseVmId ? await second.hypervisor.findVm(loseVmId) : undefined;
        expect(vm).toBeDefined();
        await vm?.destroy();
        const report = await second.reconcile();
        expect(report.vanished.map((r) => r.id)).toEqual([loseId]);
        const again = await second.requestSession('keep', 'key');
        expect(again.state).toBe(SessionState.Started);
        expect((await second.session(loseId))?.state).toBe(SessionState.Closed);
        if (capabilities.pause) {
          await again.pause();
          expect(again.state).toBe(SessionState.Paused);
        }
        await again.close();
        expect(await ours(second, again)).toEqual([]);
      },
      timeout * 2,
    );
  });
}

/** Events of one session, recorded by {@link record}. */
export interface EventLog {
  /** Names of the seed events, in order. */
  events: string[];
  /** Each `stateChanged` as `[state, previous]`. */
  states: Array<[number, number]>;
  /** Each `progress` as `[done, total, message]`. */
  progress: Array<[number, number, string]>;
}

const recorded = seedEventNames.filter((event) => event !== 'progress' && event !== 'debug');

/** Records a session's events for assertions. */
export function record(session: Session): EventLog {
  const log: EventLog = { events: [], states: [], progress: [] };
  for (const event of recorded) session.on(event, () => log.events.push(event));
  session.on('stateChanged', (state, previous) => log.states.push([state, previous]));
  session.on('progress', (done, total, message) => log.progress.push([done, total, message]));
  return log;
}

/** Resolves with the arguments of the next `event`, or rejects after `timeoutMs`. */
export function waitFor<K extends keyof SessionEvents>(
  session: Session,
  event: K,
  timeoutMs: number,
): Promise<SessionEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${String(event)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = session.on(event, (...args) => {
      clearTimeout(timer);
      off();
      resolve(args);
    });
  });
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
