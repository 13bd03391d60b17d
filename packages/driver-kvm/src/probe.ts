import type { ActionOptions, ProbeResult } from '@cvmweb/core';
import {
  describeEnding,
  detectAcceleration,
  firstLine,
  type ProcessResult,
  type ProcessRunner,
} from '@cvmweb/core/node';
import { hostHasVirtualization } from './host-capabilities.js';
import { isRemoteUri, isSessionUri } from './kvm-options.js';
import { parseVersion } from './virsh-parsers.js';

/** What the probe needs to know. */
export interface ProbeSettings {
  readonly runner: ProcessRunner;
  readonly uri: string;
  readonly virsh: string;
  readonly qemuImg: string;
  readonly acceleration: 'auto' | 'kvm' | 'tcg';
}

const INSTALL_FIX =
  'Debian/Ubuntu: sudo apt-get install qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients; Fedora: sudo dnf install @virtualization';

/** Scores: KVM is the Linux-native accelerated hypervisor; TCG is software emulation. */
export const KVM_SCORE = 90;
/** The score of a healthy libvirt that can only emulate (TCG). */
export const TCG_SCORE = 25;

/** The driver's probe: never throws, no side effects. */
export async function probeKvm(settings: ProbeSettings, options: ActionOptions = {}): Promise<ProbeResult> {
  const { runner, uri } = settings;
  const run = (file: string, args: string[]) =>
    runner.run(file, args, { timeoutMs: 4000, signal: options.signal, reject: false });
  const details: Record<string, unknown> = { uri };

  const virshVersion = await run(settings.virsh, ['--version']).catch((error: unknown) => error);
  if (virshVersion instanceof Error || (virshVersion as { exitCode: number }).exitCode !== 0) {
    return {
      installed: false,
      healthy: false,
      score: 0,
      reason: 'virsh is not installed',
      fix: INSTALL_FIX,
      details,
    };
  }
  const qemuImg = await run(settings.qemuImg, ['--version']).catch((error: unknown) => error);
  if (qemuImg instanceof Error || (qemuImg as { exitCode: number }).exitCode !== 0) {
    return {
      installed: false,
      healthy: false,
      score: 0,
      reason: 'qemu-img is not installed',
      fix: INSTALL_FIX,
      details,
    };
  }

  const version = await run(settings.virsh, ['-c', uri, 'version']).catch((error: unknown) => error);
  if (version instanceof Error || (version as { exitCode: number }).exitCode !== 0) {
    const why =
      version instanceof Error
        ? version.message
        : firstLine((version as ProcessResult).stderr) || describeEnding(version as ProcessResult);
    return {
      installed: true,
      healthy: false,
      score: 0,
      reason: `libvirt does not answer at ${uri}: ${why}`,
      fix: isSessionUri(uri)
        ? 'start the system daemon (sudo systemctl start libvirtd; without systemd: sudo libvirtd -d; in this repository: npm run setup:libvirt) and use qemu:///system, or start a session daemon (virtqemud or libvirtd) as this user'
        : 'sudo systemctl start libvirtd (without systemd: sudo libvirtd -d; in this repository: npm run setup:libvirt)',
      details,
    };
  }
  const parsed = parseVersion((version as { stdout: string }).stdout);
  details['libvirt'] = parsed.libvirt;
  if (parsed.hypervisorName !== 'QEMU') {
    return {
      installed: true,
      healthy: false,
      score: 0,
      reason: `libvirt at ${uri} has no QEMU hypervisor`,
      fix: 'Debian/Ubuntu: sudo apt-get install qemu-system-x86; Fedora: sudo dnf install qemu-kvm',
      details,
    };
  }
  const versionText = `libvirt ${parsed.libvirt ?? '?'}, QEMU ${parsed.hypervisor ?? '?'}`;

  if (isRemoteUri(uri)) {
    details['cpuCapabilities'] = 'read from the remote host by virsh capabilities';
    const caps = await run(settings.virsh, ['-c', uri, 'capabilities']).catch(() => undefined);
    let hasFlag = false;
    try {
      hasFlag = caps?.exitCode === 0 && hostHasVirtualization(caps.stdout);
    } catch {
      // Not well-formed: no flag can be read (the probe never throws).
    }
    details['remoteCpuFlag'] = hasFlag;
    if (!hasFlag || settings.acceleration === 'tcg')
      return degraded(versionText, details, 'the remote host shows no VT-x/AMD-V flag');
    return {
      installed: true,
      healthy: true,
      score: KVM_SCORE,
      version: versionText,
      details: { ...details, acceleration: 'kvm' },
    };
  }

  if (isSessionUri(uri))
    details['cpuCapabilities'] = 'unavailable at session URIs (read from this machine instead)';
  const facts = await detectAcceleration();
  details['cpuFlag'] = facts.cpuFlag ?? null;
  details['kvmModules'] = facts.modules;
  details['devKvm'] = facts.devKvm;
  if (settings.acceleration === 'kvm' && !facts.usable) {
    return {
      installed: true,
      healthy: false,
      score: 0,
      version: versionText,
      reason: `acceleration "kvm" was asked for, but ${facts.reason ?? 'KVM is not usable'}`,
      ...(facts.fix ? { fix: facts.fix } : {}),
      details,
    };
  }
  if (!facts.usable || settings.acceleration === 'tcg') {
    return degraded(versionText, details, facts.reason ?? 'acceleration "tcg" was asked for', facts.fix);
  }
  return {
    installed: true,
    healthy: true,
    score: KVM_SCORE,
    version: versionText,
    details: { ...details, acceleration: 'kvm' },
  };
}

function degraded(
  version: string,
  details: Record<string, unknown>,
  reason: string,
  fix?: string,
): ProbeResult {
  return {
    installed: true,
    healthy: true,
    score: TCG_SCORE,
    version,
    reason: `degraded: ${reason}`,
    fix: fix ?? 'enable VT-x/AMD-V (or nested virtualisation) and load kvm_intel or kvm_amd',
    details: { ...details, acceleration: 'tcg' },
  };
}
