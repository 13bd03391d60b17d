import type { ActionOptions, Driver, DriverCapabilities, Hypervisor, ProbeResult } from '@cvmweb/core';
import { HypervisorError } from '@cvmweb/core';
import { createProcessRunner, detectAcceleration } from '@cvmweb/core/node';
import { DomainEvents } from './domain-events.js';
import { hostHasVirtualization } from './host-capabilities.js';
import { KvmHypervisor } from './kvm-hypervisor.js';
import {
  defaultInstallationId,
  defaultPoolPath,
  defaultUri,
  isRemoteUri,
  isSessionUri,
  type KvmOptions,
} from './kvm-options.js';
import { probeKvm } from './probe.js';
import { StoragePool } from './storage-pool.js';
import { Virsh } from './virsh.js';
import { parseVersion } from './virsh-parsers.js';

/**
 * The cvmweb driver for QEMU through libvirt's `virsh` (no native bindings): local or remote
 * (`qemu+ssh://…`), hardware-accelerated (KVM) or emulated (TCG).
 *
 * @example
 * ```ts
 * // createCvmweb comes from @cvmweb/core.
 * const cvmweb = await createCvmweb({ driver: kvm({ uri: 'qemu:///system' }) });
 * ```
 */
export function kvm(options: KvmOptions = {}): Driver {
  const uri = options.uri ?? defaultUri();
  const runner =
    options.runner ??
    createProcessRunner({
      timeoutMs: options.commandTimeoutMs ?? 60_000,
      ...(options.env ? { env: options.env } : {}),
      onDebug: options.onDebug,
    });
  const virshPath = options.virsh ?? 'virsh';
  const acceleration = options.acceleration ?? 'auto';
  const session = isSessionUri(uri);
  const installationId = options.installationId ?? defaultInstallationId();
  if (installationId.trim() === '') {
    throw new HypervisorError('INVALID_USAGE', 'installationId must not be empty', {
      details: { field: 'installationId' },
    });
  }
  const capabilities: DriverCapabilities = Object.freeze({
    executionCap: !session,
    pause: true,
    hibernate: true,
    reset: true,
    // libvirt's <metadata> is not visible inside the guest: core keeps properties in its registry.
    guestProperties: false,
    apiPortForwarding: true,
    // The display listens on the libvirt host's 127.0.0.1: reachable only when that host is this one.
    display: !isRemoteUri(uri),
    screenshot: true,
  });
  return {
    name: 'kvm',
    capabilities,
    probe: (o?: ActionOptions): Promise<ProbeResult> =>
      probeKvm({ runner, uri, virsh: virshPath, qemuImg: options.qemuImg ?? 'qemu-img', acceleration }, o),
    async create(o?: ActionOptions): Promise<Hypervisor> {
      const virsh = new Virsh(runner, {
        virsh: virshPath,
        uri,
        channel: options.persistentChannel ?? true,
        timeoutMs: options.commandTimeoutMs ?? 60_000,
        onDebug: options.onDebug,
      });
      try {
        const version = parseVersion(
          await virsh.run(['version'], { signal: o?.signal, cheap: true, code: 'EXTERNAL' }),
        );
        if (version.hypervisorName !== 'QEMU') {
          throw new HypervisorError('EXTERNAL', `libvirt at ${uri} has no QEMU hypervisor`, {
            details: { uri },
          });
        }
        return new KvmHypervisor({
          virsh,
          events:
            options.eventStream === false
              ? undefined
              : new DomainEvents(runner, { virsh: virshPath, uri, onDebug: options.onDebug }),
          pool: new StoragePool(virsh, options.pool ?? 'cvmweb', options.poolPath ?? defaultPoolPath(uri)),
          executionCap: capabilities.executionCap,
          shutdownTimeoutMs: options.shutdownTimeoutMs ?? 30_000,
          version: `libvirt ${version.libvirt ?? '?'}, QEMU ${version.hypervisor ?? '?'}`,
          virtType: await chooseVirtType(acceleration, virsh, uri, o?.signal),
          serialLogDirectory: options.serialLogDirectory,
          installationId,
          remote: isRemoteUri(uri),
          onDebug: options.onDebug,
        });
      } catch (error) {
        virsh.dispose();
        throw error;
      }
    },
  };
}

async function chooseVirtType(
  acceleration: 'auto' | 'kvm' | 'tcg',
  virsh: Virsh,
  uri: string,
  signal: AbortSignal | undefined,
): Promise<'kvm' | 'qemu'> {
  if (acceleration !== 'auto') return acceleration === 'kvm' ? 'kvm' : 'qemu';
  if (isRemoteUri(uri)) {
    const caps = await virsh.run(['capabilities'], { signal, code: 'QUERY' }).catch(() => '');
    return caps !== '' && hostHasVirtualization(caps) ? 'kvm' : 'qemu';
  }
  return (await detectAcceleration()).usable ? 'kvm' : 'qemu';
}
