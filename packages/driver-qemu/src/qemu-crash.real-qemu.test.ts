// The service process killed with SIGKILL at several points of open() and start() through the QEMU
// driver (a child Node process over the built packages, test/crash-child.mjs): a new service over
// the same state directory reconciles, and nothing it cannot clean is left — no QEMU, socket,
// folder or half-made folder. Paths hold spaces, quotes and commas. Named `*.real-qemu.test.ts`:
// it runs in vitest's serial project of real-hypervisor tests.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCvmweb, SessionState } from '@cvmweb/core';
import { TEST_SCRYPT_COST } from '@cvmweb/core/testing';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  filesLeft,
  qemuProcesses,
  qemuUnavailable,
  testGuest,
  testGuestImages,
} from '../test/testing-support.js';
import { qemu } from './qemu.js';

const unavailable = qemuUnavailable();
const PACKAGE = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHILD = join(PACKAGE, 'test/crash-child.mjs');
const BUILT = join(PACKAGE, 'dist/index.js');

describe.skipIf(unavailable !== undefined)(
  `qemu: service process killed mid-open${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let dir: string;
    let root: string;
    beforeAll(async () => {
      if (!existsSync(BUILT)) throw new Error(`build the package first: ${BUILT} is missing`);
      dir = await mkdtemp(join(tmpdir(), `cvmweb qemu 'crash' "x", `));
      root = join(dir, 'vms, "all" of them');
    }, 10 * 60_000);
    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    /**
     * Runs the child until a debug line matches `trigger`, then kills it with SIGKILL (with
     * `freeze`, the child blocks where that line was emitted, so the kill lands exactly there).
     */
    const killAt = async (name: string, trigger: RegExp, freeze: boolean) => {
      const stateDir = join(dir, `state "${name}"`);
      const child = execa(
        process.execPath,
        [
          CHILD,
          JSON.stringify({
            root,
            stateDir,
            imagesDir: join(dir, "images 'cache'"),
            session: name,
            version: testGuest().versions.kernel,
            entries: testGuest().catalog,
            ...(freeze ? { freezeAt: trigger.source } : {}),
          }),
        ],
        { cwd: PACKAGE, reject: false, buffer: false, stdin: 'ignore', stderr: 'pipe' },
      );
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const seen: string[] = [];
      let session = { id: '', vmName: '' };
      const outcome = await new Promise<'killed' | 'exited' | 'started'>((done) => {
        let buffer = '';
        child.stdout.on('data', (chunk: Buffer) => {
          buffer += chunk.toString();
          for (let at = buffer.indexOf('\n'); at >= 0; at = buffer.indexOf('\n')) {
            const line = buffer.slice(0, at);
            buffer = buffer.slice(at + 1);
            seen.push(line);
            const s = /^session (\S+) (\S+)$/.exec(line);
            if (s?.[1] && s[2]) session = { id: s[1], vmName: s[2] };
            if (line === 'started') done('started');
            const hit = freeze ? line === 'frozen' : line.startsWith('debug ') && trigger.test(line);
            if (hit && child.pid !== undefined) {
              process.kill(child.pid, 'SIGKILL');
              done('killed');
            }
          }
        });
        void child.then(() => done('exited'));
      });
      if (outcome === 'started') child.kill('SIGKILL');
      await child;
      expect(outcome, `${name}: ${stderr}\n${seen.join('\n')}`).toBe('killed');
      expect(session.id, 'the child reported its session').not.toBe('');
      return { stateDir, session, seen };
    };

    /** A new service over the same state directory: createCvmweb reconciles; then the session is closed. */
    const recover = async (stateDir: string, id: string) => {
      const cvmweb = await createCvmweb({
        driver: qemu({ directory: root, shutdownTimeoutMs: 5000 }),
        stateDir,
        secretCost: TEST_SCRYPT_COST,
        images: testGuestImages(join(dir, "images 'cache'")),
      });
      try {
        const report = await cvmweb.reconcile();
        const session = await cvmweb.session(id);
        const state = session?.state;
        if (session && session.state !== SessionState.Closed) await session.close();
        return { report, state };
      } finally {
        await cvmweb.dispose();
      }
    };

    const expectNothingLeft = async (vmName: string) => {
      expect(await qemuProcesses(vmName)).toEqual([]);
      expect(await filesLeft(root, vmName)).toEqual([]); // the socket folder in the temp dir too
    };

    it('killed after making the folder, before its marker is complete: the half-made folder is removed', async () => {
      const killed = await killAt('crash-creating', /: made .*\.creating-/, true);
      const names = await readdir(root);
      expect(names.some((n) => n.startsWith('.creating-'))).toBe(true);
      const { report } = await recover(killed.stateDir, killed.session.id);
      expect(report.orphans).toEqual([]);
      expect((await readdir(root)).filter((n) => n.startsWith('.creating-'))).toEqual([]);
      await expectNothingLeft(killed.session.vmName);
    }, 120_000);

    it('killed once the VM folder is made and marked, before its disks: the open is rolled back', async () => {
      const killed = await killAt('crash-marked', /: marked /, true);
      expect(existsSync(join(root, killed.session.vmName, 'cvmweb-vm.json'))).toBe(true);
      const { report } = await recover(killed.stateDir, killed.session.id);
      expect(report.rolledBack.map((r) => r.id)).toContain(killed.session.id);
      await expectNothingLeft(killed.session.vmName);
    }, 120_000);

    it('killed while qemu-img makes the scratch disk', async () => {
      const killed = await killAt('crash-qemu-img', /qemu-img create .*scratch\.qcow2/, false);
      await recover(killed.stateDir, killed.session.id);
      await expectNothingLeft(killed.session.vmName);
    }, 120_000);

    it('killed as QEMU is launched: the QEMU that daemonises after the kill is found and ended', async () => {
      const killed = await killAt('crash-launch', /qemu-system-\S+ -name/, false);
      // The QEMU launched just before the kill goes on and daemonises (it leaves the service's
      // process group), or fails; wait until it has settled either way.
      const pidFile = join(root, killed.session.vmName, 'qemu.pid');
      await expect
        .poll(async () => existsSync(pidFile) || (await qemuProcesses(killed.session.vmName)).length === 0, {
          timeout: 30_000,
        })
        .toBe(true);
      await recover(killed.stateDir, killed.session.id);
      await expectNothingLeft(killed.session.vmName);
    }, 120_000);

    it('killed after QEMU daemonised, as the start asks QMP: the new service re-attaches it, its close ends it', async () => {
      const killed = await killAt('crash-daemonised', /^QMP query-status /, true);
      expect(await qemuProcesses(killed.session.vmName)).toHaveLength(1);
      const { state } = await recover(killed.stateDir, killed.session.id);
      expect(state).toBe(SessionState.Started); // reconcile takes the running VM's truth
      await expectNothingLeft(killed.session.vmName);
    }, 120_000);
  },
);
