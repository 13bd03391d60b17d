import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { createCvmweb } from '../create-cvmweb.js';
import type { Cvmweb, CvmwebOptions } from '../cvmweb.js';
import type { DriverCapabilities } from '../driver/driver.js';
import { TEST_SCRYPT_COST } from '../registry/owner-secret.js';
import type { Session } from '../session/session.js';
import { closeAndDispose } from './close-and-dispose.js';
import type { ConformanceOptions } from './conformance-options.js';
import { type EventLog, record } from './event-log.js';
import { GuestObserver } from './guest-observer.js';

/** What the conformance suite's tests share: the options resolved, and helpers over one test's state. */
export interface ConformanceHarness {
  readonly options: ConformanceOptions;
  /** Time box of each test in ms. */
  readonly timeout: number;
  /** Time to wait for `apiAvailable` in ms. */
  readonly apiTimeout: number;
  /** User data given to `start()`. */
  readonly userData: string;
  /** The capabilities of the connection the last {@link ConformanceHarness.connect} made (the driver's, less what its hypervisor turned off). */
  readonly capabilities: Required<DriverCapabilities>;
  /** A new entry point on a new driver (closed and disposed after the test). */
  connect(extra?: Partial<CvmwebOptions>): Promise<Cvmweb>;
  /** A new entry point and a session on it, with its events recorded. */
  fresh(name?: string): Promise<{ cvmweb: Cvmweb; session: Session; log: EventLog }>;
  /** Opens `session` with the suite's requirements. */
  open(session: Session): Promise<void>;
  /** The hypervisor's VMs of `session`. */
  ours(cvmweb: Cvmweb, session: Session): Promise<Array<{ id: string }>>;
  /** An observer of the session's guest, or `undefined` when observation is off or impossible. */
  observe(session: Session): GuestObserver | undefined;
  /** Forgets `cvmweb` (the test disposed it itself). */
  forget(cvmweb: Cvmweb): void;
}

/** Makes the harness and registers its per-test set-up and clean-up (call inside the suite's `describe`). */
export function createHarness(options: ConformanceOptions): ConformanceHarness {
  const timeout = options.timeoutMs ?? 30_000;
  const apiTimeout = options.apiTimeoutMs ?? 20_000;
  const guest = options.guest === false ? undefined : (options.guest ?? {});
  let stateDir: string;
  const opened: Cvmweb[] = [];
  let capabilities: Required<DriverCapabilities>;

  /** An observer of the session's guest, or `undefined` when observation is off or impossible. */
  const observe = (session: Session) =>
    guest && capabilities.apiPortForwarding
      ? new GuestObserver(session, {
          ...(guest.clock ? { clock: guest.clock } : {}),
          bootTimeoutMs: guest.bootTimeoutMs ?? apiTimeout,
        })
      : undefined;

  const connect = async (extra: Partial<CvmwebOptions> = {}) => {
    const driver = await options.driver();
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
    // The connection's: a driver may turn off at create() what this host lacks.
    capabilities = cvmweb.hypervisor.capabilities;
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

  return {
    options,
    timeout,
    apiTimeout,
    userData: options.userData ?? '[cernvm]\nusers=user:users:s3cr3t\n',
    get capabilities() {
      return capabilities;
    },
    connect,
    fresh,
    open,
    ours,
    observe,
    forget: (cvmweb) => {
      opened.splice(opened.indexOf(cvmweb), 1);
    },
  };
}
