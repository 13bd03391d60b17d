/**
 * `@cvmweb/driver-kvm/testing`: helpers of the tests that run on a real libvirt daemon (this
 * package's, the daemon's and the web bridge's): the test URI and pool, the test guest built from
 * Debian packages, a loopback file server for core's image cache, leftover checks and cleanup,
 * the shared lock that keeps a libvirtd restart apart from the other tests, and a private sshd.
 * No test framework is imported.
 *
 * @packageDocumentation
 */
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImageCache, ImageCatalog, type ImageEntry } from '@cvmweb/core';
import { reserveFreeLoopbackPort } from '@cvmweb/core/node';
import { testGuest as buildTestGuest, type TestGuest } from '@cvmweb/test-guest';
import { execa } from 'execa';
import { METADATA_NAMESPACE } from './vm-metadata.js';

export type { TestGuest };

/**
 * The repository root, for `scripts/setup-libvirt.sh` ({@link restartLibvirtd}): only in a
 * checkout of the cvmweb repository, not from `node_modules`.
 */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The URI the tests use. */
export const TEST_URI = process.env['CVMWEB_KVM_TEST_URI'] ?? 'qemu:///system';
/** The pool the tests use (kept apart from a developer's `cvmweb` pool). */
export const TEST_POOL = 'cvmweb-test';
/** The test pool's directory. */
export const TEST_POOL_PATH = '/var/lib/libvirt/images/cvmweb-test';

/** Why the real-libvirt tests cannot run here, or `undefined` when they can. */
export async function libvirtUnavailable(): Promise<string | undefined> {
  if (process.env['CVMWEB_KVM_TESTS'] === '0') return 'CVMWEB_KVM_TESTS=0';
  const version = await execa('virsh', ['-c', TEST_URI, 'version'], {
    reject: false,
    timeout: 10_000,
    env: { LC_ALL: 'C' },
  }).catch((error: unknown) => ({ exitCode: 1, stderr: String(error) }));
  if (version.exitCode !== 0) {
    return `libvirt does not answer at ${TEST_URI} (run: npm run setup:libvirt): ${String(version.stderr).trim()}`;
  }
  return undefined;
}

/**
 * Builds (or finds in the cache) the cvmweb test guest with the `@cvmweb/test-guest` kit, which
 * works from `node_modules` too.
 */
export function testGuest(): Promise<TestGuest> {
  return buildTestGuest();
}

/** A loopback HTTP server of files, as a CernVM release server would serve them. */
export class FileServer {
  readonly #server: Server;
  readonly #files = new Map<string, string>();
  #base = '';

