/**
 * Argument arrays of every `VBoxManage` command the driver runs. Each value is one array element,
 * so nothing a value holds (spaces, quotes, `--flags`, newlines) can become another argument.
 */

import { VRDE_PORT_RANGE, VRDE_USER } from './vrde-display.js';

/** The one storage controller of our VMs and its slots. */
export const STORAGE = Object.freeze({
  controller: 'SATA',
  bootPort: 0,
  scratchPort: 1,
  contextPort: 2,
  portCount: 4,
});

/** The group every VM of ours is in. */
export const VM_GROUP = '/cvmweb';

/** The NAT rule that forwards the guest's API port. */
export const API_RULE = 'cvmweb-api';

/** The guest port the API listens on. */
export const API_GUEST_PORT = 80;

/** The first line of the description of our VMs; the session id follows it. */
export const DESCRIPTION_MARK = 'cvmweb-session=';

/** The guest property namespace of our properties. */
export const PROPERTY_PREFIX = '/CVMWeb/';

/**
 * The option spellings of one VirtualBox version. 7.0 gave most `modifyvm` options a dashed name
 * (`--cpu-execution-cap`, `--nat-pf<N>`) and kept the old one as an alias; 6.1 knows only the old
 * one. The driver sends the version's own current spelling (see the README's matrix).
 */
export interface VBoxDialect {
  /** `--cpu-execution-cap` (7.0+) or `--cpuexecutioncap` (6.1). */
  readonly executionCap: string;
  /** The NAT port-forwarding option of NIC 1: `--nat-pf1` (7.0+) or `--natpf1` (6.1). */
  readonly natPortForward: string;
}

/** The spellings of VirtualBox `major`.x: dashed from 7.0 on. */
export function dialectFor(major: number): VBoxDialect {
  return major >= 7
    ? { executionCap: '--cpu-execution-cap', natPortForward: '--nat-pf1' }
    : { executionCap: '--cpuexecutioncap', natPortForward: '--natpf1' };
}

export function versionCommand(): string[] {
  return ['--version'];
}

export function createVmCommand(name: string, baseFolder: string): string[] {
  return [
    'createvm',
    '--name',
    name,
    '--groups',
    VM_GROUP,
    '--basefolder',
    baseFolder,
    '--ostype',
    'Linux26_64',
    '--register',
  ];
}

/** All settings in one `modifyvm`, so open() stays short. */
export interface VmSettings {
  readonly cpus: number;
  readonly ram: number;
  readonly executionCap: number;
  readonly apiPort: number;
  readonly bootFrom: 'dvd' | 'disk';
  readonly sessionId: string;
  /**
   * The first port of the VRDE (RDP) server's range on 127.0.0.1, where the extension pack
   * provides one; absent: no display.
   */
  readonly vrdePort?: number | undefined;
}

export function modifyVmCommand(vm: string, settings: VmSettings, dialect: VBoxDialect): string[] {
  return [
    'modifyvm',
    vm,
    '--cpus',
    String(settings.cpus),
    '--memory',
    String(settings.ram),
    dialect.executionCap,
    String(settings.executionCap),
    '--acpi',
    'on',
    '--ioapic',
    'on',
    '--vram',
    '16',
    '--nic1',
    'nat',
    dialect.natPortForward,
    `${API_RULE},tcp,127.0.0.1,${settings.apiPort},,${API_GUEST_PORT}`,
    '--boot1',
    settings.bootFrom,
    '--boot2',
    'none',
    '--boot3',
    'none',
    '--boot4',
    'none',
    '--description',
    `${DESCRIPTION_MARK}${settings.sessionId}`,
    ...(settings.vrdePort === undefined ? [] : vrdeOptions(settings.vrdePort)),
  ];
}

/**
 * VRDE on 127.0.0.1 only, on the first free port of a range, asking VBoxAuthSimple for a user's
 * password (the SHA-256 hash in the VM's extra data, set before each start). The undashed
 * spellings, which every version accepts (6.1 knows only those; 7.x has both).
 */
