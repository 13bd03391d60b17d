import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { aarch64FirmwareFix, findAarch64Firmware } from './firmware.js';
import { buildQemuArgs } from './qemu-args.js';
import { type VmMarker, vmPaths } from './vm-directory.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

/** The files of a package as `dpkg -c` lists them (a recorded output). */
function dpkgFiles(name: string): Set<string> {
  const text = readFileSync(join(FIXTURES, name), 'utf8');
  return new Set([...text.matchAll(/ \.(\/\S+?)(?: -> \S+)?$/gm)].map((m) => m[1] ?? ''));
}

const lookup = (platform: NodeJS.Platform, files: Set<string>) => ({
  platform,
  exists: async (file: string) => files.has(file),
});

describe('aarch64 UEFI firmware', () => {
  it("finds Debian's qemu-efi-aarch64 (recorded dpkg -c of Debian 12's package)", async () => {
    const files = dpkgFiles('debian-qemu-efi-aarch64.dpkg-c.txt');
    expect(files.has('/usr/share/qemu-efi-aarch64/QEMU_EFI.fd')).toBe(true);
    expect(await findAarch64Firmware(lookup('linux', files), '/usr/bin/qemu-system-aarch64')).toBe(
      '/usr/share/qemu-efi-aarch64/QEMU_EFI.fd',
    );
  });

  it("finds Homebrew's, next to its QEMU (share/qemu of the prefix), before any other", async () => {
    const files = new Set([
      '/opt/homebrew/share/qemu/edk2-aarch64-code.fd',
      '/usr/share/AAVMF/AAVMF_CODE.fd',
    ]);
    const found = await findAarch64Firmware(lookup('darwin', files), '/opt/homebrew/bin/qemu-system-aarch64');
    expect(found?.replace('/bin/../', '/')).toBe('/opt/homebrew/share/qemu/edk2-aarch64-code.fd');
  });

  it('says what to install when there is none', async () => {
    expect(
      await findAarch64Firmware(lookup('linux', new Set()), '/usr/bin/qemu-system-aarch64'),
    ).toBeUndefined();
    expect(aarch64FirmwareFix('linux')).toMatch(/qemu-efi-aarch64/);
    expect(aarch64FirmwareFix('darwin')).toMatch(/brew/);
  });

  it('boots the virt machine: -cpu max under TCG, host under HVF, the firmware for an ISO, SCSI CD-ROMs', () => {
    const marker: VmMarker = {
      format: 1,
      id: 'id',
      name: 'cvmweb-arm-1',
      sessionId: 's',
      cpus: 1,
      ram: 256,
      apiPort: 40000,
      boot: { kind: 'iso', iso: '/cache/cernvm.iso' },
      scratch: false,
    };
    const model = { marker, paths: vmPaths('/r', marker.name), arch: 'aarch64', firmware: '/fw/QEMU_EFI.fd' };
    const tcg = buildQemuArgs({ ...model, accelerator: 'tcg' }).join(' ');
    expect(tcg).toContain('-machine virt -accel tcg -cpu max');
    expect(tcg).toContain('-bios /fw/QEMU_EFI.fd');
    expect(tcg).toContain('-device virtio-scsi-pci,id=scsi0');
    expect(tcg).toContain(
      'file=/cache/cernvm.iso,format=raw,media=cdrom,readonly=on,if=none,id=cd2 -device scsi-cd,drive=cd2,bus=scsi0.0',
    );
    expect(tcg).not.toContain('if=ide');
    expect(buildQemuArgs({ ...model, accelerator: 'hvf' }).join(' ')).toContain('-accel hvf -cpu host');
    expect(() => buildQemuArgs({ ...model, firmware: undefined, accelerator: 'tcg' })).toThrow(
      /UEFI firmware/,
    );
  });
});
