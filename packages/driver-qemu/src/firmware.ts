import * as path from 'node:path';

/** What {@link findAarch64Firmware} needs from the machine (tests give recorded file lists). */
export interface FirmwareLookup {
  readonly platform: NodeJS.Platform;
  /** True when `file` exists. */
  exists(file: string): Promise<boolean>;
}

/**
 * The UEFI firmware files (edk2) the `virt` machine of `qemu-system-aarch64` boots an ISO or a
 * disk with, in the order tried: next to QEMU's own install (`<prefix>/share/qemu/` of
 * Homebrew and of QEMU's `make install`; `share\` of the qemu.org Windows installer), then the
 * distributions' packages (Debian/Ubuntu `qemu-efi-aarch64`, Fedora `edk2-aarch64`).
 */
export function aarch64FirmwareCandidates(binary: string, platform: NodeJS.Platform): string[] {
  const paths = platform === 'win32' ? path.win32 : path.posix;
  const bin = paths.dirname(binary);
  if (platform === 'win32') return [paths.join(bin, 'share', 'edk2-aarch64-code.fd')];
  return [
    paths.join(bin, '..', 'share', 'qemu', 'edk2-aarch64-code.fd'),
    '/usr/share/qemu/edk2-aarch64-code.fd',
    '/usr/share/qemu-efi-aarch64/QEMU_EFI.fd',
    '/usr/share/AAVMF/AAVMF_CODE.fd',
    '/usr/share/edk2/aarch64/QEMU_EFI.fd',
  ];
}

/** The first UEFI firmware of {@link aarch64FirmwareCandidates} that exists, or `undefined`. */
export async function findAarch64Firmware(
  lookup: FirmwareLookup,
  binary: string,
): Promise<string | undefined> {
  for (const file of aarch64FirmwareCandidates(binary, lookup.platform)) {
    if (await lookup.exists(file)) return file;
  }
  return undefined;
}

/** How to install the aarch64 UEFI firmware, per OS. */
export function aarch64FirmwareFix(platform: NodeJS.Platform): string {
  if (platform === 'darwin') return 'brew reinstall qemu (it ships share/qemu/edk2-aarch64-code.fd)';
  if (platform === 'win32') return 'reinstall QEMU for Windows (it ships share\\edk2-aarch64-code.fd)';
  return 'Debian/Ubuntu: sudo apt-get install qemu-efi-aarch64; Fedora: sudo dnf install edk2-aarch64';
}
