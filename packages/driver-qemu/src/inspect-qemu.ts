import {
  type Accelerator,
  accelerationFix,
  installFix,
  parseAccelHelp,
  parseQemuVersion,
  platformAccelerator,
} from './accelerators.js';
import { findProgram, qemuArch } from './find-qemu.js';
import type { ProbeEnvironment } from './probe-environment.js';

/** What {@link inspectQemu} is asked to find. */
export interface InspectSettings {
  /** `qemu-system-<arch>` or a path (default: the one of the machine's architecture). */
  readonly qemu?: string | undefined;
  /** `qemu-img` or a path. */
  readonly qemuImg?: string | undefined;
  /** `auto`: the platform's accelerator when it really works, else TCG; `tcg`: always TCG. */
  readonly acceleration: 'auto' | 'tcg';
}

/** A QEMU that cannot be used, and why. */
export interface QemuMissing {
  readonly usable: false;
  readonly installed: boolean;
  readonly reason: string;
  readonly fix: string;
  readonly details: Record<string, unknown>;
}

/** A usable QEMU: its programs, version and the accelerator the driver will use. */
export interface QemuFound {
  readonly usable: true;
  readonly binary: string;
  readonly qemuImg: string;
  readonly version: string;
  readonly arch: string;
  readonly accelerator: Accelerator;
  /** Why the platform's accelerator is not used, and what to do (TCG only). */
  readonly degraded?: { readonly reason: string; readonly fix: string };
  readonly details: Record<string, unknown>;
}

const firstLine = (text: string) =>
  text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find(Boolean) ?? '';

/** QMP input that makes a trial QEMU answer once and quit. */
const TRIAL_INPUT = '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n';

/**
 * Finds QEMU and decides how it can run guests here, without side effects: the programs, the
 * version, the accelerators of `-accel help`, and whether the platform's accelerator really
 * works (Linux: a VT-x/AMD-V flag, its module and a usable `/dev/kvm`; macOS:
 * `kern.hv_support`; then, everywhere, a trial QEMU with `-machine none` on that accelerator).
 */
export async function inspectQemu(
  settings: InspectSettings,
  env: ProbeEnvironment,
  signal?: AbortSignal,
): Promise<QemuMissing | QemuFound> {
  const arch = qemuArch(env.arch);
  const program = settings.qemu ?? `qemu-system-${arch}`;
  const details: Record<string, unknown> = { program };
  const binary = await findProgram(env, program);
  if (!binary) {
    return {
      usable: false,
      installed: false,
      reason: `${program} is not installed`,
      fix: installFix(env.platform),
      details,
    };
  }
  details['binary'] = binary;
  const versionRun = await env.run(binary, ['--version'], { signal }).catch((e: unknown) => e as Error);
  const version = versionRun instanceof Error ? undefined : parseQemuVersion(versionRun.stdout);
  if (versionRun instanceof Error || versionRun.exitCode !== 0 || !version) {
    const why =
      versionRun instanceof Error
        ? versionRun.message
        : firstLine(versionRun.stderr) || `exit code ${versionRun.exitCode}`;
    return {
      usable: false,
      installed: true,
      reason: `${binary} --version failed: ${why}`,
      fix: `reinstall QEMU (${installFix(env.platform)})`,
      details,
    };
  }
  details['version'] = version;
  const qemuImg = await findProgram(env, settings.qemuImg ?? 'qemu-img');
  if (!qemuImg) {
    return {
      usable: false,
      installed: true,
      reason: 'qemu-img is not installed (it makes the disks)',
      fix:
        env.platform === 'linux'
          ? 'Debian/Ubuntu: sudo apt-get install qemu-utils; Fedora: sudo dnf install qemu-img'
          : installFix(env.platform),
      details,
    };
  }
  details['qemuImg'] = qemuImg;
  const help = await env.run(binary, ['-accel', 'help'], { signal }).catch(() => undefined);
  const accelerators = help?.exitCode === 0 ? parseAccelHelp(help.stdout) : [];
  details['accelerators'] = accelerators;
  const found = { usable: true as const, binary, qemuImg, version, arch, details };

  const hardware = platformAccelerator(env.platform);
  let degraded: { reason: string; fix: string } | undefined;
  if (settings.acceleration === 'tcg') {
    degraded = { reason: 'acceleration "tcg" was asked for', fix: 'use acceleration "auto"' };
  } else if (!hardware) {
    degraded = { reason: `QEMU has no hardware accelerator on ${env.platform}`, fix: 'none' };
  } else if (!accelerators.includes(hardware)) {
    degraded = {
      reason: `this QEMU build has no ${hardware} accelerator (-accel help: ${accelerators.join(', ') || 'nothing'})`,
      fix: `install a QEMU built with ${hardware} (${installFix(env.platform)})`,
    };
  } else {
    degraded = await hardwareObstacle(hardware, env, signal, details);
    if (!degraded) {
      const trial = await tryAccelerator(binary, hardware, env, signal);
      if (trial) degraded = { reason: trial, fix: accelerationFix(hardware) };
    }
  }
  if (!degraded && hardware)
    return { ...found, accelerator: hardware, details: { ...details, acceleration: hardware } };

  const tcgFailure = accelerators.includes('tcg')
    ? await tryAccelerator(binary, 'tcg', env, signal)
    : `this QEMU build has no tcg accelerator`;
  if (tcgFailure) {
    return {
      usable: false,
      installed: true,
      reason: `QEMU cannot run a machine: ${degraded ? `${degraded.reason}, and ` : ''}${tcgFailure}`,
      fix: degraded?.fix ?? `reinstall QEMU (${installFix(env.platform)})`,
      details,
    };
  }
  return {
    ...found,
    accelerator: 'tcg',
    ...(degraded ? { degraded } : {}),
    details: { ...details, acceleration: 'tcg' },
  };
}

