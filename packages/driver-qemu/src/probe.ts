import type { ActionOptions, ProbeResult } from '@cvmweb/core';
import { type InspectSettings, inspectQemu } from './inspect-qemu.js';
import type { ProbeEnvironment } from './probe-environment.js';

/**
 * Score of QEMU with the platform's hardware accelerator. On Linux it stays below a healthy
 * libvirt (the KVM driver: 90, 25 under TCG), which keeps VMs in a system service with cgroups
 * and managed save; on macOS and Windows it comes after VirtualBox (100), the native choice there.
 */
export function acceleratedScore(platform: NodeJS.Platform): number {
  return platform === 'linux' ? 85 : 90;
}

/** Score of QEMU that can only emulate (TCG): below libvirt under TCG (25). */
export const QEMU_TCG_SCORE = 20;

/** The driver's probe: never throws, no side effects (a trial QEMU runs no guest and quits). */
export async function probeQemu(
  settings: InspectSettings,
  env: ProbeEnvironment,
  options: ActionOptions = {},
): Promise<ProbeResult> {
  try {
    const found = await inspectQemu(settings, env, options.signal);
    if (!found.usable) {
      return {
        installed: found.installed,
        healthy: false,
        score: 0,
        reason: found.reason,
        fix: found.fix,
        details: found.details,
      };
    }
    const version = `QEMU ${found.version} (${found.accelerator})`;
    if (found.degraded) {
      return {
        installed: true,
        healthy: true,
        score: QEMU_TCG_SCORE,
        version,
        reason: /TCG/.test(found.degraded.reason)
          ? `degraded: ${found.degraded.reason}`
          : `degraded: ${found.degraded.reason}: QEMU emulates the CPU in software (TCG)`,
        fix: found.degraded.fix,
        details: found.details,
      };
    }
    return {
      installed: true,
      healthy: true,
      score: acceleratedScore(env.platform),
      version,
      details: found.details,
    };
  } catch (error) {
    return {
      installed: false,
      healthy: false,
      score: 0,
      reason: `probing QEMU failed: ${error instanceof Error ? error.message : String(error)}`,
      fix: 'run cvmweb detect --debug',
    };
  }
}
