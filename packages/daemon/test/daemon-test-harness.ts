// Test support of this package's tests (outside src/, never published): a cvmweb on the mock driver, a virtual clock,
// a fake idle source and helpers to make controlled sessions in a given state.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Cvmweb,
  createCvmweb,
  createMemorySessionRegistry,
  type DaemonSettings,
  openSessionRegistry,
  type Session,
  type SessionRegistry,
} from '@cvmweb/core';
import { ManualClock, TEST_SCRYPT_COST } from '@cvmweb/core/testing';
import { createMockHypervisor, type MockHypervisor, mock } from '@cvmweb/driver-mock';
import { IdleDaemon } from '../src/daemon/idle-daemon.js';
import type { IdleDaemonOptions } from '../src/daemon/idle-daemon-options.js';
import { type FakeIdleSource, fakeIdleSource } from '../src/testing/fake-idle-source.js';

export const T0 = 1_700_000_000_000;

export interface Harness {
  clock: ManualClock;
  state: MockHypervisor;
  cvmweb: Cvmweb;
  source: FakeIdleSource;
  stateDir: string;
  registry: SessionRegistry;
  daemons: IdleDaemon[];
  /** A new daemon over this harness (not started). */
  daemon(options?: Partial<IdleDaemonOptions>): IdleDaemon;
  /** Advances virtual time in steps of `stepMs`, letting the daemon's actions finish at each step. */
  advance(ms: number, stepMs?: number): Promise<void>;
  /** A controlled session: `started`, `open` (stopped by the user) or `closed`. */
  session(
    name: string,
    settings: Partial<DaemonSettings>,
    state?: 'started' | 'open' | 'closed',
  ): Promise<Session>;
  /** Replaces the cvmweb instance with a new one over the same registry and hypervisor (a restart). */
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

export async function harness(options: { fileRegistry?: boolean } = {}): Promise<Harness> {
  const clock = new ManualClock(T0);
  const state = createMockHypervisor();
  const stateDir = await mkdtemp(join(tmpdir(), 'cvmweb-daemon-test-'));
  const openRegistry = async () =>
    options.fileRegistry ? openSessionRegistry({ directory: stateDir, durable: false }) : memory;
  const memory = createMemorySessionRegistry();
  const make = async (registry: SessionRegistry) =>
    createCvmweb({
      driver: mock({ instance: state, clock, api: false }),
      stateDir,
      registry,
      clock,
      secretCost: TEST_SCRYPT_COST,
    });
  let registry = await openRegistry();
  const h: Harness = {
    clock,
    state,
    cvmweb: await make(registry),
    source: fakeIdleSource({ clock }),
    stateDir,
    registry,
    daemons: [],
    daemon(extra = {}) {
      const daemon = new IdleDaemon({
        host: { sessions: () => h.cvmweb.sessions(), session: (id) => h.cvmweb.session(id) },
        source: h.source,
        clock,
        stateDir,
        ...extra,
      });
      h.daemons.push(daemon);
      return daemon;
    },
    async advance(ms, stepMs = 500) {
      for (let done = 0; done < ms; done += stepMs) {
        await clock.advance(Math.min(stepMs, ms - done));
        for (const d of h.daemons) await d.whenSettled();
      }
      for (const d of h.daemons) await d.whenSettled();
    },
    async session(name, settings, initial = 'started') {
      const session = await h.cvmweb.requestSession(name, 'key');
      await session.setDaemonSettings(settings);
      if (initial === 'closed') return session;
      await session.open({ cpus: 1, ram: 256, disk: 0 });
      await session.start('[cernvm]\nuser data');
      if (initial === 'open') await session.stop();
      return session;
    },
    async restart() {
      await h.cvmweb.dispose();
      if (options.fileRegistry) await registry.close();
      registry = await openRegistry();
      h.registry = registry;
      h.cvmweb = await make(registry);
    },
    async dispose() {
      for (const d of h.daemons) await d.stop();
      await h.cvmweb.dispose();
      if (options.fileRegistry) await registry.close().catch(() => undefined);
      await state.shutdown();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
  return h;
}
