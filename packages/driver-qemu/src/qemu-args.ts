import type { Accelerator } from './accelerators.js';
import { PROPERTIES_FW_CFG_NAME } from './guest-properties.js';
import { VNC_DISPLAY_RANGE } from './qemu-display.js';
import type { VmMarker, VmPaths } from './vm-directory.js';

/** The guest's address on QEMU's user network. */
export const GUEST_IP = '10.0.2.15';

/** What the command line of one VM is made of. */
export interface LaunchModel {
  readonly marker: VmMarker;
  readonly paths: VmPaths;
  readonly accelerator: Accelerator;
  /** QEMU's architecture (`x86_64`, `aarch64`). */
  readonly arch: string;
  /** Restore from a migration stream given later over QMP (`-incoming defer`). */
  readonly incoming?: boolean;
  readonly serialLog?: boolean;
  /** aarch64: the UEFI firmware the `virt` machine boots an ISO or a disk with (`-bios`). */
  readonly firmware?: string | undefined;
  /**
   * The first VNC display number (port − 5900) QEMU may listen on, on 127.0.0.1 with a password;
   * it takes the first free one of the next hundred. Absent: no display and no graphics device.
   */
  readonly vncDisplay?: number;
}

/**
 * Escapes a value inside a QEMU option list (`key=value,key=value`): a comma is doubled. Each
 * option list is one argument of an argument array (never a shell), so spaces and quotes need
 * nothing.
 */
export function optionValue(value: string): string {
  return value.replaceAll(',', ',,');
}

function integer(value: number): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a non-negative integer: ${value}`);
  return String(value);
}

/**
 * The arguments of `qemu-system-<arch>` for one VM: daemonised with a pid file, two QMP monitors
 * (commands, and events for `watch()`), the boot medium, the overlay and scratch disks, the
 * context medium as a CD-ROM, the API port forwarded from 127.0.0.1 only, and a graphics device
 * shown by VNC on 127.0.0.1 only, refusing everyone until QMP gives it a password.
 */
export function buildQemuArgs(model: LaunchModel): string[] {
  const { marker, paths } = model;
  const v = optionValue;
  const x86 = model.arch === 'x86_64';
  const args = [
    '-name',
    `guest=${v(marker.name)}`,
    '-machine',
    x86 ? 'pc' : 'virt',
    '-accel',
    model.accelerator,
    // virt's default CPU is a 32-bit Cortex-A15: under TCG an aarch64 guest needs `max`.
    ...(model.accelerator !== 'tcg' ? ['-cpu', 'host'] : x86 ? [] : ['-cpu', 'max']),
    '-m',
    integer(marker.ram),
    '-smp',
    integer(marker.cpus),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-daemonize',
    '-pidfile',
    paths.pid,
    '-chardev',
    `socket,id=qmp,path=${v(paths.qmp)},server=on,wait=off`,
    '-mon',
    'chardev=qmp,mode=control',
    '-chardev',
    `socket,id=events,path=${v(paths.events)},server=on,wait=off`,
    '-mon',
    'chardev=events,mode=control',
    '-serial',
    model.serialLog ? `file:${paths.serialLog}` : 'null',
  ];
  const boot = marker.boot;
  // x86 `pc`: IDE CD-ROMs; aarch64 `virt` has no IDE: SCSI CD-ROMs on a virtio-scsi controller.
  if (!x86) args.push('-device', 'virtio-scsi-pci,id=scsi0');
  const cdrom = (file: string, index: number) =>
    x86
      ? ['-drive', `file=${v(file)},format=raw,media=cdrom,readonly=on,if=ide,index=${index}`]
      : [
          '-drive',
          `file=${v(file)},format=raw,media=cdrom,readonly=on,if=none,id=cd${index}`,
          '-device',
          `scsi-cd,drive=cd${index},bus=scsi0.0`,
        ];
  if (!x86 && boot.kind !== 'kernel') {
    if (!model.firmware) throw new RangeError('an aarch64 VM booting an ISO or a disk needs UEFI firmware');
    args.push('-bios', model.firmware);
  }
  if (boot.kind === 'disk') {
    args.push('-drive', `file=${v(paths.overlay)},format=qcow2,if=virtio,index=0`);
  }
  if (marker.scratch) args.push('-drive', `file=${v(paths.scratch)},format=qcow2,if=virtio,index=1`);
  if (boot.kind === 'iso') args.push(...cdrom(boot.iso, 2), '-boot', 'order=d');
  else if (boot.kind === 'disk') args.push('-boot', 'order=c');
  else {
    args.push('-kernel', boot.kernel);
    if (boot.initrd !== undefined) args.push('-initrd', boot.initrd);
    if (boot.cmdline !== undefined) args.push('-append', boot.cmdline);
  }
  args.push(...cdrom(paths.context, 3));
  args.push('-fw_cfg', `name=${PROPERTIES_FW_CFG_NAME},file=${v(paths.properties)}`);
  args.push(
    '-netdev',
    `user,id=net0,hostfwd=tcp:127.0.0.1:${integer(marker.apiPort)}-:80`,
    '-device',
    'virtio-net-pci,netdev=net0,romfile=',
  );
  if (model.vncDisplay !== undefined) {
    const first = integer(model.vncDisplay);
    const last = integer(model.vncDisplay + VNC_DISPLAY_RANGE - 1);
    // x86 `pc`: the standard VGA; aarch64 `virt` has no VGA: a virtio GPU.
    args.push('-device', x86 ? 'VGA' : 'virtio-gpu-pci', '-vnc', `127.0.0.1:${first},to=${last},password=on`);
  }
  if (model.incoming) args.push('-incoming', 'defer');
  return args;
}
