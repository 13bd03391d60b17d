import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProcessRunner, isProcessAlive, reserveFreeLoopbackPort, waitUntil } from '@cvmweb/core/node';

const runner = createProcessRunner();

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
        const gone = pid;
        await waitUntil(() => (isProcessAlive(gone) ? undefined : true), {
          what: `sshd (pid ${gone}) to stop`,
          timeoutMs: 5000,
          intervalMs: 20,
        });
      } catch {
        // already gone
      }
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const key = join(dir, 'id_ed25519');
    const hostKey = join(dir, 'host_ed25519');
    await runner.run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'cvmweb-test', '-f', key]);
    await runner.run('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'cvmweb-test-host',
      '-f',
      hostKey,
    ]);
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
    await runner.run('/usr/sbin/sshd', ['-f', config, '-p', String(port), '-o', `PidFile=${pidFile}`]);
    pid = await waitUntil(
      async () => {
        const written = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
        return Number.isInteger(written) && written > 0 ? written : undefined;
      },
      { what: 'sshd to write its pid file', timeoutMs: 5000, intervalMs: 20 },
    );
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
