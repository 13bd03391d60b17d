import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HypervisorError } from '@cvmweb/core';
import { writeFileAtomic } from '@cvmweb/core/node';

/** Unix socket paths longer than this do not fit `sockaddr_un` (108 bytes on Linux, 104 on macOS). */
export const MAX_SOCKET_PATH = 103;

/** How a VM boots, as recorded in its marker. */
export type BootRecord =
  | { readonly kind: 'iso'; readonly iso: string }
  | { readonly kind: 'disk' }
  | { readonly kind: 'kernel'; readonly kernel: string; readonly initrd?: string; readonly cmdline?: string };

/** Our marker in each VM's folder: what cvmweb knows of the VM, and what rebuilds its command line. */
export interface VmMarker {
  readonly format: 1;
  /** The driver's id of the VM (a UUID). */
  readonly id: string;
  readonly name: string;
  readonly sessionId: string;
  readonly cpus: number;
  readonly ram: number;
  /** The loopback port forwarded to the guest's port 80. */
  readonly apiPort: number;
  readonly boot: BootRecord;
  /** The VM has a scratch disk (`scratch.qcow2`). */
  readonly scratch: boolean;
  /** The execution cap in percent (absent: 100), applied at each launch. */
  readonly executionCap?: number;
}

/** The files of one VM. */
export interface VmPaths {
  readonly dir: string;
  readonly marker: string;
  readonly pid: string;
  readonly overlay: string;
  readonly scratch: string;
  readonly context: string;
  /** A completed hibernation: the VM's migration stream. */
  readonly saved: string;
  readonly serialLog: string;
  /** The guest's properties, given to QEMU as the fw_cfg file `opt/cvmweb/properties`. */
  readonly properties: string;
  /** The password of the running QEMU's VNC display (mode 0600), set anew at each launch. */
  readonly displayPassword: string;
  /** Where the sockets live: the VM's folder, or a short folder of the temp dir when that is too long. */
  readonly socketDir: string;
  readonly qmp: string;
  readonly events: string;
  readonly migration: string;
}

const MARKER = 'cvmweb-vm.json';

/** The files of VM `name` under `root`. Socket paths always fit {@link MAX_SOCKET_PATH}. */
export function vmPaths(root: string, name: string): VmPaths {
  const dir = join(root, name);
  const longest = join(dir, 'migration.sock');
  const socketDir =
    Buffer.byteLength(longest) <= MAX_SOCKET_PATH
      ? dir
      : join(tmpdir(), `cvmweb-qemu-${createHash('sha256').update(dir).digest('hex').slice(0, 16)}`);
  if (Buffer.byteLength(join(socketDir, 'migration.sock')) > MAX_SOCKET_PATH) {
    throw new HypervisorError('CREATE', `no socket path short enough for ${dir} (the temp dir is too long)`, {
      details: { dir },
    });
  }
  return {
    dir,
    marker: join(dir, MARKER),
    pid: join(dir, 'qemu.pid'),
    overlay: join(dir, 'disk.qcow2'),
    scratch: join(dir, 'scratch.qcow2'),
    context: join(dir, 'context.iso'),
    saved: join(dir, 'hibernated.state'),
    serialLog: join(dir, 'serial.log'),
    properties: join(dir, 'properties.json'),
    displayPassword: join(dir, 'display.secret'),
    socketDir,
    qmp: join(socketDir, 'qmp.sock'),
    events: join(socketDir, 'events.sock'),
    migration: join(socketDir, 'migration.sock'),
  };
}

/** Makes the socket folder when it is not the VM's own (mode 0700). */
export async function ensureSocketDir(paths: VmPaths): Promise<void> {
  if (paths.socketDir !== paths.dir) await mkdir(paths.socketDir, { recursive: true, mode: 0o700 });
}

/** Removes the VM's folder and its socket folder. */
export async function removeVmFiles(paths: VmPaths): Promise<void> {
  await rm(paths.dir, { recursive: true, force: true, maxRetries: 3 });
  if (paths.socketDir !== paths.dir) await rm(paths.socketDir, { recursive: true, force: true });
}

/** Writes `marker` into `dir` (atomically). */
export function writeMarker(dir: string, marker: VmMarker): Promise<void> {
  return writeFileAtomic(join(dir, MARKER), `${JSON.stringify(marker, null, 2)}\n`, { mode: 0o600 });
}

/** The marker of the folder `dir`; `undefined` when it has none or it is not ours. */
export async function readMarker(dir: string): Promise<VmMarker | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, MARKER), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const value = JSON.parse(text) as Partial<VmMarker>;
    if (
      value.format !== 1 ||
      typeof value.id !== 'string' ||
      typeof value.name !== 'string' ||
      typeof value.sessionId !== 'string' ||
      typeof value.apiPort !== 'number' ||
      typeof value.boot !== 'object'
    )
      return undefined;
    return value as VmMarker;
  } catch {
    return undefined;
  }
}

/** True when `file` exists. */
export async function fileExists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
