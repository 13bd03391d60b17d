import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cvmweb, createCvmweb, isHypervisorError, type Session, SessionState } from '@cvmweb/core';
import { closeAndDispose, TEST_SCRYPT_COST, waitFor } from '@cvmweb/core/testing';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DomainEvent } from './domain-events.js';
import { kvm } from './kvm.js';
import type { KvmHypervisor } from './kvm-hypervisor.js';
import type { KvmOptions } from './kvm-options.js';
import {
  FileServer,
  guestCache,
  guestEntries,
  leftovers,
  libvirtUnavailable,
  lockLibvirt,
  purgeLeftovers,
  TEST_POOL,
  TEST_POOL_PATH,
  TEST_URI,
  vcpuTimeMs,
  virshOut,
  waitForGuest,
} from './testing/index.js';
import { childElements, descendantElements, parseXml } from './xml.js';

// Driver-specific tests on the real libvirt daemon.
const unavailable = await libvirtUnavailable();

describe.skipIf(unavailable !== undefined)(
  `kvm on real libvirt${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let server: FileServer;
    let dir: string;
    const opened: Cvmweb[] = [];

    let release: () => Promise<void> = async () => undefined;

    beforeAll(async () => {
      // Waits while kvm.restart.libvirt.test.ts restarts libvirtd.
      release = await lockLibvirt('shared');
      await purgeLeftovers(['iso-path', 'cap', 'hibernate', 'fail', 'channel', 'self-off']);
      server = await new FileServer().start();
      dir = await mkdtemp(join(tmpdir(), 'cvmweb-kvm-real-'));
    }, 10 * 60_000);
    afterAll(async () => {
      await server?.stop();
      await rm(dir, { recursive: true, force: true });
      await release();
    });
    afterEach(async () => {
      for (const cvmweb of opened.splice(0)) await closeAndDispose(cvmweb);
    }, 120_000);

    const connect = async (options: KvmOptions = {}, name = 'real') => {
      const entries = guestEntries(server, inject('testGuest').files);
      const cvmweb = await createCvmweb({
        driver: kvm({
          uri: TEST_URI,
          pool: TEST_POOL,
          poolPath: TEST_POOL_PATH,
          shutdownTimeoutMs: 8000,
          ...options,
        }),
        stateDir: await mkdtemp(join(dir, `${name}-`)),
        secretCost: TEST_SCRYPT_COST,
        images: guestCache(join(dir, 'images'), entries),
        stopTimeoutMs: 8000,
      });
      opened.push(cvmweb);
      return cvmweb;
    };
    const apiPort = async (session: Session) => {
      const [, url] = await waitFor(session, 'apiAvailable', 90_000);
      return Number(new URL(url).port);
    };

    const tricky = `users=a:b:c\n'single' "double" <tag> & $(touch /tmp/pwned) \`id\`; rm -rf / | \\n\r\n\u00e9\u4e2d`;

    it('boots the CernVM path (ISO as CD-ROM, scratch disk, context ISO) and serves the user data back', async () => {
      const cvmweb = await connect();
      const session = await cvmweb.requestSession('iso path; <&> "quoted"', 'key');
      await session.open({ ram: 128, disk: 64, version: 'test-iso' });
      const port = apiPort(session);
      await session.start(tricky);
      const p = await port;
      expect(await waitForGuest(p, '/user-data')).toBe(tricky);
      const disks = descendantElements(
        parseXml(await virshOut(['dumpxml', session.vmName]), 'dumpxml'),
        'disk',
      );
      expect(disks.map((disk) => disk.getAttribute('device'))).toContain('cdrom');
      // The scratch volume's name carries the installation's marker (recovered without its domain).
      expect(
        disks.flatMap((disk) => childElements(disk, 'source')).map((s) => s.getAttribute('volume')),
      ).toContainEqual(
        expect.stringMatching(new RegExp(`^${session.vmName}\\.[0-9a-f]{12}\\.scratch\\.qcow2$`)),
      );
      await session.close();
      expect(await leftovers(session.vmName)).toEqual([]);
    }, 180_000);

    it('applies the execution cap through schedinfo, live and in the config', async () => {
      const cvmweb = await connect();
      const session = await cvmweb.requestSession('cap', 'key');
      await session.open({ ram: 128, disk: 0, version: 'test-kernel' });
      await session.setExecutionCap(30);
      expect(await virshOut(['schedinfo', session.vmName, '--config'])).toMatch(/vcpu_quota\s*:\s*30000/);
      await session.setExecutionCap(100);
      const port = apiPort(session);
      await session.start('');
      const p = await port;
      await session.setExecutionCap(20);
      const live = await virshOut(['schedinfo', session.vmName, '--live']);
      expect(live).toMatch(/vcpu_period\s*:\s*100000/);
      expect(live).toMatch(/vcpu_quota\s*:\s*20000/);
      // A spinning guest gets at most about 20 % of a core: its vCPU takes at least 600 / 0.35 ms
      // of wall time to be given 600 ms of CPU (uncapped, about 600 ms). Waits for the CPU time,
      // not for a fixed time: a loaded host only makes the wall time longer.
      await waitForGuest(p, '/cgi-bin/spin');
      const t0 = await vcpuTimeMs(session.vmName);
      const used = async () => (await vcpuTimeMs(session.vmName)) - t0;
      const from = performance.now();
      await expect.poll(used, { timeout: 120_000, interval: 100 }).toBeGreaterThanOrEqual(600);
      const share = (await used()) / (performance.now() - from);
      expect(share, "the capped vCPU's share of a core").toBeLessThan(0.35);
    }, 180_000);

    it('hibernate → start resumes the same boot; killed from outside then, the session fires error', async () => {
      const cvmweb = await connect();
      const session = await cvmweb.requestSession('hibernate', 'key');
      const errors: [string, number, string][] = [];
      session.on('error', (message, code, category) => errors.push([message, code, category]));
      await session.open({ ram: 128, disk: 0, version: 'test-kernel' });
      await session.start('');
      const p = await apiPort(session);
      const bootId = (await waitForGuest(p, '/cgi-bin/boot-id')).trim();
      const uptime = Number.parseFloat(await waitForGuest(p, '/cgi-bin/uptime'));
      await session.hibernate();
      expect(await virshOut(['dominfo', session.vmName])).toMatch(/Managed save:\s*yes/);
      await session.start('');
      const after = Number.parseFloat(await waitForGuest(p, '/cgi-bin/uptime', 60_000));
      expect((await waitForGuest(p, '/cgi-bin/boot-id')).trim()).toBe(bootId);
      expect(after).toBeGreaterThanOrEqual(uptime);
      expect(errors).toEqual([]);
      // The same running guest, killed with the hypervisor's own tool: a failure nobody asked for.
      await execa('virsh', ['-c', TEST_URI, 'destroy', session.vmName]);
      await expect.poll(() => errors, { timeout: 30_000 }).toEqual([[expect.any(String), -3, 'session']]);
      expect(session.state).toBe(SessionState.Open);
    }, 180_000);

    it('a failure at every virsh call of open, start and close leaves no domain or volume behind', async () => {
      const wrapperDir = await mkdtemp(join(dir, 'wrapper-'));
      const counter = join(wrapperDir, 'count');
      const real = (await execa('sh', ['-c', 'command -v virsh'])).stdout.trim();
      const wrapper = join(wrapperDir, 'virsh');
      await writeFile(
        wrapper,
        `#!/bin/sh\nn=$(($(cat "${counter}" 2>/dev/null || echo 0) + 1))\necho "$n" >"${counter}"\nif [ "$n" = "$FAIL_AT" ]; then echo "error: injected failure at call $n" >&2; exit 1; fi\nexec "${real}" "$@"\n`,
      );
      await chmod(wrapper, 0o755);
      const run = async (failAt: number) => {
        await writeFile(counter, '-1000');
        const cvmweb = await connect(
          { virsh: wrapper, persistentChannel: false, eventStream: false, env: { FAIL_AT: String(failAt) } },
          `fail${failAt}`,
        );
        await cvmweb.hypervisor.listVms();
        await writeFile(counter, '0');
        const session = await cvmweb.requestSession(`fail-${failAt}`, 'key');
        const errors: unknown[] = [];
        await session
          .open({ ram: 128, disk: 16, version: 'test-kernel' })
          .catch((e: unknown) => errors.push(e));
        if (errors.length === 0) await session.start('x').catch((e: unknown) => errors.push(e));
        await session.close().catch((e: unknown) => errors.push(e));
        // Whatever failed, closing again (as a user or reconcile would) must clean up completely.
        if (session.state !== SessionState.Closed) await session.close().catch(() => undefined);
        const calls = Number(await readFile(counter, 'utf8'));
        expect(session.state, `failure at call ${failAt}`).toBe(SessionState.Closed);
        expect(await leftovers(session.vmName), `failure at call ${failAt}`).toEqual([]);
        await cvmweb.dispose();
        opened.splice(opened.indexOf(cvmweb), 1);
        return { calls, errors };
      };
      const clean = await run(0);
      expect(clean.errors).toEqual([]);
      let surfaced = 0;
      for (let n = 1; n <= clean.calls; n++) {
        const { errors } = await run(n);
        // A failure either surfaces as the injected one (a HypervisorError with a code, never
        // another, unrelated error), or the driver recovered from it (a retried removal, a
        // graceful stop that fell back to a hard one): the checks above hold either way.
        for (const [index, error] of errors.entries()) {
          expect(isHypervisorError(error), `call ${n}: ${String(error)}`).toBe(true);
          if (!isHypervisorError(error)) continue;
          expect(error.code, `call ${n}`).toBeLessThan(0);
          expect(['UNKNOWN', 'INVALID_USAGE'], `call ${n}`).not.toContain(error.codeName);
          // The first failure is the injected one (a later one may be close refusing a state).
          if (index === 0) expect(error.message, `call ${n}`).toContain(`injected failure at call ${n}`);
        }
        if (errors.length > 0) surfaced++;
      }
      // Most injected failures reach the caller (open and start have no retries).
      expect(surfaced).toBeGreaterThan(clean.calls / 2);
    }, 600_000);

    it('notices a guest that powers itself off, from the event stream, and fires no error', async () => {
      const cvmweb = await connect();
      const session = await cvmweb.requestSession('self-off', 'key');
      const errors: unknown[] = [];
      session.on('error', (...args) => errors.push(args));
      await session.open({ ram: 128, disk: 0, version: 'test-kernel' });
      const hypervisor = cvmweb.hypervisor.inner as KvmHypervisor;
      const events: DomainEvent[] = [];
      const unsubscribe = hypervisor.watchDomains((event) => {
        if (event.domain === session.vmName) events.push(event);
      });
      await session.start('');
      await apiPort(session);
      expect(events.map((e) => e.state)).toContain('running');
      // The ACPI button pressed outside cvmweb: the guest's own init powers it off.
      await execa('virsh', ['-c', TEST_URI, 'shutdown', session.vmName, '--mode', 'acpi']);
      await expect
        .poll(() => events.map((e) => e.state), { timeout: 30_000, interval: 50 })
        .toContain('poweroff');
      unsubscribe();
      expect(events.at(-1)).toMatchObject({ event: 'Stopped', state: 'poweroff' });
      expect(await session.refresh()).toBe(SessionState.Open);
      expect(errors).toEqual([]);
      await session.close();
      expect(await leftovers(session.vmName)).toEqual([]);
    }, 120_000);

    it('answers over the persistent channel much faster than one process per call', async () => {
      const cvmweb = await connect();
      const session = await cvmweb.requestSession('channel', 'key');
      await session.open({ ram: 128, disk: 0, version: 'test-kernel' });
      const vm = (await cvmweb.hypervisor.listVms()).find((v) => v.sessionId === session.id);
      expect(vm?.state).toBe('poweroff');
      const found = await cvmweb.hypervisor.findVm(vm?.id ?? '');
      // Against the same queries spawning one virsh each, in the same run (no wall-clock
      // threshold: a loaded machine slows both; the absolute timings are bench:kvm's).
      const timed = async (query: () => Promise<unknown>) => {
        const t0 = performance.now();
        for (let i = 0; i < 20; i++) await query();
        return performance.now() - t0;
      };
      await found?.state();
      const channel = await timed(async () => expect(await found?.state()).toBe('poweroff'));
      const spawned = await timed(() => virshOut(['domstate', session.vmName, '--reason']));
      expect(channel).toBeLessThan(spawned / 2);
    }, 120_000);
  },
);
