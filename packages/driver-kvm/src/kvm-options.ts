import { createHash } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import type { ProcessRunner } from '@cvmweb/core/node';

/** Options of the {@link kvm} driver factory. */
export interface KvmOptions {
  /**
   * The libvirt URI: `qemu:///system`, `qemu:///session`, `qemu+ssh://user@host/system`, …
   * Default: `LIBVIRT_DEFAULT_URI`, else `qemu:///system` when its socket is writable, else
   * `qemu:///session`.
   */
  uri?: string;
  /** `auto` (KVM when really usable, else TCG), `kvm` or `tcg` (default `auto`). */
  acceleration?: 'auto' | 'kvm' | 'tcg';
  /** The storage pool for media and disks (default `cvmweb`, created when missing). */
  pool?: string;
  /** The pool's directory on the hypervisor host, used when the pool is created. */
  poolPath?: string;
  /** The virsh program (default `virsh`). */
  virsh?: string;
  /** The qemu-img program (default `qemu-img`). */
  qemuImg?: string;
  /** Use one long-lived interactive virsh for cheap commands (default true). */
  persistentChannel?: boolean;
  /**
   * Follow libvirt's events with one long-lived `virsh event --loop` (default true), restarted
   * when it ends: waits for a state (start, stop) then end as soon as the domain changes, instead
   * of at the next poll.
   */
  eventStream?: boolean;
  /** Time box of one virsh command in ms (default 60 s). */
  commandTimeoutMs?: number;
  /** Default time of a graceful shutdown before the hard power-off, in ms (default 30 s). */
  shutdownTimeoutMs?: number;
  /** Extra environment for every command (e.g. a `PATH`). */
  env?: Readonly<Record<string, string>>;
  /** Replaces the child-process runner (tests). */
  runner?: ProcessRunner;
  /** Receives one line per command run. */
  onDebug?: (message: string) => void;
  /** Writes each guest's serial console to `<directory>/<vm name>.serial.log` on the hypervisor host. */
  serialLogDirectory?: string;
  /**
   * Which cvmweb installation this is. It is recorded in every domain the driver defines, and
   * `listVms()`/`findVm()` see only the domains of this installation, so `reconcile()` (and its
   * `removeOrphans`) never touches the VMs of another user or of another installation sharing
   * the libvirt daemon (e.g. `qemu:///system`). Default: {@link defaultInstallationId}, one id per
   * OS user and machine. Two installations of one user (two state directories) on one daemon
   * must pass distinct ids, e.g. derived from their state directories.
   */
  installationId?: string;
}

/**
 * The installation id used when none is given: `user-<name>-<hash>`, where the hash covers this
 * machine's host name, the user's id and home directory. It is stable across restarts, and
 * differs between the users of one machine and between machines using one remote daemon.
 */
export function defaultInstallationId(): string {
  const user = userInfo();
  const hash = createHash('sha256')
    .update(`${hostname()}\0${user.uid}\0${homedir()}`)
    .digest('hex')
    .slice(0, 16);
  return `user-${user.username.replace(/[^\w.-]/g, '_')}-${hash}`;
}

/** The URI used when none is given (see {@link KvmOptions.uri}). */
export function defaultUri(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['LIBVIRT_DEFAULT_URI'];
  if (fromEnv) return fromEnv;
  for (const socket of ['/run/libvirt/libvirt-sock', '/var/run/libvirt/libvirt-sock']) {
    try {
      accessSync(socket, constants.W_OK);
      return 'qemu:///system';
    } catch {
      // try the next
    }
  }
  return 'qemu:///session';
}

/** True for per-user (`/session`) URIs: no cgroups, so no CPU caps and no CPU facts from libvirt. */
export function isSessionUri(uri: string): boolean {
  return /^[a-z0-9+]+:\/\/[^/]*\/session(\?|$)/i.test(uri);
}

/** True for URIs that reach another machine (`qemu+ssh://host/…`, `qemu+tcp://…`). */
export function isRemoteUri(uri: string): boolean {
  const match = /^[a-z0-9]+(?:\+([a-z0-9]+))?:\/\/([^/]*)\//i.exec(uri);
  if (!match) return false;
  const transport = match[1];
  const host = match[2] ?? '';
  return (transport !== undefined && transport !== 'unix') || (host !== '' && host !== 'localhost');
}

/** The default pool directory for `uri`. */
export function defaultPoolPath(uri: string): string {
  return isSessionUri(uri)
    ? join(homedir(), '.local', 'share', 'libvirt', 'images', 'cvmweb')
    : '/var/lib/libvirt/images/cvmweb';
}
