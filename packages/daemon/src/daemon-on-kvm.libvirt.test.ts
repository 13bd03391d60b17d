// The original plugin's table on a real libvirt VM: the KVM driver, the driver's test guest, a fake idle
// source on the real clock and short daemon timings. Skipped when libvirt does not answer.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cvmweb, createCvmweb, DaemonFlags, type Session, SessionState } from '@cvmweb/core';
import { TEST_SCRYPT_COST } from '@cvmweb/core/testing';
import { kvm } from '@cvmweb/driver-kvm';
import {
  FileServer,
  guestCache,
  guestEntries,
  leftovers as leftoversOf,
  libvirtUnavailable,
  lockLibvirt,
  purgeVms,
  TEST_POOL,
  TEST_POOL_PATH,
  TEST_URI,
  virshOut as virsh,
} from '@cvmweb/driver-kvm/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { IdleDaemon } from './daemon/idle-daemon.js';
import { type FakeIdleSource, fakeIdleSource } from './testing/fake-idle-source.js';

// The same settings, test guest and lock as driver-kvm's real-libvirt tests (its test helpers).
const SESSION = 'daemon-kvm';
const VM_PREFIX = `cvmweb-${SESSION}-`;

/** Our domains and volumes (left by an interrupted run, or by this one). */
const leftovers = () => leftoversOf(VM_PREFIX);
const purge = () => purgeVms(VM_PREFIX);

/** How long a change the daemon makes may take to show in libvirt (real guests, TCG, a loaded host). */
const SHOWS = { timeout: 30_000, interval: 100 };
/** How long a managed save or restore of the guest may take. */
const SAVES = { timeout: 60_000, interval: 100 };

const unavailable = await libvirtUnavailable();

describe.skipIf(unavailable !== undefined)(
  `the daemon on real libvirt${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let dir: string;
    let cvmweb: Cvmweb | undefined;
    let daemon: IdleDaemon | undefined;
    let server: FileServer;
    let release: () => Promise<void> = async () => undefined;

    beforeAll(async () => {
      // Waits while driver-kvm's kvm.restart.libvirt.test.ts restarts libvirtd (and keeps it from doing so).
      release = await lockLibvirt('shared');
      await purge();
      dir = await mkdtemp(join(tmpdir(), 'cvmweb-daemon-kvm-'));
      server = await new FileServer().start();
    }, 10 * 60_000);
    afterAll(async () => {
      await daemon?.stop().catch(() => undefined);
      for (const record of cvmweb?.sessions() ?? []) {
        const session = await cvmweb?.session(record.id).catch(() => undefined);
        await session?.close().catch(() => undefined);
      }
      await cvmweb?.dispose().catch(() => undefined);
      await purge();
      await server?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
      await release();
    }, 120_000);

    it('cap, pause/resume and hibernate/start happen on the domain as the original plugin’s table says', async () => {
      cvmweb = await createCvmweb({
        driver: kvm({ uri: TEST_URI, pool: TEST_POOL, poolPath: TEST_POOL_PATH, shutdownTimeoutMs: 8000 }),
        stateDir: join(dir, 'state'),
        secretCost: TEST_SCRYPT_COST,
        images: guestCache(
          join(dir, 'images'),
          guestEntries(server, inject('testGuest').files).filter((e) => e.version === 'test-kernel'),
        ),
        stopTimeoutMs: 8000,
      });
      const session: Session = await cvmweb.requestSession(SESSION, 'key');
      const domain = session.vmName;
      expect(domain.startsWith(VM_PREFIX)).toBe(true);
      await session.open({ ram: 128, disk: 0, version: 'test-kernel' });
      await session.start('');
      expect(await virsh(['domstate', domain])).toMatch(/running/);

      const source: FakeIdleSource = fakeIdleSource({ idleSeconds: 0 });
      daemon = new IdleDaemon({
        host: cvmweb,
        source,
        // An hour: the fake source stays active until told idle, however long a hibernation takes.
        idleTime: 3600,
        settleMs: 0,
        minActionIntervalMs: 0,
        idlePollMs: 100,
        maxPollMs: 200,
        refreshMs: 0,
        stateDir: join(dir, 'state'),
      });
      const warnings: string[] = [];
      daemon.on('warning', (message) => warnings.push(message));
      const idle = () => source.setIdleSeconds(7200);
      const active = () => source.input();
      const quota = async () =>
        /vcpu_quota\s*:\s*(-?\d+)/.exec(await virsh(['schedinfo', domain, '--live']))?.[1];
      const state = async () => (await virsh(['domstate', domain])).trim();

      // minCap > 0: cap = minCap while active, maxCap while idle (vcpu_quota = 100 000 µs × cap / 100).
      await session.setDaemonSettings({ controlled: true, minCap: 25, maxCap: 80 });
      active();
      await daemon.start();
      await expect.poll(quota, SHOWS).toBe('25000');
      await daemon.whenSettled();
      expect(session.executionCap).toBe(25);
      idle();
      await expect.poll(quota, SHOWS).toBe('80000');
      active();
      await expect.poll(quota, SHOWS).toBe('25000');
      expect(await state()).toBe('running');

      // minCap = 0: paused while active, running when idle.
      await session.setDaemonSettings({ minCap: 0, maxCap: 100 });
      await expect.poll(state, SHOWS).toBe('paused');
      await daemon.whenSettled();
      expect(session.state).toBe(SessionState.Paused);
      idle();
      await expect.poll(state, SHOWS).toBe('running');
      await expect.poll(() => session.state, SHOWS).toBe(SessionState.Started);
      active();
      await expect.poll(state, SHOWS).toBe('paused');
      idle();
      await expect.poll(state, SHOWS).toBe('running');

      // minCap = 0 with DF_SUSPEND: hibernated (managed save) while active, started (restored) when idle.
      await session.setDaemonSettings({ flags: DaemonFlags.DF_SUSPEND });
      active();
      await expect.poll(() => virsh(['domstate', domain, '--reason']), SAVES).toMatch(/shut off \(saved/);
      expect(await virsh(['dominfo', domain])).toMatch(/Managed save:\s*yes/);
      await expect.poll(() => session.hibernated, SHOWS).toBe(true);
      expect({ state: session.state, hibernated: session.hibernated }).toEqual({
        state: SessionState.Open,
        hibernated: true,
      });
      idle();
      await expect.poll(() => virsh(['domstate', domain, '--reason']), SAVES).toMatch(/running \(restored/);
      expect(await virsh(['dominfo', domain])).toMatch(/Managed save:\s*no/);
      await expect.poll(() => session.state, SHOWS).toBe(SessionState.Started);
      expect(session.stoppedByUser).toBe(false);

      await daemon.stop();
      const actions = daemon
        .timeline()
        .flatMap((e) =>
          e.kind === 'action' ? [`${e.action}${e.cap ? ` ${e.cap}` : ''}${e.ok ? '' : ' failed'}`] : [],
        );
      expect(actions).toEqual([
        'setExecutionCap 25',
        'setExecutionCap 80',
        'setExecutionCap 25',
        'pause',
        'resume',
        'pause',
        'resume',
        'hibernate',
        'start',
      ]);
      expect(warnings).toEqual([]);

      await session.close();
      expect(await leftovers()).toEqual([]);
    }, 150_000);
  },
);
