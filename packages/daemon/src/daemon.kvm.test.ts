// The seed's table on a real libvirt VM: the KVM driver, the driver's test guest, a fake idle
// source on the real clock and short daemon timings. Skipped when libvirt does not answer.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type Cvmweb,
  createCvmweb,
  DaemonFlags,
  ImageCache,
  ImageCatalog,
  type Session,
  SessionState,
  TEST_SCRYPT_COST,
} from '@cvmweb/core';
import { kvm } from '@cvmweb/driver-kvm';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdleDaemon } from './daemon/idle-daemon.js';
import { type FakeIdleSource, fakeIdleSource } from './idle/fake-idle-source.js';

// The same settings and detection as driver-kvm's real-libvirt tests (its test support is not exported).
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const TEST_URI = process.env['CVMWEB_KVM_TEST_URI'] ?? 'qemu:///system';
const TEST_POOL = 'cvmweb-test';
const TEST_POOL_PATH = '/var/lib/libvirt/images/cvmweb-test';
const SESSION = 'daemon-kvm';
const VM_PREFIX = `cvmweb-${SESSION}-`;

async function virsh(args: string[]): Promise<string> {
  const result = await execa('virsh', ['-c', TEST_URI, ...args], {
    reject: false,
    env: { LC_ALL: 'C' },
    timeout: 60_000,
  });
  return result.exitCode === 0 ? String(result.stdout) : '';
}

async function libvirtUnavailable(): Promise<string | undefined> {
  if (process.env['CVMWEB_KVM_TESTS'] === '0') return 'CVMWEB_KVM_TESTS=0';
  const version = await execa('virsh', ['-c', TEST_URI, 'version'], {
    reject: false,
    timeout: 10_000,
    env: { LC_ALL: 'C' },
  }).catch((error: unknown) => ({ exitCode: 1, stderr: String(error) }));
  return version.exitCode === 0
    ? undefined
    : `libvirt does not answer at ${TEST_URI} (run: npm run setup:libvirt): ${String(version.stderr).trim()}`;
}

/** The driver's test guest (built once by scripts/build-test-guest.sh and cached), as file: URLs with their sha256. */
async function guestCache(directory: string): Promise<ImageCache> {
  const { stdout } = await execa('bash', [join(REPO, 'scripts/build-test-guest.sh')], {
    timeout: 10 * 60_000,
  });
  const guest = stdout.trim().split('\n').at(-1) ?? '';
  const sums: Record<string, string> = {};
  for (const line of (await readFile(join(guest, 'SHA256SUMS'), 'utf8')).split('\n')) {
    const [sum, name] = line.trim().split(/\s+/);
    if (sum && name) sums[name] = sum;
  }
  const url = (name: string) => pathToFileURL(join(guest, name)).href;
  const catalog = new ImageCatalog(
    [
      {
        version: 'test-kernel',
        kind: 'kernel',
        context: 'cernvm',
        url: url('vmlinux'),
        sha256: sums['vmlinux'] ?? '',
        initrdUrl: url('initrd.gz'),
        initrdSha256: sums['initrd.gz'] ?? '',
        cmdline: (await readFile(join(guest, 'cmdline'), 'utf8')).trim(),
      },
    ],
    { defaults: [] },
  );
  return new ImageCache({ directory, catalog });
}

/** Our domains and volumes (left by an interrupted run, or by this one). */
async function leftovers(): Promise<string[]> {
  const domains = (await virsh(['list', '--all', '--name'])).split('\n').map((l) => l.trim());
  const volumes = (await virsh(['vol-list', TEST_POOL]))
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '');
  return [...domains, ...volumes].filter((name) => name.startsWith(VM_PREFIX));
}

async function purge(): Promise<void> {
  for (const name of await leftovers()) {
    if ((await virsh(['dominfo', name])) !== '') {
      await virsh(['destroy', name]);
      await virsh(['undefine', name, '--managed-save']);
    } else {
      await virsh(['vol-delete', '--pool', TEST_POOL, name]);
    }
  }
}

/** Polls `check` until it holds or `timeoutMs` passes; returns the last value. */
async function until<T>(
  read: () => Promise<T>,
  check: (value: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value) || Date.now() > deadline) return value;
    await new Promise((done) => setTimeout(done, 100));
  }
}

const unavailable = await libvirtUnavailable();

describe.skipIf(unavailable !== undefined)(
  `the daemon on real libvirt${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let dir: string;
    let cvmweb: Cvmweb | undefined;
    let daemon: IdleDaemon | undefined;

    beforeAll(async () => {
      await purge();
      dir = await mkdtemp(join(tmpdir(), 'cvmweb-daemon-kvm-'));
    });
    afterAll(async () => {
      await daemon?.stop().catch(() => undefined);
      for (const record of cvmweb?.sessions() ?? []) {
        const session = await cvmweb?.session(record.id).catch(() => undefined);
        await session?.close().catch(() => undefined);
      }
      await cvmweb?.dispose().catch(() => undefined);
      await purge();
      if (dir) await rm(dir, { recursive: true, force: true });
    }, 120_000);

    it('cap, pause/resume and hibernate/start happen on the domain as the seed’s table says', async () => {
      cvmweb = await createCvmweb({
        driver: kvm({ uri: TEST_URI, pool: TEST_POOL, poolPath: TEST_POOL_PATH, shutdownTimeoutMs: 8000 }),
        stateDir: join(dir, 'state'),
        secretCost: TEST_SCRYPT_COST,
        images: await guestCache(join(dir, 'images')),
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
      expect(await until(quota, (q) => q === '25000')).toBe('25000');
      await daemon.whenSettled();
      expect(session.executionCap).toBe(25);
      idle();
      expect(await until(quota, (q) => q === '80000')).toBe('80000');
      active();
      expect(await until(quota, (q) => q === '25000')).toBe('25000');
      expect(await state()).toBe('running');

      // minCap = 0: paused while active, running when idle.
      await session.setDaemonSettings({ minCap: 0, maxCap: 100 });
      expect(await until(state, (s) => s === 'paused')).toBe('paused');
      await daemon.whenSettled();
      expect(session.state).toBe(SessionState.Paused);
      idle();
      expect(await until(state, (s) => s === 'running')).toBe('running');
      await until(
        async () => session.state,
        (s) => s === SessionState.Started,
      );
      active();
      expect(await until(state, (s) => s === 'paused')).toBe('paused');
      idle();
      expect(await until(state, (s) => s === 'running')).toBe('running');

      // minCap = 0 with DF_SUSPEND: hibernated (managed save) while active, started (restored) when idle.
      await session.setDaemonSettings({ flags: DaemonFlags.DF_SUSPEND });
      active();
      const saved = await until(
        () => virsh(['domstate', domain, '--reason']),
        (s) => /shut off \(saved/.test(s),
        60_000,
      );
      expect(saved).toMatch(/shut off \(saved/);
      expect(await virsh(['dominfo', domain])).toMatch(/Managed save:\s*yes/);
      await until(
        async () => session.hibernated,
        (h) => h,
      );
      expect({ state: session.state, hibernated: session.hibernated }).toEqual({
        state: SessionState.Open,
        hibernated: true,
      });
      idle();
      const restored = await until(
        () => virsh(['domstate', domain, '--reason']),
        (s) => /running \(restored/.test(s),
        60_000,
      );
      expect(restored).toMatch(/running \(restored/);
      expect(await virsh(['dominfo', domain])).toMatch(/Managed save:\s*no/);
      await until(
        async () => session.state,
        (s) => s === SessionState.Started,
      );
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
