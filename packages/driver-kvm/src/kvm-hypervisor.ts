import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ActionOptions,
  type Hypervisor,
  HypervisorError,
  isHypervisorError,
  type ProgressOptions,
  type ResolvedImage,
  type VmSpec,
  type VmSummary,
} from '@cvmweb/core';
import {
  newVncPassword,
  releaseLoopbackPort,
  reserveFreeLoopbackPort,
  reserveLoopbackPort,
} from '@cvmweb/core/node';
import type { DomainEvent } from './domain-events.js';
import { type BootModel, buildDomainXml, type DiskModel } from './domain-xml.js';
import { CAP_PERIOD_US, KvmVm, type KvmVmContext, retry } from './kvm-vm.js';
import { installationTag, ownVolumeName, ownVolumeNames } from './own-volume-name.js';
import { removeOrphanVolumes } from './remove-orphan-volumes.js';
import { checkBytes } from './storage-pool.js';
import { isNotFound, isVirshFailure } from './virsh.js';
import { parseNames } from './virsh-parsers.js';
import { METADATA_NAMESPACE, parseMetadata, type VmMetadata } from './vm-metadata.js';

/** What {@link KvmHypervisor} is built from. */
export interface KvmHypervisorSettings extends KvmVmContext {
  readonly version: string;
  readonly virtType: 'kvm' | 'qemu';
  readonly serialLogDirectory?: string | undefined;
}

type Described = { id: string; name: string; sessionId: string; port: number };

const MIB = 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A libvirt connection as a cvmweb {@link Hypervisor}. */
export class KvmHypervisor implements Hypervisor {
  readonly name = 'kvm';
  readonly version: string;
  readonly #settings: KvmHypervisorSettings;
  #portsSeeded = false;
  /** Names of this installation's domains seen on this connection → their UUIDs. */
  readonly #known = new Map<string, string>();

  constructor(settings: KvmHypervisorSettings) {
    this.#settings = settings;
    this.version = settings.version;
  }

