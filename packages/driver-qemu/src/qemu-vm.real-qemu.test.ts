// Real-QEMU tests of what is special about running QEMU directly: the boot forms, the daemonised
// QEMU outliving the service and re-attached after a restart, QMP events feeding watch(), and a
// failure injected at every step of open and start. Named `*.real-qemu.test.ts`, it runs in
// vitest's serial project of real-hypervisor tests (vitest.config.ts), after the unit tests.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cvmweb, createCvmweb, GUEST_REPORT_PATH, type Session, SessionState } from '@cvmweb/core';
import { createProcessRunner, type ProcessRunner } from '@cvmweb/core/node';
import { closeAndDispose, TEST_SCRYPT_COST, waitFor } from '@cvmweb/core/testing';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  filesLeft,
  qemuProcesses,
  qemuUnavailable,
  testGuest,
  testGuestImages,
} from '../test/testing-support.js';
import { qemu } from './qemu.js';
import type { QemuOptions } from './qemu-options.js';
import { QmpClient } from './qmp-client.js';
import { vmPaths } from './vm-directory.js';

const unavailable = qemuUnavailable();

describe.skipIf(unavailable !== undefined)(
  `qemu on real QEMU${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let dir: string;
    let root: string;
    const opened: Cvmweb[] = [];
    beforeAll(async () => {
      // The state dir, the image cache and the VM folders all hold spaces, quotes and commas.
      dir = await mkdtemp(join(tmpdir(), `cvmweb qemu 'real' "x", `));
      root = join(dir, `vm's "folder", with commas`);
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });
    afterEach(async () => {
      for (const cvmweb of opened.splice(0)) await closeAndDispose(cvmweb);
    }, 120_000);

    const connect = async (options: QemuOptions = {}, stateDir?: string) => {
      const cvmweb = await createCvmweb({
        driver: qemu({ directory: root, shutdownTimeoutMs: 8000, ...options }),
        stateDir: stateDir ?? (await mkdtemp(join(dir, `state "it's" `))),
        secretCost: TEST_SCRYPT_COST,
        images: testGuestImages(join(dir, `images, 'cached'`)),
        stopTimeoutMs: 8000,
      });
      opened.push(cvmweb);
      return cvmweb;
    };
    const report = async (session: Session) => {
      const [, url] = await waitFor(session, 'apiAvailable', 90_000);
      const response = await fetch(new URL(GUEST_REPORT_PATH, url));
      return (await response.json()) as { bootId: string; userData: string };
    };
    const tricky = `users=a:b:c\n'single' "double" <tag> & $(touch /tmp/pwned) \`id\`; rm -rf / | ,, \u00e9`;

    it('boots the ISO as a CD-ROM and the qcow2 disk as an overlay of the shared base, in folders with spaces, quotes and commas', async () => {
      const cvmweb = await connect();
      const iso = await cvmweb.requestSession('iso', 'key');
      await iso.open({ ram: 128, disk: 16, version: testGuest().versions.iso });
      const isoReport = report(iso);
      await iso.start(tricky);
      expect((await isoReport).userData).toBe(tricky);
      await iso.close();
      expect(await filesLeft(root, iso.vmName)).toEqual([]);
      expect(await qemuProcesses(iso.vmName)).toEqual([]);

      const disk = await cvmweb.requestSession('disk', 'key');
      await disk.open({ ram: 128, disk: 0, version: testGuest().versions.disk });
      const overlay = join(root, disk.vmName, 'disk.qcow2');
      const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', overlay])).stdout) as {
        'backing-filename': string;
      };
      const base = info['backing-filename'];
      expect(base.startsWith(join(dir, `images, 'cached'`))).toBe(true);
      const sha = async () =>
        createHash('sha256')
          .update(await readFile(base))
          .digest('hex');
      const before = await sha();
      const diskReport = report(disk);
      await disk.start('from the disk');
      expect((await diskReport).userData).toBe('from the disk');
      await disk.close();
      expect(await sha()).toBe(before); // the shared base is never written, nor removed
      expect(await filesLeft(root, disk.vmName)).toEqual([]);
    }, 300_000);

    it('QEMU outlives the service; a new one re-attaches it, follows its events, and sees a kill from outside as a failure', async () => {
      const stateDir = await mkdtemp(join(dir, `restart "state" `));
      const first = await connect({}, stateDir);
      const session = await first.requestSession('restart', 'key');
      await session.open({ ram: 128, disk: 0, version: testGuest().versions.kernel });
      const booted = report(session);
      await session.start('');
      const { bootId } = await booted;
      const id = session.id;
      const vmName = session.vmName;
      await first.dispose(); // the service ends; its VM does not
      opened.splice(opened.indexOf(first), 1);
      expect(await qemuProcesses(vmName)).toHaveLength(1);

      const second = await connect({}, stateDir);
      const again = await second.session(id);
      expect(again?.state).toBe(SessionState.Started);
      expect((await report(again!)).bootId).toBe(bootId);
      const errors: number[] = [];
      again!.on('error', (_message, code) => errors.push(code));
      // Paused and resumed by someone else's QMP client (which gives the monitor back, as QEMU
      // serves one client at a time): the STOP and RESUME events reach the session.
      const outside = async (command: string) => {
        const other = await QmpClient.connect(vmPaths(root, vmName).qmp); // a long path: in the temp dir
        await other.execute(command);
        other.close();
      };
      await outside('stop');
      await expect.poll(() => again!.state, { timeout: 20_000 }).toBe(SessionState.Paused);
      await outside('cont');
      await expect.poll(() => again!.state, { timeout: 20_000 }).toBe(SessionState.Started);
      const pid = Number((await readFile(join(root, vmName, 'qemu.pid'), 'utf8')).trim());
      process.kill(pid, 'SIGKILL');
      await expect.poll(() => again!.state, { timeout: 30_000 }).toBe(SessionState.Open);
      await expect.poll(() => errors.length, { timeout: 10_000 }).toBeGreaterThan(0);
      await again!.close();
      expect(await filesLeft(root, vmName)).toEqual([]);
      expect(await qemuProcesses(vmName)).toEqual([]);
    }, 300_000);

    it('a failure after any command of open() or start() leaves no process, socket or file', async () => {
      // A leftover of a createVm() killed before its folder was marked, from a process that is gone.
      await mkdir(join(root, '.creating-999999999-leftover'), { recursive: true });
      const real = createProcessRunner({ timeoutMs: 60_000 });
      let count = 0;
      let failAt = 0;
      const runner: ProcessRunner = {
        ...real,
        async run(file, args, options) {
          const result = await real.run(file, args, options);
          count++;
          if (count === failAt) throw new Error(`injected failure after ${file} ${args[0] ?? ''}`);
          return result;
        },
      };
      const cvmweb = await connect({ runner });
      const steps = async (name: string) => {
        const session = await cvmweb.requestSession(name, 'key');
        try {
          await session.open({ ram: 128, disk: 16, version: testGuest().versions.kernel });
          await session.start('');
        } finally {
          await session.close();
        }
        return session.vmName;
      };
      count = 0;
      failAt = 0;
      await steps('count');
      const total = count;
      expect(total).toBeGreaterThanOrEqual(2); // qemu-img create, then QEMU itself
      for (let step = 1; step <= total; step++) {
        count = 0;
        failAt = step;
        const name = `fail-${step}`;
        const session = await cvmweb.requestSession(name, 'key');
        await expect(
          (async () => {
            await session.open({ ram: 128, disk: 16, version: testGuest().versions.kernel });
            await session.start('');
          })(),
        ).rejects.toThrow();
        if (session.state !== SessionState.Closed) await session.close();
        expect(await qemuProcesses(session.vmName), `step ${step}`).toEqual([]);
        expect(await filesLeft(root, session.vmName), `step ${step}`).toEqual([]);
      }
    }, 300_000);

    it('an abort at every step of open() and start() (each command, QMP command and folder step) leaves no process, socket or file', async () => {
      const cvmweb = await connect();
      let vmName = '';
      const run = async (name: string, abortAt: number) => {
        const session = await cvmweb.requestSession(name, 'key');
        vmName = session.vmName;
        const controller = new AbortController();
        let lines = 0;
        session.on('debug', () => {
          if (++lines === abortAt) controller.abort(new Error(`aborted at debug line ${abortAt}`));
        });
        const { signal } = controller;
        try {
          await session.open({ ram: 128, disk: 16, version: testGuest().versions.kernel }, { signal });
          await session.start('', { signal });
        } finally {
          if (session.state !== SessionState.Closed) await session.close();
        }
        return lines;
      };
      const total = await run('abort-count', 0);
      expect(total).toBeGreaterThanOrEqual(4); // made, marked, qemu-img create, QEMU, QMP …
      for (let step = 1; step <= total; step++) {
        await expect(run(`abort-${step}`, step), `step ${step}`).rejects.toMatchObject({ aborted: true });
        expect(await qemuProcesses(vmName), `step ${step}`).toEqual([]);
        expect(await filesLeft(root, vmName), `step ${step}`).toEqual([]);
      }
    }, 300_000);

    it('caps a running QEMU through cgroup v2 cpu.max (a temp dir stands in for /sys/fs/cgroup): its pid moves into the VM cgroup', async () => {
      // The service's own cgroup is read from /proc/self/cgroup: a fake tree for each line there.
      const self = (await readFile('/proc/self/cgroup', 'utf8')).match(/^0::(\/.*)$/m)?.[1] ?? '/';
      const cgroupRoot = await mkdtemp(join(dir, 'cgroup2 '));
      const own = join(cgroupRoot, self);
      await mkdir(own, { recursive: true });
      await writeFile(join(cgroupRoot, 'cgroup.controllers'), 'cpu io memory pids\n');
      for (const [file, text] of [
        ['cgroup.controllers', 'cpu io memory pids\n'],
        ['cgroup.subtree_control', ''],
        ['cgroup.procs', ''],
      ] as const)
        await writeFile(join(own, file), text);
      const cvmweb = await connect({ cgroupRoot });
      expect(cvmweb.hypervisor.capabilities.executionCap).toBe(true);
      const session = await cvmweb.requestSession('capped', 'key');
      await session.open({ ram: 128, disk: 0, cpus: 1, version: testGuest().versions.kernel });
      await session.start('');
      await session.setExecutionCap(20);
      const vmCgroup = join(own, `cvmweb-${session.vmName}`);
      const pid = (await readFile(join(root, session.vmName, 'qemu.pid'), 'utf8')).trim();
      expect(await readFile(join(vmCgroup, 'cpu.max'), 'utf8')).toBe('20000 100000\n');
      expect((await readFile(join(vmCgroup, 'cgroup.procs'), 'utf8')).split('\n')).toContain(pid);
      await session.close();
    }, 300_000);

    it('answers NOT_SUPPORTED for the execution cap with the reason, where the cgroups cannot cap', async () => {
      const cvmweb = await connect({ cgroupRoot: await mkdtemp(join(dir, 'no cgroup2 ')) });
      expect(cvmweb.hypervisor.capabilities.executionCap).toBe(false);
      const session = await cvmweb.requestSession('uncapped', 'key');
      await expect(session.setExecutionCap(50)).rejects.toMatchObject({
        code: -11,
        details: { reason: expect.stringMatching(/is cgroup v1.*cpu\.max/) },
      });
    }, 60_000);

    it('gives the guest its properties through fw_cfg opt/cvmweb/properties, read from its sysfs; a change reaches it at the next launch', async () => {
      const cvmweb = await connect();
      const session = await cvmweb.requestSession('properties', 'key');
      await session.open({ ram: 128, disk: 0, version: testGuest().versions.kernel });
      const value = `a "quoted", 'odd' value\nwith a line`;
      await session.setProperty('greeting', value); // the VM exists, powered off
      // Asked once the guest's API answered (report() waits for it).
      const guestProperties = async () => {
        const response = await fetch(new URL('/cgi-bin/cvmweb-properties', session.apiURL));
        return (await response.json()) as Record<string, string> | null;
      };
      const booted = report(session);
      await session.start('');
      await booted;
      expect(await guestProperties()).toEqual({ greeting: value });
      expect(await session.getProperty('greeting')).toBe(value);
      await session.setProperty('later', 'set while running');
      expect(await guestProperties()).toEqual({ greeting: value }); // fw_cfg is fixed at launch
      await session.stop();
      const again = report(session);
      await session.start('');
      await again;
      expect(await guestProperties()).toEqual({ greeting: value, later: 'set while running' });
      await session.close();
    }, 300_000);
  },
);
