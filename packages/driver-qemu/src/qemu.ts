import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { ActionOptions, Driver, DriverCapabilities, Hypervisor, ProbeResult } from '@cvmweb/core';
import { defaultStateDir, HypervisorError } from '@cvmweb/core';
import { createProcessRunner } from '@cvmweb/core/node';
import { probeCpuCap, readSelfCgroup } from './cgroup-cpu-cap.js';
import { findAarch64Firmware } from './firmware.js';
import { inspectQemu } from './inspect-qemu.js';
import { probeQemu } from './probe.js';
import { systemProbeEnvironment } from './probe-environment.js';
import type { QemuContext } from './qemu-context.js';
import { QemuHypervisor } from './qemu-hypervisor.js';
import type { QemuOptions } from './qemu-options.js';
import { VmEvents } from './vm-events.js';

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
    executionCap: true,
    pause: true,
    hibernate: true,
    reset: true,
    guestProperties: true,
    apiPortForwarding: true,
    display: true,
    screenshot: true,
  });
  return {
    name: 'qemu',
    capabilities,
    probe: (o?: ActionOptions): Promise<ProbeResult> =>
      probeQemu(settings, systemProbeEnvironment(runner), o),
    async create(o?: ActionOptions): Promise<Hypervisor> {
      const found = await inspectQemu(settings, systemProbeEnvironment(runner), o?.signal);
      if (!found.usable) {
        throw new HypervisorError('EXTERNAL', found.reason, {
          details: { ...found.details, fix: found.fix },
        });
      }
      const cap = await probeCpuCap({
        root: options.cgroupRoot ?? '/sys/fs/cgroup',
        selfCgroup: await readSelfCgroup(),
        platform: process.platform,
      });
      const context: QemuContext = {
        runner,
        binary: found.binary,
        qemuImg: found.qemuImg,
        accelerator: found.accelerator,
        arch: found.arch,
        firmware:
          found.arch === 'aarch64'
            ? await findAarch64Firmware({ platform: process.platform, exists: fileExists }, found.binary)
            : undefined,
        root: options.directory ?? join(defaultStateDir(), 'qemu'),
        shutdownTimeoutMs: options.shutdownTimeoutMs ?? 30_000,
        commandTimeoutMs: options.commandTimeoutMs ?? 60_000,
        serialLog: options.serialLog ?? false,
        events: new VmEvents(options.onDebug),
        cpuCap: cap.supported ? cap.cgroup : undefined,
        onDebug: options.onDebug,
      };
      return new QemuHypervisor(
        context,
        `QEMU ${found.version} (${found.accelerator})`,
        cap.supported ? undefined : cap.reason,
      );
    },
  };
}

function fileExists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