  async createVm(spec: VmSpec, options: ProgressOptions = {}): Promise<KvmVm> {
    const { virsh, pool } = this.#settings;
    const signal = options.signal;
    const onDebug = options.onDebug;
    const call = { signal, onDebug };
    const aborted = () => {
      if (signal?.aborted)
        throw new HypervisorError('CONTROL', `creating ${spec.name} was aborted`, {
          aborted: true,
          cause: signal.reason,
        });
    };
    aborted();
    const diskBytes = checkBytes(spec.disk * MIB, 'disk');
    await pool.ensure(call);
    aborted();
    // Ports our existing domains forward (made by another process, or before a restart).
    await this.#seedPorts(call);
    aborted();
    const image = await spec.image.resolve({
      ...(signal ? { signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    aborted();
    const base = await this.#bases(image, call);
    aborted();

    const uuid = randomUUID();
    const volumes: string[] = [];
    const disks: DiskModel[] = [];
    const tag = installationTag(this.#settings.installationId);
    const scratch = ownVolumeName(spec.name, tag, 'scratch');
    const overlay = ownVolumeName(spec.name, tag, 'overlay');
    const context = ownVolumeName(spec.name, tag, 'context');
    if (image.kind === 'disk') {
      volumes.push(overlay);
      disks.push({
        device: 'disk',
        source: { pool: pool.name, volume: overlay },
        format: 'qcow2',
        target: 'vda',
        bus: 'virtio',
      });
    }
    if (spec.disk > 0) {
      volumes.push(scratch);
      disks.push({
        device: 'disk',
        source: { pool: pool.name, volume: scratch },
        format: 'qcow2',
        target: image.kind === 'disk' ? 'vdb' : 'vda',
        bus: 'virtio',
      });
    }
    if (image.kind === 'iso' && base.image) {
      disks.push({
        device: 'cdrom',
        source: { pool: pool.name, volume: base.image },
        format: 'raw',
        target: 'hdc',
        bus: 'ide',
        readonly: true,
      });
    }
    volumes.push(context);
    disks.push({
      device: 'cdrom',
      source: { pool: pool.name, volume: context },
      format: 'raw',
      target: 'hdd',
      bus: 'ide',
      readonly: true,
    });
    // The domain is defined first and carries the names of its volumes, so a crash at any later
    // point leaves something listVms() finds and destroy() removes completely. The port is
    // reserved inside the try, so every failure below releases it.
    let defined = false;
    let port = 0;
    try {
      port = await reserveFreeLoopbackPort();
      let boot: BootModel;
      if (image.kind === 'kernel' && base.kernel) {
        boot = {
          kind: 'kernel',
          kernel: await pool.path(base.kernel, call),
          ...(base.initrd ? { initrd: await pool.path(base.initrd, call) } : {}),
          ...(image.cmdline !== undefined ? { cmdline: image.cmdline } : {}),
        };
      } else {
        boot = { kind: image.kind === 'iso' ? 'cdrom' : 'disk' };
      }
      const xml = buildDomainXml({
        name: spec.name,
        uuid,
        memoryMiB: spec.ram,
        vcpus: spec.cpus,
        virtType: this.#settings.virtType,
        boot,
        disks,
        ...(spec.executionCap < 100 && this.#settings.executionCap
          ? {
              cputune: {
                periodUs: CAP_PERIOD_US,
                quotaUs: Math.round((CAP_PERIOD_US * spec.executionCap) / 100),
              },
            }
          : {}),
        metadata: {
          installation: this.#settings.installationId,
          sessionId: spec.sessionId,
          apiPort: port,
          volumes,
        },
        apiForward: { hostPort: port, guestPort: 80 },
        vncPassword: newVncPassword(),
        ...(this.#settings.serialLogDirectory !== undefined
          ? { serialLog: `${this.#settings.serialLogDirectory}/${spec.name}.serial.log` }
          : {}),
      });
      aborted();
      const file = join(spec.directory, 'domain.xml');
      await writeFile(file, xml, { mode: 0o600 });
      await virsh.run(['define', file], { ...call, code: 'CREATE' });
      defined = true;
      aborted();
      if (image.kind === 'disk' && base.image) {
        const bytes = (await pool.volumeBytes(base.image, call)) ?? 0;
        await pool.create(overlay, bytes, 'qcow2', {
          ...call,
          backing: { volume: await pool.path(base.image, call), format: image.diskFormat ?? 'qcow2' },
        });
        aborted();
      }
      if (spec.disk > 0) {
        await pool.create(scratch, diskBytes, 'qcow2', call);
        aborted();
      }
    } catch (error) {
      if (defined)
        await retry(() =>
          virsh.run(['undefine', spec.name, '--managed-save'], { onDebug, code: 'DELETE' }),
        ).catch(() => undefined);
      for (const volume of ownVolumeNames(spec.name, tag))
        await retry(() => pool.remove(volume, { onDebug })).catch(() => undefined);
      if (port > 0) releaseLoopbackPort(port);
      throw error;
    }
    return this.#vm(uuid, spec.name, port);
  }

  async findVm(id: string, options: ActionOptions = {}): Promise<KvmVm | undefined> {
    const found = await this.#describe(id, options.signal);
    return found ? this.#vm(found.id, found.name, found.port) : undefined;
  }

  /**
   * This installation's domains. Only persistent domains are looked at: cvmweb defines every
   * domain it makes, so a transient one (`virsh create`) is never ours. The API ports of all
   * cvmweb domains seen are reserved, so a new VM never gets one of them.
   *
   * It also finishes interrupted removals, so `reconcile()` leaves nothing behind: this
   * installation's volumes whose domain is gone (a close killed after `undefine`) are deleted
   * (see {@link removeOrphanVolumes}). A failure there is logged (`onDebug`), not thrown: the
   * next listing tries again.
   */
  async listVms(options: ActionOptions = {}): Promise<VmSummary[]> {
    const names = parseNames(
      await this.#settings.virsh.run(['list', '--all', '--persistent', '--name'], {
        signal: options.signal,
        cheap: true,
        code: 'QUERY',
      }),
    );
    const out: VmSummary[] = [];
    for (const name of names) {
      const found = await this.#describe(name, options.signal);
      if (!found) continue;
      const vm = this.#vm(found.id, found.name, found.port);
      const state = await vm.state(options).catch((error: unknown) => {
        if (isNotFound(error)) return undefined;
        throw error;
      });
      if (state) out.push({ id: found.id, name: found.name, sessionId: found.sessionId, state });
    }
    this.#portsSeeded = true;
    await this.#removeOrphanVolumes(new Set(names), options.signal);
    return out;
  }

  async dispose(): Promise<void> {
    this.#settings.events?.close();
    this.#settings.virsh.dispose();
  }

  /**
   * Calls `listener` with each lifecycle event libvirt reports on this connection (all domains,
   * ours or not), from `virsh event --loop`, restarted when it ends; returns the unsubscribe
   * function. Nothing when the stream is unavailable: poll {@link KvmVm.state} then.
   */
  watchDomains(listener: (event: DomainEvent) => void): () => void {
    return this.#settings.events?.subscribe(listener) ?? (() => undefined);
  }

  /**
   * Core's {@link Hypervisor.watch}: calls `listener` with the id of one of this installation's
   * VMs (one this connection created, found or listed) whenever libvirt reports a lifecycle event
   * of it, and `onResync` when the event stream listens again after it ended (libvirtd
   * restarted): what changed in between was not reported (see {@link DomainEvents.onResync}).
   */
  watch(listener: (vmId: string) => void, onResync?: () => void): () => void {
    const unwatch = this.watchDomains((event) => {
      const id = this.#known.get(event.domain);
      if (id !== undefined) listener(id);
    });
    const unresync = onResync ? this.#settings.events?.onResync(onResync) : undefined;
    return () => {
      unwatch();
      unresync?.();
    };
  }

  async #removeOrphanVolumes(domains: Set<string>, signal: AbortSignal | undefined): Promise<void> {
    const { pool, virsh, onDebug } = this.#settings;
    const tag = installationTag(this.#settings.installationId);
    try {
      const removed = await removeOrphanVolumes(pool, virsh, tag, domains, { signal });
      for (const volume of removed) onDebug?.(`removed volume ${volume}: its domain is gone`);
    } catch (error) {
      if (isHypervisorError(error) && error.aborted) throw error;
      onDebug?.(`removing volumes left without their domain failed: ${String(error)}`);
    }
  }

  /** A handle of our domain, remembered for {@link KvmHypervisor.watch}. */
  #vm(id: string, name: string, port: number): KvmVm {
    this.#known.set(name, id);
    return new KvmVm(this.#settings, id, name, port);
  }

  /** The domain `ref` (name or UUID) when it is ours; `undefined` when it is missing or foreign. */
  async #describe(ref: string, signal: AbortSignal | undefined): Promise<Described | undefined> {
    const { virsh } = this.#settings;
    try {
      const metadata = await this.#readMetadata(ref, signal);
      if (!metadata) return undefined;
      // Any cvmweb domain's port is taken, whichever installation made it.
      reserveLoopbackPort(metadata.apiPort);
      if (metadata.installation !== this.#settings.installationId) return undefined;
      // domname takes an id or UUID, domuuid a name or id.
      const byUuid = UUID.test(ref);
      const id = byUuid
        ? ref
        : (await virsh.run(['domuuid', ref], { signal, cheap: true, code: 'QUERY' })).trim();
      const name = byUuid
        ? (await virsh.run(['domname', ref], { signal, cheap: true, code: 'QUERY' })).trim()
        : ref;
      return { id, name, sessionId: metadata.sessionId, port: metadata.apiPort };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * cvmweb's metadata of domain `ref`; `undefined` when it has none or is transient (a domain
   * cvmweb never makes, whose persistent config libvirt refuses to read).
   */
  async #readMetadata(ref: string, signal: AbortSignal | undefined): Promise<VmMetadata | undefined> {
    try {
      return parseMetadata(
        await this.#settings.virsh.run(['metadata', ref, '--uri', METADATA_NAMESPACE, '--config'], {
          signal,
          cheap: true,
          code: 'QUERY',
        }),
      );
    } catch (error) {
      if (isNotFound(error) || isVirshFailure(error, 'transient')) return undefined;
      throw error;
    }
  }

  /** Reserves the API ports of the cvmweb domains defined at this URI (once per connection). */
  async #seedPorts(call: { signal?: AbortSignal | undefined }): Promise<void> {
    if (this.#portsSeeded) return;
    const names = parseNames(
      await this.#settings.virsh.run(['list', '--all', '--persistent', '--name'], {
        ...call,
        cheap: true,
        code: 'QUERY',
      }),
    );
    for (const name of names) {
      const metadata = await this.#readMetadata(name, call.signal);
      if (metadata) reserveLoopbackPort(metadata.apiPort);
    }
    this.#portsSeeded = true;
  }

  /** Uploads the image's files as shared base volumes named by checksum (once). */
  async #bases(
    image: ResolvedImage,
    call: { signal?: AbortSignal | undefined; onDebug?: ((message: string) => void) | undefined },
  ): Promise<{ image?: string; kernel?: string; initrd?: string }> {
    const { pool } = this.#settings;
    const tag = image.sha256.slice(0, 24);
    if (image.kind === 'iso')
      return { image: await pool.shared(`cvmweb-base-${tag}.iso`, image.path, 'raw', call) };
    if (image.kind === 'disk') {
      const format = image.diskFormat ?? 'qcow2';
      return { image: await pool.shared(`cvmweb-base-${tag}.${format}`, image.path, format, call) };
    }
    const kernel = await pool.shared(`cvmweb-base-${tag}.kernel`, image.path, 'raw', call);
    if (!image.initrdPath || !image.initrdSha256) return { kernel };
    const initrdTag = image.initrdSha256.slice(0, 24);
    const initrd = await pool.shared(`cvmweb-base-${initrdTag}.initrd`, image.initrdPath, 'raw', call);
    return { kernel, initrd };
  }
}
