import { withoutWarnings } from './warning-lines.js';

/** One line of `VBoxManage list vms`. */
export interface ListedVm {
  readonly name: string;
  readonly uuid: string;
  /**
   * True for a registered VM whose settings file VirtualBox cannot read (a moved folder, an
   * unmounted disk): `list vms` prints it as `"<inaccessible>" {uuid}` (VBoxManageInfo.cpp,
   * `showVMInfo`, `VMINFO_COMPACT`).
   */
  readonly inaccessible: boolean;
}

/** The name `list vms` prints for an inaccessible VM. */
export const INACCESSIBLE_NAME = '<inaccessible>';

// The name is printed between quotes without escaping, so it may itself hold quotes and spaces:
// the UUID in braces at the end of the line is the only reliable anchor.
const LINE = /^"(.*)" \{([0-9a-fA-F-]{36})\}$/;

/** Parses `VBoxManage list vms` (or `list runningvms`); an empty output is an empty list. */
export function parseListVms(stdout: string): ListedVm[] {
  const vms: ListedVm[] = [];
  for (const line of withoutWarnings(stdout).split(/\r?\n/)) {
    const match = LINE.exec(line);
    if (!match) continue;
    const name = match[1] ?? '';
    vms.push({ name, uuid: (match[2] ?? '').toLowerCase(), inaccessible: name === INACCESSIBLE_NAME });
  }
  return vms;
}

/** An inaccessible VM as `list --long vms` describes it. */
export interface InaccessibleVm {
  readonly uuid: string;
  /** Its settings file (`Config file:`), which VirtualBox could not read. */
  readonly settingsFile: string;
}

/**
 * The inaccessible VMs of `VBoxManage list --long vms`: blocks of `Name:            <inaccessible!>`,
 * `UUID:            …`, `Config file:     …` (VBoxManageInfo.cpp, `showVMInfo`, `VMINFO_STANDARD`).
 * The access error itself goes to stderr as `VBoxManage: error:` lines.
 */
export function parseInaccessibleVms(stdout: string): InaccessibleVm[] {
  const found: InaccessibleVm[] = [];
  let inBlock = false;
  let uuid = '';
  for (const line of withoutWarnings(stdout).split(/\r?\n/)) {
    if (/^Name:\s+<inaccessible!>\s*$/.test(line)) {
      inBlock = true;
      uuid = '';
      continue;
    }
    if (!inBlock) continue;
    const id = /^UUID:\s+([0-9a-fA-F-]{36})\s*$/.exec(line);
    if (id) uuid = (id[1] ?? '').toLowerCase();
    const file = /^Config file:\s+(.*?)\s*$/.exec(line);
    if (file && uuid) {
      found.push({ uuid, settingsFile: file[1] ?? '' });
      inBlock = false;
    }
  }
  return found;
}