  constructor() {
    this.#server = createServer((request, response) => {
      const file = this.#files.get(new URL(request.url ?? '/', 'http://x').pathname);
      if (!file) {
        response.writeHead(404).end();
        return;
      }
      void stat(file).then((info) => {
        response.writeHead(200, { 'content-length': info.size });
        createReadStream(file).pipe(response);
      });
    });
  }

  /** Serves `file` at `path`; returns its URL. */
  serve(path: string, file: string): string {
    this.#files.set(path, file);
    return `${this.#base}${path}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((done) => this.#server.listen(0, '127.0.0.1', done));
    this.#base = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((done) => this.#server.close(() => done()));
  }
}

/** Catalog entries of the test guest: `test-kernel` (direct boot) and `test-iso` (CernVM-style CD-ROM). */
export function guestEntries(server: FileServer, g: TestGuest): ImageEntry[] {
  return [
    {
      version: 'test-kernel',
      kind: 'kernel',
      context: 'cernvm',
      url: server.serve('/vmlinux', g.vmlinux),
      sha256: g.sha256['vmlinux'] ?? '',
      initrdUrl: server.serve('/initrd.gz', g.initrd),
      initrdSha256: g.sha256['initrd.gz'] ?? '',
      cmdline: g.cmdline,
    },
    {
      version: 'test-iso',
      kind: 'iso',
      context: 'cernvm',
      url: server.serve('/guest.iso', g.iso),
      sha256: g.sha256['guest.iso'] ?? '',
    },
    {
      version: 'test-cloud-init',
      kind: 'kernel',
      context: 'cloud-init',
      url: server.serve('/vmlinux', g.vmlinux),
      sha256: g.sha256['vmlinux'] ?? '',
      initrdUrl: server.serve('/initrd.gz', g.initrd),
      initrdSha256: g.sha256['initrd.gz'] ?? '',
      cmdline: g.cmdline,
    },
  ];
}

/** An image cache over the test guest's entries. */
export function guestCache(directory: string, entries: ImageEntry[]): ImageCache {
  return new ImageCache({ directory, catalog: new ImageCatalog(entries, { defaults: [] }) });
}

/** Runs virsh at the test URI and returns its standard output ('' on failure). */
export async function virshOut(args: string[]): Promise<string> {
  const result = await execa('virsh', ['-c', TEST_URI, ...args], {
    reject: false,
    env: { LC_ALL: 'C' },
    timeout: 60_000,
  });
  return result.exitCode === 0 ? String(result.stdout) : '';
}

/** Domains (any state) and test-pool volumes whose names start with `vmName` (a VM name or a prefix). */
export async function leftovers(vmName: string): Promise<string[]> {
  await virshOut(['pool-refresh', TEST_POOL]);
  const domains = (await virshOut(['list', '--all', '--name'])).split('\n').map((l) => l.trim());
  const volumes = (await virshOut(['vol-list', TEST_POOL]))
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '');
  return [...domains, ...volumes].filter((name) => name !== '' && name.startsWith(vmName));
}

/**
 * QEMU processes of this machine that run the domain `vmName` (libvirt starts them with
 * `-name guest=<name>,…`), as `qemu pid <pid>`. Empty for a remote {@link TEST_URI}.
 */
export async function qemuProcesses(vmName: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(pid)) continue;
    const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const name = args.indexOf('-name');
    if (name >= 0 && (args[name + 1] ?? '').split(',').includes(`guest=${vmName}`))
      found.push(`qemu pid ${pid}`);
  }
  return found;
}

/** Reads `path` from the guest's API (HTTP GET), or `undefined` when it does not answer. */
export async function guestGet(port: number, path: string, timeoutMs = 3000): Promise<string | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    return response.ok ? await response.text() : undefined;
  } catch {
    return undefined;
  }
}

/** Polls {@link guestGet} until it answers or `timeoutMs` passes. */
export async function waitForGuest(port: number, path: string, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const body = await guestGet(port, path);
    if (body !== undefined) return body;
    if (Date.now() > deadline)
      throw new Error(`guest on port ${port} did not answer ${path} within ${timeoutMs} ms`);
    await new Promise((done) => setTimeout(done, 200));
  }
}

/**
 * Removes cvmweb domains (and their volumes) left on the test URI by an earlier, interrupted run
 * whose VM names start with one of `prefixes` (VM names derive from session names, so a leftover
 * would collide with this run's).
 */
export async function purgeLeftovers(prefixes: readonly string[]): Promise<void> {
  for (const prefix of prefixes) await purgeVms(`cvmweb-${prefix}-`);
}

/**
 * Removes the cvmweb domains (those with cvmweb's metadata, of any installation) whose names
 * start with `vmPrefix`, and the test pool's volumes whose names start with it.
 */
export async function purgeVms(vmPrefix: string): Promise<void> {
  const names = (await virshOut(['list', '--all', '--name'])).split('\n').map((l) => l.trim());
  for (const name of names) {
    if (name === '' || !name.startsWith(vmPrefix)) continue;
    if (!(await virshOut(['metadata', name, '--uri', METADATA_NAMESPACE, '--config']))) continue;
    await virshOut(['destroy', name]);
    await virshOut(['undefine', name, '--managed-save']);
  }
  await virshOut(['pool-refresh', TEST_POOL]);
  const volumes = (await virshOut(['vol-list', TEST_POOL]))
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '');
  for (const volume of volumes) {
    if (volume !== '' && volume.startsWith(vmPrefix))
      await virshOut(['vol-delete', '--pool', TEST_POOL, volume]);
  }
}

/** `virsh domstate` of `domain` ('running', 'paused', 'shut off', …), or '' when there is no such domain. */
export async function domState(domain: string): Promise<string> {
  return (await virshOut(['domstate', domain])).trim();
}

/** The lock file that keeps a libvirtd restart apart from the other real-libvirt test files. */
export const LIBVIRT_LOCK = join(tmpdir(), 'cvmweb-libvirt-tests.lock');

/**
 * Takes the real-libvirt tests' lock with `flock(1)`: `shared` for files that only use the
 * daemon, `exclusive` for the one that restarts it (vitest runs files in parallel). Resolves with
 * the release function. The lock is held by a `flock … cat` child, stopped by its pid.
 */
export async function lockLibvirt(mode: 'shared' | 'exclusive'): Promise<() => Promise<void>> {
  const holder = execa('flock', [`--${mode}`, LIBVIRT_LOCK, 'sh', '-c', 'echo locked; exec cat'], {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'ignore',
    reject: false,
    buffer: false,
  });
  const pid = holder.pid;
  const taken = await new Promise<boolean>((done) => {
    holder.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('locked')) done(true);
    });
    void holder.then(() => done(false));
  });
  if (!taken) return async () => undefined; // no flock(1): run unlocked
  return async () => {
    holder.stdin.end();
    const timer = setTimeout(() => {
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
    }, 5000);
    await holder;
    clearTimeout(timer);
  };
}

/** Where scripts/setup-libvirt.sh keeps the daemons' pid files. */
const LIBVIRT_RUN = process.env['CVMWEB_LIBVIRT_RUN'] ?? '/run/cvmweb-libvirt';

/** The pid of the libvirtd that scripts/setup-libvirt.sh started, if it runs. */
async function setupLibvirtdPid(): Promise<number | undefined> {
  const pid = Number.parseInt(await readFile(join(LIBVIRT_RUN, 'libvirtd.pid'), 'utf8').catch(() => ''), 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
  return comm.trim() === 'libvirtd' ? pid : undefined;
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
  const deadline = Date.now() + 30_000;
  while ((await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() === 'libvirtd') {
    if (Date.now() > deadline) throw new Error(`libvirtd (pid ${pid}) did not stop within 30 s`);
    await new Promise((done) => setTimeout(done, 50));
  }
  await execa('bash', [join(REPO, 'scripts/setup-libvirt.sh')], {
    env: { CVMWEB_LIBVIRT_RUN: LIBVIRT_RUN },
    timeout: 120_000,
  });
  for (;;) {
    const version = await execa('virsh', ['-c', TEST_URI, 'version'], { reject: false, timeout: 10_000 });
    if (version.exitCode === 0) return;
    if (Date.now() > deadline + 60_000) throw new Error('libvirtd did not answer after its restart');
    await new Promise((done) => setTimeout(done, 100));
  }
}

/** A private sshd on a loopback port that lets the holder of a generated key in as root. */
export interface TestSshd {
  /** `qemu+ssh://root@127.0.0.1:<port>/system?no_verify=1&keyfile=<key>`. */
  readonly uri: string;
  /** Environment for virsh: a `PATH` whose `ssh` keeps host keys in the temporary directory. */
  readonly env: Readonly<Record<string, string>>;
  /** Stops sshd by its pid file and removes the directory. */
  stop(): Promise<void>;
}

