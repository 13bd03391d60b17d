import { constants } from 'node:fs';
import { access, appendFile, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HypervisorError } from '@cvmweb/core';

/** The `cpu.max` period cvmweb writes (µs); the quota is period × cap / 100 per vCPU. */
export const CPU_MAX_PERIOD_US = 100_000;

/** Where {@link probeCpuCap} looks (tests point `root` at a temp dir standing in for `/sys/fs/cgroup`). */
export interface CgroupSettings {
  /** The cgroup v2 mount (default `/sys/fs/cgroup`). */
  readonly root: string;
  /** This process's `/proc/self/cgroup` text. */
  readonly selfCgroup: string;
  readonly platform: NodeJS.Platform;
}

/** Whether the execution cap can work here: the cgroup to cap VMs in, or why not. */
export type CpuCapSupport =
  | { readonly supported: true; readonly cgroup: CpuCapCgroup }
  | { readonly supported: false; readonly reason: string };

/** The `/proc/self/cgroup` text of this process ('' when unreadable). */
export function readSelfCgroup(): Promise<string> {
  return readFile('/proc/self/cgroup', 'utf8').catch(() => '');
}

/**
 * Decides, without changing anything, whether VMs can be capped: on Linux through cgroup v2's
 * `cpu.max` in child cgroups of the service's own cgroup, which must offer the `cpu` controller
 * and be writable by this process (a delegated cgroup: systemd's `Delegate=yes`). Elsewhere, and
 * on cgroup v1, the precise reason it cannot.
 */
export async function probeCpuCap(settings: CgroupSettings): Promise<CpuCapSupport> {
  const no = (reason: string): CpuCapSupport => ({ supported: false, reason });
  if (settings.platform === 'darwin')
    return no('macOS has no CPU quota for a process (Hypervisor.framework and QEMU offer no execution cap)');
  if (settings.platform === 'win32')
    return no('on Windows QEMU has no execution cap (a job object CPU rate limit is not implemented)');
  if (settings.platform !== 'linux') return no(`no execution cap on ${settings.platform}`);
  const { root } = settings;
  if (!(await readable(join(root, 'cgroup.controllers')))) {
    const v1 = (await readable(join(root, 'cpu'))) || (await readable(join(root, 'cpu,cpuacct')));
    return no(
      `${root} is cgroup v1${v1 ? ` (the cpu controller is a v1 hierarchy, ${join(root, 'cpu')})` : ''}, ` +
        'and the execution cap needs cgroup v2 (cpu.max): boot with systemd.unified_cgroup_hierarchy=1',
    );
  }
  const own = /^0::(\/.*)$/m.exec(settings.selfCgroup)?.[1];
  if (own === undefined)
    return no('this process is in no cgroup v2 group (no 0:: line in /proc/self/cgroup)');
  const dir = join(root, own);
  const controllers = (await readFile(join(dir, 'cgroup.controllers'), 'utf8').catch(() => '')).split(/\s+/);
  if (!controllers.includes('cpu')) {
    return no(
      `the cpu controller is not delegated to this service's cgroup ${dir} (run it with systemd's Delegate=yes, e.g. systemd-run --user -p Delegate=yes)`,
    );
  }
  for (const file of [dir, join(dir, 'cgroup.subtree_control'), join(dir, 'cgroup.procs')]) {
    if (!(await writable(file)))
      return no(`this service may not write ${file}, so it cannot make a capped child cgroup`);
  }
  return { supported: true, cgroup: new CpuCapCgroup(dir, dir === join(root, '/')) };
}

/**
 * Caps VMs through cgroup v2: each capped QEMU moves into its own child cgroup
 * `cvmweb-<vm name>` of the service's cgroup, whose `cpu.max` holds the quota.
 */
export class CpuCapCgroup {
  /** The service's own cgroup folder. */
  readonly dir: string;
  readonly #isRoot: boolean;

  constructor(dir: string, isRoot: boolean) {
    this.dir = dir;
    this.#isRoot = isRoot;
  }

  /** The folder of VM `vmName`'s cgroup. */
  vmDir(vmName: string): string {
    return join(this.dir, `cvmweb-${vmName}`);
  }

  /**
   * Caps the QEMU `pid` of VM `vmName` to `cap` percent of one host CPU per vCPU: writes
   * `cpu.max` (`<quota> 100000`, or `max 100000` at 100) and moves the pid into the VM's cgroup.
   */
  async apply(vmName: string, pid: number, cap: number, cpus: number): Promise<void> {
    try {
      await this.#enableCpu();
      const dir = this.vmDir(vmName);
      await mkdir(dir, { recursive: true });
      const quota =
        cap >= 100 ? 'max' : String(Math.max(1000, Math.round((CPU_MAX_PERIOD_US * cap * cpus) / 100)));
      await writeFile(join(dir, 'cpu.max'), `${quota} ${CPU_MAX_PERIOD_US}\n`);
      await appendFile(join(dir, 'cgroup.procs'), `${pid}\n`);
    } catch (error) {
      throw new HypervisorError('MODIFY', `capping ${vmName} through ${this.dir} failed: ${String(error)}`, {
        cause: error,
        details: { cgroup: this.dir },
      });
    }
  }

  /** Removes VM `vmName`'s cgroup once its QEMU has ended (nothing when it has none). */
  async remove(vmName: string): Promise<void> {
    await rmdir(this.vmDir(vmName)).catch(() => undefined);
  }

  /**
   * Makes `cpu` available to child cgroups. cgroup v2 lets only a cgroup without processes of
   * its own do that (the root excepted), so the processes of the service's cgroup (the service
   * itself, and what shares it) first move into its leaf `cvmweb-service`.
   */
  async #enableCpu(): Promise<void> {
    const control = join(this.dir, 'cgroup.subtree_control');
    const enabled = (await readFile(control, 'utf8')).split(/\s+/).map((c) => c.replace(/^\+/, ''));
    if (enabled.includes('cpu')) return;
    if (!this.#isRoot) {
      const pids = (await readFile(join(this.dir, 'cgroup.procs'), 'utf8')).split(/\s+/).filter(Boolean);
      if (pids.length > 0) {
        const leaf = join(this.dir, 'cvmweb-service');
        await mkdir(leaf, { recursive: true });
        for (const pid of pids) await appendFile(join(leaf, 'cgroup.procs'), `${pid}\n`);
      }
    }
    await appendFile(control, '+cpu\n');
  }
}

async function readable(file: string): Promise<boolean> {
  return access(file, constants.F_OK).then(
    () => true,
    () => false,
  );
}

async function writable(file: string): Promise<boolean> {
  return access(file, constants.W_OK).then(
    () => true,
    () => false,
  );
}
