import type { VBoxErrorInfo } from './vbox-error-info.js';

/** A host problem VirtualBox reports in its own words, what it means, and what fixes it. */
export interface FailureHint {
  /** A stable name of the problem, in `details.problem`. */
  readonly problem:
    | 'kvm-holds-vtx'
    | 'vtx-disabled'
    | 'hyperv-holds-vtx'
    | 'kernel-driver'
    | 'vboxsvc'
    | 'folder-not-writable'
    | 'locked-by-other-process'
    | 'inaccessible';
  /** What is wrong, for people. */
  readonly reason: string;
  /** What the person can do about it. */
  readonly fix: string;
}

type Rule = FailureHint & { readonly match: (text: string, info: VBoxErrorInfo) => boolean };

const status =
  (...names: string[]) =>
  (_text: string, info: VBoxErrorInfo) =>
    names.includes(info.status ?? '');

/**
 * The failures volunteers hit, matched on VirtualBox's status codes and texts (each text is
 * quoted from VirtualBox's source or a public recording in fixtures/SOURCES.md, "failure modes").
 */
const RULES: readonly Rule[] = [
  {
    problem: 'kvm-holds-vtx',
    match: status('VERR_VMX_IN_VMX_ROOT_MODE', 'VERR_SVM_IN_USE'),
    reason: 'KVM holds the CPU virtualization (VT-x/AMD-V), so VirtualBox cannot use it',
    fix: 'stop KVM guests and unload it (sudo modprobe -r kvm_intel kvm_amd), or boot with kvm.enable_virt_at_load=0; or use the kvm driver',
  },
  {
    problem: 'vtx-disabled',
    match: status(
      'VERR_VMX_MSR_ALL_VMX_DISABLED',
      'VERR_VMX_MSR_VMX_DISABLED',
      'VERR_VMX_MSR_VMXON_DISABLED',
      'VERR_VMX_MSR_SMX_VMX_DISABLED',
      'VERR_SVM_DISABLED',
    ),
    reason: 'the CPU virtualization (Intel VT-x / AMD-V) is turned off in the firmware',
    fix: 'reboot into the BIOS/UEFI set-up and enable "Intel Virtualization Technology" (VT-x) or "SVM Mode" (AMD-V), then power the computer off and on',
  },
  {
    problem: 'hyperv-holds-vtx',
    match: (text, info) =>
      /^VERR_NEM_/.test(info.status ?? '') ||
      info.status === 'VERR_SUPDRV_NO_RAW_MODE_HYPER_V_ROOT' ||
      /WHvSetupPartition|courtesy of Hyper-V/.test(text),
    reason:
      'Hyper-V (or WSL2, Windows Sandbox, Memory Integrity) holds VT-x: VirtualBox can only run on the Windows hypervisor, slowly or not at all',
    fix: 'turn off Hyper-V, Virtual Machine Platform, Windows Hypervisor Platform and Memory Integrity (or run: bcdedit /set hypervisorlaunchtype off), then reboot',
  },
  {
    problem: 'kernel-driver',
    match: (text, info) =>
      /^VERR_VM_DRIVER_|^VERR_SUPDRV_/.test(info.status ?? '') ||
      /\/dev\/vboxdrv|vboxdrv kernel module|kernel driver not installed/i.test(text),
    reason: 'the VirtualBox kernel driver (vboxdrv) is not loaded',
    fix: 'sudo /sbin/vboxconfig (older packages: sudo /usr/lib/virtualbox/vboxdrv.sh setup; Debian/Ubuntu: sudo apt install virtualbox-dkms linux-headers-$(uname -r) && sudo modprobe vboxdrv); with Secure Boot, sign the modules or enroll the key',
  },
  {
    problem: 'vboxsvc',
    match: (text) =>
      /Failed to create the VirtualBox object|VirtualBox COM server is not running|Failed to acquire the VirtualBox COM object/i.test(
        text,
      ),
    reason: "VirtualBox's background service (VBoxSVC) is not answering",
    fix: 'close every VirtualBox window, end stale VBoxSVC processes (or log out and in again), then retry; if it persists, reinstall VirtualBox',
  },
  {
    problem: 'folder-not-writable',
    match: (text, info) =>
      (info.status === 'VERR_ACCESS_DENIED' || info.status === 'VERR_WRITE_PROTECT') &&
      /Could not create the directory|settings file|Could not create the medium storage unit/i.test(text),
    reason: 'the VirtualBox machine folder cannot be written',
    fix: 'make the folder writable for this user (or choose another baseFolder), and check that its disk is mounted read-write',
  },
];

/** The hint for a failure, when it is one of the known host problems. */
export function hintFor(info: VBoxErrorInfo): FailureHint | undefined {
  const rule = RULES.find((r) => r.match(info.message, info));
  return rule ? { problem: rule.problem, reason: rule.reason, fix: rule.fix } : undefined;
}
