/** An accelerator QEMU may use: the platform's hypervisor, or TCG (software emulation). */
export type Accelerator = 'kvm' | 'hvf' | 'whpx' | 'tcg';

/** The hardware accelerator of `platform` (KVM on Linux, HVF on macOS, WHPX on Windows). */
export function platformAccelerator(platform: NodeJS.Platform): Exclude<Accelerator, 'tcg'> | undefined {
  if (platform === 'linux') return 'kvm';
  if (platform === 'darwin') return 'hvf';
  if (platform === 'win32') return 'whpx';
  return undefined;
}

/** The accelerators of `qemu-system-… -accel help` (the lines after the heading). */
export function parseAccelHelp(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => /^[a-z][a-z0-9_-]*$/.test(line));
}

/** The version of `qemu-system-… --version` (`7.2.22`), or `undefined`. */
export function parseQemuVersion(text: string): string | undefined {
  return /QEMU emulator version (\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
}

/** How to make the platform's accelerator work, per OS. */
export function accelerationFix(accelerator: Exclude<Accelerator, 'tcg'>): string {
  switch (accelerator) {
    case 'kvm':
      return 'enable VT-x/AMD-V in the firmware settings (or nested virtualisation on the host of this VM), load kvm_intel or kvm_amd, and make /dev/kvm readable and writable (sudo usermod -aG kvm "$USER")';
    case 'hvf':
      return 'Hypervisor.framework needs a Mac with VT-x (Intel) or Apple silicon and macOS 10.10 or later; inside a VM, enable nested virtualisation';
    case 'whpx':
      return 'enable "Windows Hypervisor Platform" (as administrator: Enable-WindowsOptionalFeature -Online -FeatureName HypervisorPlatform), then restart Windows';
  }
}

/** How to install QEMU, per OS. */
export function installFix(platform: NodeJS.Platform): string {
  switch (platform) {
    case 'darwin':
      return 'brew install qemu';
    case 'win32':
      return 'install QEMU for Windows from qemu.org (winget install SoftwareFreedomConservancy.QEMU) into C:\\Program Files\\qemu';
    default:
      return 'Debian/Ubuntu: sudo apt-get install qemu-system-x86 qemu-utils; Fedora: sudo dnf install qemu-system-x86 qemu-img';
  }
}