export function vrdeOptions(firstPort: number): string[] {
  return [
    '--vrde',
    'on',
    '--vrdeaddress',
    '127.0.0.1',
    '--vrdeport',
    `${firstPort}-${Math.min(65_535, firstPort + VRDE_PORT_RANGE - 1)}`,
    '--vrdeauthtype',
    'external',
    '--vrdeauthlibrary',
    'VBoxAuthSimple',
  ];
}

/** Sets the hash of the display's password, which VBoxAuthSimple reads from the VM's extra data. */
export function vrdePasswordCommand(vm: string, hash: string): string[] {
  return ['setextradata', vm, `VBoxAuthSimple/users/${VRDE_USER}`, hash];
}

/** The running VM's screen as a PNG file. */
export function screenshotCommand(vm: string, file: string): string[] {
  return ['controlvm', vm, 'screenshotpng', file];
}

/** The installed extension packs (the RDP server comes from Oracle's). */
export function listExtPacksCommand(): string[] {
  return ['list', 'extpacks'];
}

export function storageControllerCommand(vm: string): string[] {
  return [
    'storagectl',
    vm,
    '--name',
    STORAGE.controller,
    '--add',
    'sata',
    '--controller',
    'IntelAhci',
    '--portcount',
    String(STORAGE.portCount),
    '--bootable',
    'on',
  ];
}

export type AttachKind = 'dvd' | 'hdd' | 'multiattach';

export function storageAttachCommand(vm: string, port: number, kind: AttachKind, medium: string): string[] {
  return [
    'storageattach',
    vm,
    '--storagectl',
    STORAGE.controller,
    '--port',
    String(port),
    '--device',
    '0',
    '--type',
    kind === 'dvd' ? 'dvddrive' : 'hdd',
    ...(kind === 'multiattach' ? ['--mtype', 'multiattach'] : []),
    '--medium',
    medium,
  ];
}

export function createMediumCommand(file: string, sizeMiB: number): string[] {
  return ['createmedium', 'disk', '--filename', file, '--size', String(sizeMiB), '--format', 'VDI'];
}

export function closeMediumCommand(medium: string): string[] {
  return ['closemedium', 'disk', medium, '--delete'];
}

export function startVmCommand(vm: string): string[] {
  return ['startvm', vm, '--type', 'headless'];
}

export type ControlAction = 'pause' | 'resume' | 'reset' | 'poweroff' | 'savestate' | 'acpipowerbutton';

export function controlVmCommand(vm: string, action: ControlAction): string[] {
  return ['controlvm', vm, action];
}

export function liveExecutionCapCommand(vm: string, cap: number): string[] {
  return ['controlvm', vm, 'cpuexecutioncap', String(cap)];
}

export function executionCapCommand(vm: string, cap: number, dialect: VBoxDialect): string[] {
  return ['modifyvm', vm, dialect.executionCap, String(cap)];
}

export function discardStateCommand(vm: string): string[] {
  return ['discardstate', vm];
}

export function unregisterVmCommand(vm: string): string[] {
  return ['unregistervm', vm, '--delete'];
}

/** Unregisters a VM whose settings cannot be read: there is nothing VirtualBox could delete. */
export function unregisterOnlyCommand(vm: string): string[] {
  return ['unregistervm', vm];
}

export function showVmInfoCommand(vm: string): string[] {
  return ['showvminfo', vm, '--machinereadable'];
}

export function listVmsCommand(): string[] {
  return ['list', 'vms'];
}

/** `list --long vms`: the only listing that names an inaccessible VM's settings file. */
export function listVmsLongCommand(): string[] {
  return ['list', '--long', 'vms'];
}

export function setGuestPropertyCommand(vm: string, name: string, value: string): string[] {
  return ['guestproperty', 'set', vm, name, value];
}

export function getGuestPropertyCommand(vm: string, name: string): string[] {
  return ['guestproperty', 'get', vm, name];
}
