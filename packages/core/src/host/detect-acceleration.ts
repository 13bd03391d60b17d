import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';

/** What this machine offers for hardware acceleration. */
export interface AccelerationFacts {
  /** `vmx` (Intel VT-x) or `svm` (AMD-V) in the CPU flags, or `undefined`. */
  readonly cpuFlag: 'vmx' | 'svm' | undefined;
  /** The KVM modules loaded (`kvm`, `kvm_intel`, `kvm_amd`, `kvm_pvm`, …). */
  readonly modules: readonly string[];
  /** `/dev/kvm` exists and this process may open it for reading and writing. */
  readonly devKvm: 'usable' | 'missing' | 'no-access';
  /** True when KVM can really run guests: a VT-x/AMD-V flag, its module, and `/dev/kvm`. */
  readonly usable: boolean;
  /** Why KVM is not usable, for people. */
  readonly reason?: string;
  /** What to do about it. */
  readonly fix?: string;
}

/** Paths read by {@link detectAcceleration} (tests point them at fixtures). */
export interface AccelerationPaths {
  /** The CPU description to read the vmx/svm flags from (default `/proc/cpuinfo`). */
  cpuinfo?: string;
  /** The list of loaded kernel modules (default `/proc/modules`). */
  modules?: string;
  /** The KVM device (default `/dev/kvm`). */
  devKvm?: string;
}

/**
 * Detects real hardware acceleration from the CPU flags, the loaded modules and `/dev/kvm`.
 * `virsh domcapabilities` alone is not trusted: a PVM `/dev/kvm` (module `kvm_pvm`, no vmx/svm)
 * passes it, yet its guests die with "KVM internal error".
 */
export async function detectAcceleration(paths: AccelerationPaths = {}): Promise<AccelerationFacts> {
  const cpuinfo = await readFile(paths.cpuinfo ?? '/proc/cpuinfo', 'utf8').catch(() => '');
  const flags = new Set(/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1]?.trim().split(/\s+/) ?? []);
  const cpuFlag: AccelerationFacts['cpuFlag'] = flags.has('vmx')
    ? 'vmx'
    : flags.has('svm')
      ? 'svm'
      : undefined;
  const modules = (await readFile(paths.modules ?? '/proc/modules', 'utf8').catch(() => ''))
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => /^kvm(_|$)/.test(name));
  const device = paths.devKvm ?? '/dev/kvm';
  let devKvm: AccelerationFacts['devKvm'] = 'usable';
  try {
    await access(device, constants.R_OK | constants.W_OK);
  } catch (error) {
    devKvm = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'no-access';
  }
  const vendorModule = cpuFlag === 'vmx' ? 'kvm_intel' : cpuFlag === 'svm' ? 'kvm_amd' : undefined;
  const base = { cpuFlag, modules, devKvm };
  if (!cpuFlag) {
    const pvm = modules.includes('kvm_pvm')
      ? ' (/dev/kvm is provided by kvm_pvm, which QEMU cannot use)'
      : '';
    return {
      ...base,
      usable: false,
      reason: `the CPU has no VT-x/AMD-V (no vmx or svm flag)${pvm}: QEMU falls back to slow software emulation (TCG)`,
      fix: 'enable VT-x/AMD-V in the firmware settings, or enable nested virtualisation on the host of this VM',
    };
  }
  if (vendorModule && !modules.includes(vendorModule)) {
    return {
      ...base,
      usable: false,
      reason: `the ${vendorModule} module is not loaded: QEMU falls back to software emulation (TCG)`,
      fix: `sudo modprobe ${vendorModule}`,
    };
  }
  if (devKvm !== 'usable') {
    return {
      ...base,
      usable: false,
      reason:
        devKvm === 'missing'
          ? '/dev/kvm does not exist'
          : '/dev/kvm is not readable and writable by this user',
      fix:
        devKvm === 'missing'
          ? `sudo modprobe ${vendorModule ?? 'kvm'}`
          : 'sudo usermod -aG kvm "$USER" (then log in again), or: sudo chgrp kvm /dev/kvm && sudo chmod 0660 /dev/kvm',
    };
  }
  return { ...base, usable: true };
}
