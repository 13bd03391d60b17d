import type { ActionOptions, Driver, DriverCapabilities, Hypervisor, ProbeResult } from '@cvmweb/core';
import { HypervisorError } from '@cvmweb/core';
import { createProcessRunner } from '@cvmweb/core/node';
import { probeQemu } from './probe.js';
import { systemProbeEnvironment } from './probe-environment.js';
import type { QemuOptions } from './qemu-options.js';

/**
 * The cvmweb driver that runs QEMU directly, without libvirt: one daemonised QEMU per VM,
 * controlled over QMP, hardware-accelerated where the platform allows (KVM, HVF, WHPX) and
 * emulated (TCG) elsewhere.
 *
 * @example
 * ```ts
 * // createCvmweb comes from @cvmweb/core.
 * const cvmweb = await createCvmweb({ driver: qemu() });
 * ```
 */
export function qemu(options: QemuOptions = {}): Driver {
  const runner =
    options.runner ??
    createProcessRunner({ timeoutMs: options.commandTimeoutMs ?? 60_000, onDebug: options.onDebug });
  const settings = {
    qemu: options.qemu,
    qemuImg: options.qemuImg,
    acceleration: options.acceleration ?? 'auto',
  } as const;
  const capabilities: DriverCapabilities = Object.freeze({
    executionCap: false,
    pause: true,
    hibernate: false,
    reset: true,
    guestProperties: false,
    apiPortForwarding: true,
  });
  return {
    name: 'qemu',
    capabilities,
    probe: (o?: ActionOptions): Promise<ProbeResult> =>
      probeQemu(settings, systemProbeEnvironment(runner), o),
    async create(): Promise<Hypervisor> {
      throw new HypervisorError('NOT_IMPLEMENTED', 'the QEMU driver cannot run VMs yet');
    },
  };
}
