import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { HypervisorError, isHypervisorError } from '@cvmweb/core';
import { listVmsLongCommand } from './commands.js';
import type { FailureHint } from './failure-hints.js';
import { INACCESSIBLE_NAME, parseInaccessibleVms } from './list-vms-parser.js';
import type { VBoxManage } from './vboxmanage.js';

/**
 * True when `showvminfo --machinereadable` failed because the machine is inaccessible: 7.2 locks
 * the machine first and fails with `E_ACCESSDENIED` "The object functionality is limited"
 * (recorded in hashicorp/vagrant#13741); older versions print `name="<inaccessible>"` instead.
 */
export function isInaccessibleFailure(error: unknown): boolean {
  return (
    isHypervisorError(error) &&
    error.details['resultCode'] === 'E_ACCESSDENIED' &&
    /object functionality is limited/i.test(error.message)
  );
}

/** The parsed `showvminfo --machinereadable` that stands for an inaccessible VM. */
export function inaccessibleInfo(uuid: string): Map<string, string> {
  return new Map([
    ['name', INACCESSIBLE_NAME],
    ['UUID', uuid],
  ]);
}

/** True when `folder` is strictly inside `base`. */
export function isInside(base: string, folder: string): boolean {
  const relative = path.relative(path.resolve(base), path.resolve(folder));
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

/**
 * The inaccessible VMs of ours, by UUID, with their settings files: one `list --long vms`, the
 * only listing that names an inaccessible VM's settings file. A VM is ours when that file is in
 * our base folder (where every VM of ours is created); nothing else about it can be read.
 */
export async function ourInaccessibleVms(
  vbox: VBoxManage,
  baseFolder: string,
  signal?: AbortSignal,
): Promise<Map<string, string>> {
  // The access errors come as `VBoxManage: error:` lines with exit code 0: only the exit code counts.
  const argv = listVmsLongCommand();
  const listed = await vbox.exec(argv, { signal });
  if (listed.exitCode !== 0) {
    throw new HypervisorError(
      'QUERY',
      `VBoxManage list --long vms failed with exit code ${listed.exitCode}`,
      {
        details: { command: [vbox.program, ...argv], exitCode: listed.exitCode, stderr: listed.stderr },
      },
    );
  }
  const ours = new Map<string, string>();
  for (const vm of parseInaccessibleVms(listed.stdout)) {
    if (isInside(baseFolder, vm.settingsFile)) ours.set(vm.uuid, vm.settingsFile);
  }
  return ours;
}

/** Why an inaccessible VM of ours cannot be used, and what brings it back. */
export function inaccessibleHint(settingsFile: string): FailureHint {
  const missing = !existsSync(settingsFile);
  return {
    problem: 'inaccessible',
    reason: missing
      ? `VirtualBox cannot read the VM's settings file ${settingsFile}: it is missing (its folder was moved or its disk is not mounted)`
      : `VirtualBox cannot read the VM's settings file ${settingsFile} (unreadable or damaged)`,
    fix: `make ${path.dirname(settingsFile)} available again (mount its disk, move the folder back), or close the session to unregister the VM`,
  };
}
