import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProcessRunner, waitUntil } from '@cvmweb/core/node';
import { REPO, TEST_URI } from './libvirt-test-host.js';

const runner = createProcessRunner();

/** The lock file that keeps a libvirtd restart apart from the other real-libvirt test files. */
export const LIBVIRT_LOCK = join(tmpdir(), 'cvmweb-libvirt-tests.lock');

/**
 * Takes the real-libvirt tests' lock with `flock(1)`: `shared` for files that only use the
 * daemon, `exclusive` for the one that restarts it (vitest runs files in parallel). Resolves with
 * the release function. The lock is held by a `flock … cat` child, stopped by its pid.
 */
export async function lockLibvirt(mode: 'shared' | 'exclusive'): Promise<() => Promise<void>> {
  const holder = runner.spawn('flock', [`--${mode}`, LIBVIRT_LOCK, 'sh', '-c', 'echo locked; exec cat']);
  holder.stderr.resume();
  const taken = await new Promise<boolean>((done) => {
    holder.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('locked')) done(true);
    });
    void holder.exited.then(() => done(false));
  });
  if (!taken) return async () => undefined; // no flock(1): run unlocked
  return async () => {
    holder.stdin.end();
    const timer = setTimeout(() => holder.kill(), 5000);
    await holder.exited;
    clearTimeout(timer);
  };
}

/** Where scripts/setup-libvirt.sh keeps the daemons' pid files. */
const LIBVIRT_RUN = process.env['CVMWEB_LIBVIRT_RUN'] ?? '/run/cvmweb-libvirt';

/** The pid of the libvirtd that scripts/setup-libvirt.sh started, if it runs. */
async function setupLibvirtdPid(): Promise<number | undefined> {
  const pid = Number.parseInt(await readFile(join(LIBVIRT_RUN, 'libvirtd.pid'), 'utf8').catch(() => ''), 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return (await isLibvirtd(pid)) ? pid : undefined;
}

/** Whether process `pid` runs and is a libvirtd (a reused pid is not). */
async function isLibvirtd(pid: number): Promise<boolean> {
  return (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() === 'libvirtd';
}

/** Why libvirtd cannot be restarted by a test, or `undefined` when it can. */
export async function libvirtdRestartable(): Promise<string | undefined> {
  if (TEST_URI !== 'qemu:///system') return `the tests use ${TEST_URI}, not the local system daemon`;
  if (process.getuid?.() !== 0) return 'restarting libvirtd needs root';
  if ((await setupLibvirtdPid()) === undefined)
    return `libvirtd was not started by scripts/setup-libvirt.sh (no live pid in ${LIBVIRT_RUN}/libvirtd.pid)`;
  return undefined;
}

/**
 * Restarts the libvirtd that scripts/setup-libvirt.sh started: stops it by its pid file, starts
 * it again with that script (which starts only what does not run) and waits until it answers.
 */
export async function restartLibvirtd(): Promise<void> {
  const pid = await setupLibvirtdPid();
  if (pid === undefined) throw new Error('libvirtd was not started by scripts/setup-libvirt.sh');
  process.kill(pid, 'SIGTERM');
  await waitUntil(async () => ((await isLibvirtd(pid)) ? undefined : true), {
    what: `libvirtd (pid ${pid}) to stop`,
    timeoutMs: 30_000,
    intervalMs: 50,
  });
  await runner.run('bash', [join(REPO, 'scripts/setup-libvirt.sh')], {
    env: { CVMWEB_LIBVIRT_RUN: LIBVIRT_RUN },
    timeoutMs: 120_000,
  });
  await waitUntil(
    async () => {
      const version = await runner.run('virsh', ['-c', TEST_URI, 'version'], {
        reject: false,
        timeoutMs: 10_000,
      });
      return version.exitCode === 0 ? true : undefined;
    },
    { what: 'libvirtd to answer after its restart', timeoutMs: 60_000 },
  );
}
