import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cvmweb, createCvmweb, type Session } from '@cvmweb/core';
import { releaseLoopbackPort, reservedLoopbackPorts } from '@cvmweb/core/node';
import { closeAndDispose, TEST_SCRYPT_COST, waitFor } from '@cvmweb/core/testing';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { moveApiForward, readApiForward } from './domain-definition.js';
import { kvm } from './kvm.js';
import { defaultInstallationId, type KvmOptions } from './kvm-options.js';
import { installationTag, ownVolumeName } from './own-volume-name.js';
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
  virshOut,
  waitForGuest,
} from './testing/index.js';

// Which domains the driver calls its own, and the ports they forward, on the real libvirt daemon.
const unavailable = await libvirtUnavailable();

const PREFIXES = ['own-debug', 'own-port-a', 'own-port-b', 'own-other'];

describe.skipIf(unavailable !== undefined)(
  `kvm ownership on real libvirt${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let server: FileServer;
    let dir: string;
    const opened: Cvmweb[] = [];
    const transient: string[] = [];
    let release: () => Promise<void> = async () => undefined;

    beforeAll(async () => {
      release = await lockLibvirt('shared');
      await purgeLeftovers(PREFIXES);
      server = await new FileServer().start();
      dir = await mkdtemp(join(tmpdir(), 'cvmweb-kvm-own-'));
    }, 10 * 60_000);
    afterAll(async () => {
      await server?.stop();
      await rm(dir, { recursive: true, force: true });
      await release();
    });
    afterEach(async () => {
      for (const name of transient.splice(0)) await virshOut(['destroy', name]);
      for (const cvmweb of opened.splice(0)) await closeAndDispose(cvmweb);
    }, 120_000);

    const connect = async (options: KvmOptions = {}, stateDir?: string) => {
      const entries = guestEntries(server, inject('testGuest').files);
      const cvmweb = await createCvmweb({
        driver: kvm({
          uri: TEST_URI,
          pool: TEST_POOL,
          poolPath: TEST_POOL_PATH,
          shutdownTimeoutMs: 8000,
          ...options,
        }),
        stateDir: stateDir ?? (await mkdtemp(join(dir, 'state-'))),
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
    const forwardedPort = async (domain: string) =>
      readApiForward(await virshOut(['dumpxml', domain, '--inactive']))?.hostPort ?? 0;

    it('lists the VMs while a foreign transient domain exists, without it', async () => {
      const name = `cvmweb-test-transient-${randomUUID().slice(0, 8)}`;
      const xml = join(dir, `${name}.xml`);
      // A domain with no disk: QEMU starts and stays in the firmware, which is all this needs.
      await writeFile(
        xml,
        `<domain type="qemu"><name>${name}</name><memory unit="MiB">32</memory><vcpu>1</vcpu>` +
          `<os><type arch="x86_64" machine="pc">hvm</type></os><devices><memballoon model="none"/></devices></domain>`,
      );
      await execa('virsh', ['-c', TEST_URI, 'create', xml], { env: { LC_ALL: 'C' }, timeout: 60_000 });
      transient.push(name);
      expect(await virshOut(['dominfo', name])).toMatch(/Persistent:\s*no/);
      const cvmweb = await connect();
      const vms = await cvmweb.hypervisor.listVms();
      expect(vms.map((vm) => vm.name)).not.toContain(name);
      const uuid = (await virshOut(['domuuid', name])).trim();
      expect(await cvmweb.hypervisor.findVm(uuid)).toBeUndefined();
      // reconcile (as `cvmweb serve` runs it) survives it too, and leaves it alone.
      await cvmweb.reconcile({ removeOrphans: true });
      expect(await virshOut(['domstate', name])).toMatch(/running/);
    }, 120_000);

    it("fires a session's debug event with the virsh commands of a KVM action; properties stay in core", async () => {
      const cvmweb = await connect();
      expect(cvmweb.hypervisor.capabilities.guestProperties).toBe(false);
      const session = await cvmweb.requestSession('own-debug', 'key');
      const lines: string[] = [];
      session.on('debug', (line) => lines.push(line));
      await session.open({ ram: 128, disk: 0, version: 'test-kernel' });
      expect(lines.some((line) => /^virsh .*\bdefine\b/.test(line))).toBe(true);
      lines.length = 0;
      await session.start('');
      expect(lines.some((line) => /\bstart\b/.test(line) && line.includes(session.vmName))).toBe(true);
      await session.setProperty('greeting', 'hello <&>');
      expect(await session.getProperty('greeting')).toBe('hello <&>');
      await session.close();
      expect(await leftovers(session.vmName)).toEqual([]);
    }, 180_000);

    it('two VMs defined with the same API port both start, on distinct ports', async () => {
      const stateDir = await mkdtemp(join(dir, 'state-'));
      const first = await connect({}, stateDir);
      const a = await first.requestSession('own-port-a', 'key');
      const b = await first.requestSession('own-port-b', 'key');
      await a.open({ ram: 128, disk: 0, version: 'test-kernel' });
      await b.open({ ram: 128, disk: 0, version: 'test-kernel' });
      const shared = await forwardedPort(a.vmName);
      const own = await forwardedPort(b.vmName);
      expect(own).not.toBe(shared);
      await first.dispose();
      opened.splice(opened.indexOf(first), 1);
      // Another process (or a restart) defined B with A's port.
      const xml = moveApiForward(await virshOut(['dumpxml', b.vmName, '--inactive']), own, shared);
      const file = join(dir, 'forced.xml');
      await writeFile(file, xml);
      await execa('virsh', ['-c', TEST_URI, 'define', file], { env: { LC_ALL: 'C' } });
      expect(await forwardedPort(b.vmName)).toBe(shared);
      // A fresh process knows nothing of the ports handed out before.
      releaseLoopbackPort(shared);
      releaseLoopbackPort(own);
      const second = await connect({}, stateDir);
      await second.reconcile();
      expect(reservedLoopbackPorts()).toContain(shared);
      const a2 = await second.session(a.id);
      const b2 = await second.session(b.id);
      if (!a2 || !b2) throw new Error('the sessions were not found again');
      await a2.start('');
      const portA = await apiPort(a2);
      await b2.start('');
      const portB = await apiPort(b2);
      expect(portA).toBe(shared);
      expect(portB).not.toBe(shared);
      expect(await forwardedPort(b2.vmName)).toBe(portB);
      expect(await virshOut(['domstate', a2.vmName])).toMatch(/running/);
      expect(await virshOut(['domstate', b2.vmName])).toMatch(/running/);
      expect(await waitForGuest(portA, '/')).toBeDefined();
      expect(await waitForGuest(portB, '/')).toBeDefined();
      await a2.close();
      await b2.close();
      expect(await leftovers(a.vmName)).toEqual([]);
      expect(await leftovers(b.vmName)).toEqual([]);
    }, 240_000);

    it("never lists, finds or removes another installation's VM or volumes", async () => {
      const otherId = `other-${randomUUID()}`;
      const other = await connect({ installationId: otherId });
      const session = await other.requestSession('own-other', 'key');
      await session.open({ ram: 128, disk: 0, version: 'test-kernel' });
      const vmId = session.record.vmId ?? '';
      expect((await other.hypervisor.listVms()).map((vm) => vm.id)).toContain(vmId);
      // Volumes left without their domain (a killed close): this installation's and the other's.
      const gone = 'cvmweb-own-gone-000000000000';
      const theirs = ownVolumeName(gone, installationTag(otherId), 'scratch');
      const ours = ownVolumeName(gone, installationTag(defaultInstallationId()), 'scratch');
      for (const volume of [theirs, ours]) await virshOut(['vol-create-as', TEST_POOL, volume, '1024']);
      const mine = await connect();
      expect((await mine.hypervisor.listVms()).map((vm) => vm.id)).not.toContain(vmId);
      expect(await mine.hypervisor.findVm(vmId)).toBeUndefined();
      const report = await mine.reconcile({ removeOrphans: true });
      expect(report.orphans.map((vm) => vm.id)).not.toContain(vmId);
      expect(await virshOut(['dominfo', session.vmName])).not.toBe('');
      expect(await leftovers(gone)).toEqual([theirs]);
      await virshOut(['vol-delete', '--pool', TEST_POOL, theirs]);
      await session.close();
      expect(await leftovers(session.vmName)).toEqual([]);
    }, 180_000);
  },
);
