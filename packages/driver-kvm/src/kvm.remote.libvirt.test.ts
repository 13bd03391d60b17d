import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cvmweb, createCvmweb, SessionState } from '@cvmweb/core';
import { closeAndDispose, TEST_SCRYPT_COST, waitFor } from '@cvmweb/core/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kvm } from './kvm.js';
import {
  FileServer,
  guestCache,
  guestEntries,
  leftovers,
  libvirtUnavailable,
  lockLibvirt,
  purgeLeftovers,
  sshdUnavailable,
  startSshd,
  TEST_POOL,
  TEST_POOL_PATH,
  type TestSshd,
  virshOut,
  waitForGuest,
} from './testing/index.js';

// A remote libvirt URI: this machine's daemon reached over ssh (`qemu+ssh://root@127.0.0.1:<port>/
// system`) through an sshd the test starts with a key it generates. Media reach the "remote" host
// as storage volumes (vol-upload through the ssh tunnel).
const unavailable = (await libvirtUnavailable()) ?? (await sshdUnavailable());

describe.skipIf(unavailable !== undefined)(
  `kvm over qemu+ssh${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let server: FileServer;
    let dir: string;
    let sshd: TestSshd | undefined;
    let cvmweb: Cvmweb | undefined;
    let release: () => Promise<void> = async () => undefined;
    const debug: string[] = [];

    beforeAll(async () => {
      release = await lockLibvirt('shared');
      await purgeLeftovers(['remote']);
      server = await new FileServer().start();
      dir = await mkdtemp(join(tmpdir(), 'cvmweb-kvm-remote-'));
      sshd = await startSshd();
    }, 10 * 60_000);

    afterAll(async () => {
      try {
        if (cvmweb) await closeAndDispose(cvmweb);
        await purgeLeftovers(['remote']);
        await server?.stop();
        if (dir) await rm(dir, { recursive: true, force: true });
      } finally {
        await sshd?.stop();
        await release();
      }
    }, 180_000);

    it('open → start → pause → resume → stop → close', async () => {
      const remote = sshd as TestSshd;
      cvmweb = await createCvmweb({
        driver: kvm({
          uri: remote.uri,
          env: remote.env,
          pool: TEST_POOL,
          poolPath: TEST_POOL_PATH,
          shutdownTimeoutMs: 8000,
          onDebug: (line) => debug.push(line),
        }),
        stateDir: join(dir, 'state'),
        secretCost: TEST_SCRYPT_COST,
        images: guestCache(join(dir, 'images'), guestEntries(server, inject('testGuest').files)),
        stopTimeoutMs: 8000,
      });
      expect(cvmweb.hypervisorName).toBe('kvm');
      const session = await cvmweb.requestSession('remote', 'key');
      await session.open({ ram: 128, disk: 16, version: 'test-kernel' });
      expect((await virshOut(['domstate', session.vmName])).trim()).toBe('shut off');
      const api = waitFor(session, 'apiAvailable', 90_000);
      await session.start('remote user data');
      expect((await virshOut(['domstate', session.vmName])).trim()).toBe('running');
      // Here the "remote" host is this machine, so its forwarded loopback port is reachable as is.
      const port = Number(new URL((await api)[1]).port);
      expect(await waitForGuest(port, '/user-data')).toBe('remote user data');
      await session.pause();
      expect((await virshOut(['domstate', session.vmName])).trim()).toBe('paused');
      await session.resume();
      expect((await virshOut(['domstate', session.vmName])).trim()).toBe('running');
      await session.stop();
      expect((await virshOut(['domstate', session.vmName])).trim()).toBe('shut off');
      await session.close();
      expect(session.state).toBe(SessionState.Closed);
      expect(await leftovers(session.vmName)).toEqual([]);
      // Every command went to the ssh URI; the context medium went up as a volume.
      expect(debug.filter((line) => line.includes('qemu:///'))).toEqual([]);
      expect(
        debug.some((line) =>
          new RegExp(`vol-upload --pool ${TEST_POOL} ${session.vmName}\\.[0-9a-f]{12}\\.context\\.iso`).test(
            line,
          ),
        ),
      ).toBe(true);
    }, 300_000);
  },
);
