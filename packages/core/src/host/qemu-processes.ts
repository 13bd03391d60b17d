import { readdir, readFile } from 'node:fs/promises';

/**
 * The live QEMU processes of this machine that run the VM named `vmName`, as `qemu pid <pid>`:
 * those whose command line has `-name guest=<vmName>` (QEMU run directly) or
 * `-name guest=<vmName>,…` (libvirt adds options). Zombies have no command line and do not count.
 * Empty where there is no `/proc`. The QEMU-based drivers' tests check with it that nothing of a
 * VM is left running.
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
