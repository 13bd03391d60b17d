// What the VBoxManage double says, version by version: the option spellings each version accepts
// and VirtualBox's own error texts. Every text names where it was taken from (VirtualBox's source
// or a public recording; the recordings are listed in ../fixtures/SOURCES.md, "failure modes").

/** `major.minor` of a version string such as `7.0.14_SUSEr161095`. */
export function versionNumbers(version) {
  const match = /^(\d+)\.(\d+)/.exec(version) ?? [];
  return { major: Number(match[1] ?? 7), minor: Number(match[2] ?? 0) };
}

/**
 * The dashed `modifyvm` spellings 7.0 added next to the old ones (VBoxManageModifyVM.cpp,
 * `g_aModifyVMOptions`, `OPT2("--cpu-execution-cap", "--cpuexecutioncap", …)` and so on, read in
 * cyberus-technology/virtualbox-kvm commit 011263c, a 7.0.14 tree; kaisenlinux/virtualbox commit bcf5d14,
 * 7.1.4; hamzajazib/virtualbox commit 7f51f9a, trunk after 7.2). 6.1 and older have only the old names
 * (`{ "--cpuexecutioncap", … }`, pop-os/virtualbox commit 01d6daa, a 5.x tree). Each maps to the old name.
 */
const DASHED_MODIFYVM = {
  '--cpu-execution-cap': '--cpuexecutioncap',
  '--nat-pf1': '--natpf1',
  '--os-type': '--ostype',
  '--nat-dns-host-resolver1': '--natdnshostresolver1',
  '--host-only-adapter2': '--hostonlyadapter2',
  '--vrde-address': '--vrdeaddress',
  '--vrde-auth-type': '--vrdeauthtype',
  '--vrde-port': '--vrdeport',
  '--vrde-auth-library': '--vrdeauthlibrary',
};

/** The `modifyvm` aliases a version accepts: none before 7.0. */
export function modifyVmAliases(major) {
  return major >= 7 ? DASHED_MODIFYVM : {};
}

/** Texts of the failures volunteers hit, as `VBoxManage: error:` message lines and a `Details:` code. */
export const FAILURES = {
  // minikube#4378 (startvm --type headless, Linux): VMM's HM init text.
  'vtx-disabled': {
    message: 'VT-x is disabled in the BIOS for all CPU modes (VERR_VMX_MSR_ALL_VMX_DISABLED)',
    code: 'FAILURE',
    component: 'ConsoleWrap',
    iface: 'IConsole',
  },
  // minikube#4672 (VBoxManage.exe startvm on Windows with Hyper-V): NEM's WHv text.
  nem: {
    message:
      'Call to WHvSetupPartition failed: ERROR_SUCCESS (Last=0xc000000d/87) (VERR_NEM_VM_CREATE_FAILED)',
    code: 'E_FAIL',
    component: 'ConsoleWrap',
    iface: 'IConsole',
  },
  // void-linux/void-packages#33920 (6.1.26): the support library's text when /dev/vboxdrv is missing.
  vboxdrv: {
    message:
      "Kernel driver not installed (rc=-1908)\nThe VirtualBox Linux kernel driver is either not loaded or not set up correctly. Please try setting it up again by executing\n'/sbin/vboxconfig'\nas root.\nwhere: suplibOsInit what: 3 VERR_VM_DRIVER_NOT_INSTALLED (-1908) - The support driver is not installed. On linux, open returned ENOENT.",
    code: 'FAILURE',
    component: 'ConsoleWrap',
    iface: 'IConsole',
  },
  // minikube#4913 (startvm with KVM loaded).
  'vmx-root': {
    message:
      "VT-x is being used by another hypervisor (VERR_VMX_IN_VMX_ROOT_MODE).\nVirtualBox can't operate in VMX root mode. Please disable the KVM kernel extension, recompile your kernel and reboot (VERR_VMX_IN_VMX_ROOT_MODE)",
    code: 'FAILURE',
    component: 'ConsoleWrap',
    iface: 'IConsole',
  },
};

/**
 * VBoxSVC not answering (hashicorp/vagrant#1622, `VBoxManage.exe list vms`): VBoxManage.cpp's
 * "Failed to create the VirtualBox object!" and the glue's hint, with no `Details:` line.
 */
export const VBOXSVC_DOWN = [
  'Failed to create the VirtualBox object!',
  'Code CO_E_SERVER_EXEC_FAILURE (0x80080005) - Server execution failed (extended info not available)',
  'Most likely, the VirtualBox COM server is not running or failed to start.',
];

/**
 * A machine folder that cannot be written (hashicorp/vagrant#9512: the same Main text from
 * `import`; createvm's own Details line was not found in a recording, so the recorded one is used).
 */
export function folderNotWritable(folder) {
  return {
    message: `Could not create the directory '${folder}' (VERR_ACCESS_DENIED)`,
    code: 'IPRT_ERROR',
    component: 'ApplianceWrap',
    iface: 'IAppliance',
  };
}

/**
 * An inaccessible machine. 7.2's `showvminfo` locks it first and fails (hashicorp/vagrant#13741,
 * VirtualBox 7.2 on Linux: "The object functionality is limited", E_ACCESSDENIED, context
 * `LockMachine(a->session, LockType_Shared)` at line 3327 of VBoxManageInfo.cpp); the access error
 * that `list --long vms` prints is the settings loader's (hashicorp/vagrant-list#1's recording:
 * "Runtime error opening '…' for reading: -102 (File not found.).").
 */
export const INACCESSIBLE = {
  limited: 'The object functionality is limited',
  lockContext: '"LockMachine(a->session, LockType_Shared)" at line 3327 of file VBoxManageInfo.cpp',
  accessError: (file) => `Runtime error opening '${file}' for reading: -102 (File not found.).`,
};