/** Why {@link startSshd} cannot run here, or `undefined` when it can. */
export async function sshdUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'a root login over ssh needs the tests to run as root';
  for (const program of ['/usr/sbin/sshd', '/usr/bin/ssh', '/usr/bin/ssh-keygen']) {
    if (!(await stat(program).catch(() => undefined)))
      return `${program} is missing (openssh-server, installed by npm run setup:libvirt)`;
  }
  return undefined;
}

/**
 * Starts sshd as the test's own daemon: keys generated into a temporary directory (a client
 * ed25519 key as the only authorized key, a host key), root login by key only, on a free port of
 * 127.0.0.1. Root's `~/.ssh` is not touched: an `ssh` wrapper first on `PATH` keeps the host key
 * in the temporary directory (libvirt's `no_verify=1` accepts it).
 */
export async function startSshd(): Promise<TestSshd> {
  const dir = await mkdtemp(join(tmpdir(), 'cvmweb-sshd-'));
  const pidFile = join(dir, 'sshd.pid');
  let pid: number | undefined;
  const stop = async () => {
    if (pid === undefined) {
      pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
    }
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 'SIGTERM');
        for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++)
          await new Promise((done) => setTimeout(done, 20));
      } catch {
        // already gone
      }
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const key = join(dir, 'id_ed25519');
    const hostKey = join(dir, 'host_ed25519');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'cvmweb-test', '-f', key]);
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'cvmweb-test-host', '-f', hostKey]);
    await writeFile(join(dir, 'authorized_keys'), await readFile(`${key}.pub`, 'utf8'), { mode: 0o600 });
    const config = join(dir, 'sshd_config');
    await writeFile(
      config,
      [
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        // The temporary directory sits in the world-writable /tmp.
        'StrictModes no',
        'UseDNS no',
        '',
      ].join('\n'),
    );
    const bin = join(dir, 'bin');
    await mkdir(bin);
    await writeFile(
      join(bin, 'ssh'),
      `#!/bin/sh\nexec /usr/bin/ssh -o UserKnownHostsFile=${join(dir, 'known_hosts')} "$@"\n`,
      { mode: 0o755 },
    );
    // sshd refuses to start without its privilege-separation directory (made at boot by systemd).
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    const port = await reserveFreeLoopbackPort();
    await execa('/usr/sbin/sshd', ['-f', config, '-p', String(port), '-o', `PidFile=${pidFile}`]);
    for (let i = 0; ; i++) {
      pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(pid) && pid > 0) break;
      if (i > 200) throw new Error('sshd wrote no pid file');
      await new Promise((done) => setTimeout(done, 20));
    }
    return {
      uri: `qemu+ssh://root@127.0.0.1:${port}/system?no_verify=1&keyfile=${key}`,
      env: { PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}` },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