/** Why the platform's accelerator cannot work, from what the OS says; `undefined` when it may. */
async function hardwareObstacle(
  hardware: Exclude<Accelerator, 'tcg'>,
  env: ProbeEnvironment,
  signal: AbortSignal | undefined,
  details: Record<string, unknown>,
): Promise<{ reason: string; fix: string } | undefined> {
  if (hardware === 'kvm') {
    const facts = await env.kvmFacts();
    details['cpuFlag'] = facts.cpuFlag ?? null;
    details['kvmModules'] = facts.modules;
    details['devKvm'] = facts.devKvm;
    if (!facts.usable)
      return { reason: facts.reason ?? 'KVM is not usable', fix: facts.fix ?? accelerationFix('kvm') };
    return undefined;
  }
  if (hardware === 'hvf') {
    const sysctl = await env.run('sysctl', ['-n', 'kern.hv_support'], { signal }).catch(() => undefined);
    const value = sysctl?.stdout.trim();
    details['kernHvSupport'] = value ?? null;
    if (value !== '1')
      return {
        reason: `Hypervisor.framework is not available (sysctl kern.hv_support: ${value || 'no answer'})`,
        fix: accelerationFix('hvf'),
      };
  }
  return undefined;
}

/**
 * Starts QEMU with no machine on `accelerator`, and quits it over QMP on standard input: the
 * accelerator's own initialisation is the test (WHPX has no other cheap one). Resolves the
 * failure's first line, or `undefined` when it worked.
 */
async function tryAccelerator(
  binary: string,
  accelerator: Accelerator,
  env: ProbeEnvironment,
  signal: AbortSignal | undefined,
): Promise<string | undefined> {
  const args = [
    '-machine',
    'none',
    '-accel',
    accelerator,
    '-nodefaults',
    '-display',
    'none',
    '-qmp',
    'stdio',
  ];
  const result = await env
    .run(binary, args, { signal, input: TRIAL_INPUT })
    .catch((e: unknown) => e as Error);
  if (result instanceof Error) return `${accelerator} trial failed: ${result.message}`;
  if (result.exitCode === 0) return undefined;
  const lines = result.stderr.split(/\r?\n/).filter((l) => l.trim() !== '');
  return `${accelerator} does not start: ${lines.at(-1)?.trim() ?? `exit code ${result.exitCode}`}`;
}
