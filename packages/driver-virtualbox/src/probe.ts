import { access, constants, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { ActionOptions, ProbeResult } from '@cvmweb/core';
import { createProcessRunner, type ProcessResult, processError } from '@cvmweb/core/node';
import { versionCommand } from './commands.js';
import { isSupportedVersion, MINIMUM_VERSION, parseVersion, shortVersion } from './version-parser.js';

/** What the probe reads from the machine; tests replace it. */
export interface ProbeEnvironment {
  /** The operating system, as `process.platform` names it. */
  readonly platform: NodeJS.Platform;
  /** The environment the probe reads (`PATH`, `VBOX_MSI_INSTALL_PATH`, …). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** True when `file` exists and can be run. */
  isExecutable(file: string): Promise<boolean>;
  /** A small text file's content, `undefined` when it cannot be read. */
  readText(file: string): Promise<string | undefined>;
  /** The `InstallDir` value of VirtualBox in the Windows registry. */
  windowsInstallDir(signal?: AbortSignal): Promise<string | undefined>;
  /** Runs `<program> --version`; rejects when it does not run to an exit. */
  version(program: string, signal?: AbortSignal): Promise<ProcessResult>;
}

/** Score of a healthy VirtualBox: below a healthy KVM (100) on Linux, first on macOS and Windows. */
export function healthyScore(platform: NodeJS.Platform): number {
  return platform === 'linux' ? 80 : 100;
}

/** The probe's environment on this machine, with `extraEnv` (such as `VBOX_USER_HOME`) for the version run. */
export function systemProbeEnvironment(
  extraEnv: Readonly<Record<string, string | undefined>> = {},
): ProbeEnvironment {
  const runner = createProcessRunner({ env: extraEnv, timeoutMs: 4000 });
  return {
    platform: process.platform,
    env: process.env,
    isExecutable: async (file) =>
      access(file, process.platform === 'win32' ? constants.F_OK : constants.X_OK).then(
        () => true,
        () => false,
      ),
    readText: (file) => readFile(file, 'utf8').catch(() => undefined),
    windowsInstallDir: async (signal) => {
      if (process.platform !== 'win32') return undefined;
      const result = await runner
        .run('reg', ['query', 'HKLM\\SOFTWARE\\Oracle\\VirtualBox', '/v', 'InstallDir'], {
          signal,
          timeoutMs: 3000,
          reject: false,
        })
        .catch(() => undefined);
      return /InstallDir\s+REG_SZ\s+(.+)$/m.exec(result?.stdout ?? '')?.[1]?.trim();
    },
    version: async (program, signal) => {
      const result = await runner.run(program, versionCommand(), { signal, reject: false });
      if (result.exitCode === undefined) throw processError(result);
      return result;
    },
  };
}

/** The usual install folders of VirtualBox per OS, searched after `PATH` and the install variables. */
export function usualFolders(platform: NodeJS.Platform): string[] {
  switch (platform) {
    case 'darwin':
      return ['/Applications/VirtualBox.app/Contents/MacOS', '/usr/local/bin'];
    case 'win32':
      return ['C:\\Program Files\\Oracle\\VirtualBox', 'C:\\Program Files (x86)\\Oracle\\VirtualBox'];
    default:
      return ['/usr/bin', '/usr/local/bin', '/opt/VirtualBox', '/usr/lib/virtualbox'];
  }
}

/**
 * Finds `VBoxManage`: `PATH`, then `VBOX_MSI_INSTALL_PATH` and `VBOX_INSTALL_PATH`, the Windows
 * registry's `InstallDir`, and the usual folders of the OS. Resolves `undefined` when absent.
 */
export async function findVBoxManage(
  env: ProbeEnvironment,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const win = env.platform === 'win32';
  const paths = win ? path.win32 : path.posix;
  const names = win ? ['VBoxManage.exe'] : ['VBoxManage', 'vboxmanage'];
  const split = (value: string | undefined) => (value ?? '').split(win ? ';' : ':').filter(Boolean);
  const folders = [
    ...split(env.env['PATH'] ?? env.env['Path']),
    ...split(env.env['VBOX_MSI_INSTALL_PATH']),
    ...split(env.env['VBOX_INSTALL_PATH']),
  ];
  const tried = new Set<string>();
  const look = async (list: readonly string[]) => {
    for (const folder of list) {
      for (const name of names) {
        const file = paths.join(folder, name);
        if (tried.has(file)) continue;
        tried.add(file);
        if (await env.isExecutable(file)) return file;
      }
    }
    return undefined;
  };
  const found = await look(folders);
  if (found) return found;
  const registry = win ? await env.windowsInstallDir(signal) : undefined;
  return look([...(registry ? [registry] : []), ...usualFolders(env.platform)]);
}

function installFix(platform: NodeJS.Platform): string {
  switch (platform) {
    case 'darwin':
      return 'install VirtualBox from https://www.virtualbox.org/wiki/Downloads (or: brew install --cask virtualbox)';
    case 'win32':
      return 'install VirtualBox from https://www.virtualbox.org/wiki/Downloads';
    default:
      return 'install VirtualBox 6.1 or later (e.g. sudo apt install virtualbox, or the package from https://www.virtualbox.org/wiki/Linux_Downloads)';
  }
}

/**
 * KVM holds VT-x/AMD-V when its vendor module is loaded and (Linux 6.12+) enables virtualization at
 * load time; VirtualBox then fails every start with `VERR_VMX_IN_VMX_ROOT_MODE`.
 */
async function kvmHoldsVirtualization(env: ProbeEnvironment): Promise<string | undefined> {
  if (env.platform !== 'linux') return undefined;
  const atLoad = (await env.readText('/sys/module/kvm/parameters/enable_virt_at_load'))?.trim();
  if (atLoad !== 'Y' && atLoad !== '1') return undefined;
  for (const vendor of ['kvm_intel', 'kvm_amd']) {
    if ((await env.readText(`/sys/module/${vendor}/initstate`))?.trim() === 'live') return vendor;
  }
  return undefined;
}

/** Options of {@link probeVirtualBox}. */
export interface ProbeOptions extends ActionOptions {
  /** Use this program instead of searching. */
  program?: string | undefined;
  environment?: ProbeEnvironment | undefined;
}

/**
 * The VirtualBox probe: not installed (no `VBoxManage`), broken (its version cannot be read, is
 * older than {@link MINIMUM_VERSION}, the kernel module is missing, KVM holds the CPU's
 * virtualization), or healthy with {@link healthyScore}. Never throws.
 */
export async function probeVirtualBox(options: ProbeOptions = {}): Promise<ProbeResult> {
  const env = options.environment ?? systemProbeEnvironment();
  const signal = options.signal;
  const program = options.program ?? (await findVBoxManage(env, signal));
  if (!program) {
    return {
      installed: false,
      healthy: false,
      score: 0,
      reason:
        'VBoxManage was not found on PATH, in VBOX_MSI_INSTALL_PATH/VBOX_INSTALL_PATH or in the usual folders',
      fix: installFix(env.platform),
    };
  }
  let result: ProcessResult;
  try {
    result = await env.version(program, signal);
  } catch (error) {
    return {
      installed: true,
      healthy: false,
      score: 0,
      reason: `${program} --version failed: ${error instanceof Error ? error.message : String(error)}`,
      fix: `reinstall VirtualBox (${installFix(env.platform)})`,
      details: { program },
    };
  }
  const version = parseVersion(result.stdout);
  if (!version) {
    return {
      installed: true,
      healthy: false,
      score: 0,
      reason: `${program} --version printed no version: ${(result.stdout + result.stderr).trim().slice(0, 200)}`,
      fix: `reinstall VirtualBox (${installFix(env.platform)})`,
      details: { program, exitCode: result.exitCode },
    };
  }
  const details = {
    program,
    version: version.raw,
    ...(version.suffix ? { distribution: version.suffix } : {}),
    ...(version.revision ? { revision: version.revision } : {}),
    ...(version.warnings.length ? { warnings: version.warnings } : {}),
  };
  const base = { installed: true, version: shortVersion(version), details };
  const driverWarning = version.warnings.find((w) => /vboxdrv|kernel module/i.test(w));
  if (driverWarning) {
    const dkms = /virtualbox-dkms/i.test(driverWarning);
    return {
      ...base,
      healthy: false,
      score: 0,
      reason: `the VirtualBox kernel driver is not available: ${driverWarning}`,
      fix: dkms
        ? 'sudo apt install virtualbox-dkms linux-headers-generic, then sudo modprobe vboxdrv'
        : 'sudo /sbin/vboxconfig (install the kernel headers first if it asks for them)',
    };
  }
  if (!isSupportedVersion(version)) {
    return {
      ...base,
      healthy: false,
      score: 0,
      reason: `VirtualBox ${shortVersion(version)} is older than the minimum ${MINIMUM_VERSION.major}.${MINIMUM_VERSION.minor}`,
      fix: `upgrade VirtualBox to ${MINIMUM_VERSION.major}.${MINIMUM_VERSION.minor} or later (${installFix(env.platform)})`,
    };
  }
  const kvm = await kvmHoldsVirtualization(env);
  if (kvm) {
    return {
      ...base,
      healthy: false,
      score: 0,
      reason: `KVM (${kvm}) holds the CPU's virtualization: VirtualBox would fail with VERR_VMX_IN_VMX_ROOT_MODE`,
      fix: `stop KVM guests and run: sudo modprobe -r ${kvm} kvm (or boot with kvm.enable_virt_at_load=0); or use the kvm driver`,
    };
  }
  return { ...base, healthy: true, score: healthyScore(env.platform) };
}
