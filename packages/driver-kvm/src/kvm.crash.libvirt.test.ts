import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCvmweb, type ImageEntry, SessionState } from '@cvmweb/core';
import { TEST_SCRYPT_COST } from '@cvmweb/core/testing';
import { execa } from 'execa';
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
  REPO,
  TEST_POOL,
  TEST_POOL_PATH,
  TEST_URI,
  virshOut,
} from './testing/index.js';

// The driver process killed with SIGKILL at several points of open() and of close(): a new process
// over the same state directory reconciles, and nothing of the session is left (domain, volumes,
// port).
const unavailable = await libvirtUnavailable();
const CHILD = join(REPO, 'packages/driver-kvm/test/crash-child.mjs');
const BUILT = join(REPO, 'packages/driver-kvm/dist/index.js');

/** Whether anything accepts connections on 127.0.0.1:`port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

describe.skipIf(unavailable !== undefined)(
  `kvm: driver process killed mid-open${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let server: FileServer;
    let dir: string;
    let entries: ImageEntry[];
    let release: () => Promise<void> = async () => undefined;
    let bigSha = '';
    const bigTag = () => bigSha.slice(0, 24);

    beforeAll(async () => {
      if (!existsSync(BUILT)) throw new Error(`build the package first: ${BUILT} is missing`);
      release = await lockLibvirt('shared');
      await purgeLeftovers(['crash']);
      server = await new FileServer().start();
      dir = await mkdtemp(join(tmpdir(), 'cvmweb-kvm-crash-'));
      // A kernel-kind image of random bytes, new on each run, so its base volume is uploaded
      // during open() (and slow enough to be killed mid-upload). It is never booted.
      const big = join(dir, 'big.kernel');
      const bytes = randomBytes(64 * 1024 * 1024);
      bigSha = createHash('sha256').update(bytes).digest('hex');
      await writeFile(big, bytes);
      const guest = inject('testGuest').files;
      entries = [
        ...guestEntries(server, guest),
        {
          version: 'crash-big',
          kind: 'kernel',
          context: 'cernvm',
          url: server.serve('/big.kernel', big),
          sha256: bigSha,
          initrdUrl: server.serve('/initrd.gz', guest.initrd),
          initrdSha256: guest.sha256['initrd.gz'] ?? '',
        },
      ];
    }, 10 * 60_000);

    /** Process groups of the children, killed at the end whatever happened (e.g. a timeout). */
    const groups = new Set<number>();

    afterAll(async () => {
      for (const group of groups) {
        try {
          process.kill(-group, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      for (const suffix of ['', '.complete'])
        await virshOut(['vol-delete', '--pool', TEST_POOL, `cvmweb-base-${bigTag()}.kernel${suffix}`]);
      await purgeLeftovers(['crash']);
      await server?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
      await release();
    }, 120_000);

    /**
     * Runs the child until a debug line matches `trigger` (and then `ready()` holds, polled), kills
     * it with SIGKILL, then its helpers (virsh children left behind would finish their commands
     * unobserved, as they would not when a service manager kills the driver's process group).
     * With `close`, the child opens, starts and closes, and `trigger` counts from the close on;
     * with `freeze` too, the child blocks before sending that command, and is killed there.
     */
    const killDuring = async (
      name: string,
      version: string,
      trigger: RegExp,
      options: { ready?: () => Promise<boolean>; close?: boolean; freeze?: boolean } = {},
    ) => {
      const { ready = async () => true, close = false, freeze = false } = options;
      const stateDir = join(dir, `state-${name}`);
      const child = execa(
        process.execPath,
        [
          CHILD,
          JSON.stringify({
            uri: TEST_URI,
            pool: TEST_POOL,
            poolPath: TEST_POOL_PATH,
            stateDir,
            imagesDir: join(dir, 'images'),
            entries,
            session: name,
            version,
            close,
            ...(freeze ? { freezeAt: trigger.source } : {}),
          }),
        ],
        { cwd: REPO, detached: true, reject: false, buffer: false, stdin: 'ignore', stderr: 'pipe' },
      );
      const pid = child.pid ?? 0;
      groups.add(pid);
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const seen: string[] = [];
      let session: { id: string; vmName: string } | undefined;
      // Read as soon as its define is announced: a close removes the file.
      let domainXml: Promise<string> | undefined;
      const outcome = await new Promise<'killed' | 'exited' | 'opened' | 'closed'>((done) => {
        let buffer = '';
        let triggered = false;
        let armed = !close;
        let exited = false;
        void child.then(() => {
          exited = true;
        });
        child.stdout.on('data', (chunk: Buffer) => {
          buffer += chunk.toString();
          let at = buffer.indexOf('\n');
          while (at >= 0) {
            const line = buffer.slice(0, at);
            buffer = buffer.slice(at + 1);
            at = buffer.indexOf('\n');
            seen.push(line);
            const s = /^session (\S+) (\S+)$/.exec(line);
            if (s?.[1] && s[2]) session = { id: s[1], vmName: s[2] };
            const define = /^debug \S*virsh -c \S+ define (\S+)/.exec(line);
            if (define?.[1]) domainXml = readFile(define[1], 'utf8').catch(() => '');
            if (line === (close ? 'closed' : 'opened')) done(close ? 'closed' : 'opened');
            if (line === 'started') armed = true;
            const hit = freeze ? line === 'frozen' : line.startsWith('debug ') && trigger.test(line);
            if (armed && !triggered && hit) {
              triggered = true;
              void (async () => {
                const readyOrExited = async () => exited || (await ready());
                await expect
                  .poll(readyOrExited, { timeout: 60_000, interval: 2, message: 'the point to kill at' })
                  .toBe(true);
                if (exited) return;
                process.kill(pid, 'SIGKILL');
                done('killed');
              })();
            }
          }
        });
        void child.then(() => done('exited'));
      });
      // The driver process first, as `kill -9 <pid>`; then what it left running in its group.
      if (outcome !== 'killed' && outcome !== 'exited') process.kill(pid, 'SIGKILL');
      await child;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // the group is empty
      }
      groups.delete(pid);
      expect(outcome, `${name}: ${stderr}\n${seen.join('\n')}`).toBe('killed');
      expect(session, 'the child reported its session').toBeDefined();
      const port = domainXml
        ? Number(/hostfwd=tcp:127\.0\.0\.1:(\d+)-:80/.exec(await domainXml)?.[1])
        : undefined;
      return { stateDir, session: session ?? { id: '', vmName: '' }, port, seen };
    };

    /** A new process's view: createCvmweb over the same state directory, then reconcile(). */
    const reconcileAfter = async (stateDir: string) => {
      const cvmweb = await createCvmweb({
        driver: kvm({ uri: TEST_URI, pool: TEST_POOL, poolPath: TEST_POOL_PATH, shutdownTimeoutMs: 5000 }),
        stateDir,
        secretCost: TEST_SCRYPT_COST,
        images: guestCache(join(dir, 'images'), entries),
      });
      try {
        const report = await cvmweb.reconcile();
        return { report, records: cvmweb.sessions() };
      } finally {
        await cvmweb.dispose();
      }
    };

    const expectNothingLeft = async (
      killed: Awaited<ReturnType<typeof killDuring>>,
      records: { id: string; state: number; pending?: unknown; vmId?: string }[],
    ) => {
      const record = records.find((r) => r.id === killed.session.id);
      expect(record?.state).toBe(SessionState.Closed);
      expect(record?.pending).toBeUndefined();
      expect(record?.vmId).toBeUndefined();
      expect(await leftovers(killed.session.vmName)).toEqual([]);
      expect(await virshOut(['list', '--all', '--name'])).not.toContain(killed.session.vmName);
      if (killed.port) expect(await listening(killed.port)).toBe(false);
      expect(existsSync(join(killed.stateDir, 'vms', killed.session.id))).toBe(false);
    };

    it('killed before anything reached libvirt (the first virsh command)', async () => {
      const killed = await killDuring('crash-early', 'test-kernel', / pool-info /);
      const { records } = await reconcileAfter(killed.stateDir);
      await expectNothingLeft(killed, records);
    }, 120_000);

    it('killed while the domain is being defined', async () => {
      const killed = await killDuring('crash-define', 'test-kernel', / define /);
      const { records } = await reconcileAfter(killed.stateDir);
      await expectNothingLeft(killed, records);
    }, 120_000);

    it('killed right after the domain was defined (creating its scratch volume)', async () => {
      const killed = await killDuring(
        'crash-defined',
        'test-kernel',
        /vol-create-as \S+ \S+\.scratch\.qcow2/,
      );
      expect(killed.port).toBeGreaterThan(0);
      const { report, records } = await reconcileAfter(killed.stateDir);
      expect(report.rolledBack.map((r) => r.id)).toContain(killed.session.id);
      await expectNothingLeft(killed, records);
    }, 120_000);

    it('killed while the shared base volume uploads; the partial base is not reused', async () => {
      const base = `cvmweb-base-${bigTag()}.kernel`;
      // Killed once 4 MiB of the 64 MiB reached the volume's file (a local dir pool).
      const killed = await killDuring('crash-upload', 'crash-big', new RegExp(`vol-upload .*${base}`), {
        ready: async () => {
          const info = await stat(join(TEST_POOL_PATH, base)).catch(() => undefined);
          return (info?.blocks ?? 0) * 512 >= 4 * 1024 * 1024;
        },
      });
      const { records } = await reconcileAfter(killed.stateDir);
      await expectNothingLeft(killed, records);
      // The interrupted upload is incomplete: the next open uploads the base again.
      expect(await virshOut(['vol-info', '--pool', TEST_POOL, `${base}.complete`])).toBe('');
      const cvmweb = await createCvmweb({
        driver: kvm({ uri: TEST_URI, pool: TEST_POOL, poolPath: TEST_POOL_PATH, shutdownTimeoutMs: 5000 }),
        stateDir: killed.stateDir,
        secretCost: TEST_SCRYPT_COST,
        images: guestCache(join(dir, 'images'), entries),
      });
      try {
        const session = await cvmweb.requestSession('crash-upload-again', 'key');
        await session.open({ ram: 128, disk: 0, version: 'crash-big' });
        const copy = join(dir, 'downloaded');
        await execa('virsh', ['-c', TEST_URI, 'vol-download', '--pool', TEST_POOL, base, copy]);
        const sha = createHash('sha256')
          .update(await readFile(copy))
          .digest('hex');
        expect(sha).toBe(bigSha);
        await session.close();
        expect(await leftovers(session.vmName)).toEqual([]);
      } finally {
        await cvmweb.dispose();
      }
    }, 180_000);

    // close() = destroy, undefine, then one vol-delete per volume (scratch, then the context medium,
    // then the overlay this VM does not have). The child is killed between two of these commands
    // (frozen before sending the next one), or as a vol-delete is sent. Each time reconcile finishes
    // the close — also once no domain is left to say which volumes were its own — and `virsh
    // vol-list` shows none of the session's volumes.
    it.each([
      ['crash-close-undefine', 'after destroy, before undefine', / undefine /, true, 'domain'],
      [
        'crash-close-deleting',
        'after undefine, before any vol-delete',
        / vol-delete .*\.scratch\.qcow2/,
        true,
        'both',
      ],
      ['crash-close-between', 'between two vol-deletes', / vol-delete .*\.context\.iso/, true, 'context'],
      ['crash-close-vol', 'as a vol-delete is sent', / vol-delete .*\.scratch\.qcow2/, false, undefined],
    ] as const)(
      '%s: killed mid-close %s',
      async (name, _what, trigger, freeze, left) => {
        const killed = await killDuring(name, 'test-kernel', trigger, { close: true, freeze });
        const vm = killed.session.vmName;
        const before = await leftovers(vm);
        // What the kill left, as libvirt lists it (domain names hold no '.').
        if (left === 'domain') expect(before).toContain(vm);
        if (left === 'both' || left === 'context') {
          expect(before.filter((v) => !v.includes('.'))).toEqual([]);
          expect(before.map((v) => v.slice(v.indexOf('.', vm.length + 1) + 1)).sort()).toEqual(
            left === 'both' ? ['context.iso', 'scratch.qcow2'] : ['context.iso'],
          );
        }
        const { report, records } = await reconcileAfter(killed.stateDir);
        expect(report.rolledBack.map((r) => r.id)).toContain(killed.session.id);
        await expectNothingLeft(killed, records);
      },
      120_000,
    );
  },
);
