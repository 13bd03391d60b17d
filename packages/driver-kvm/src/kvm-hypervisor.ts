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
import type { DomainEvent } from './domain-events.js';
import { type BootModel, buildDomainXml, type DiskModel } from './domain-xml.js';
import { freeLoopbackPort, releasePort } from './free-port.js';
import {
  CAP_PERIOD_US,
  contextVolumeName,
  KvmVm,
  type KvmVmContext,
  ownVolumeNames,
  retry,
} from './kvm-vm.js';
import { checkBytes } from './storage-pool.js';
import { parseNames } from './virsh-parsers.js';
import { buildMetadata, METADATA_NAMESPACE, parseMetadata } from './vm-metadata.js';

/** What {@link KvmHypervisor} is built from. */
export interface KvmHypervisorSettings extends KvmVmContext {
  readonly version: string;
  readonly virtType: 'kvm' | 'qemu';
  readonly serialLogDirectory?: string | undefined;
}

const MIB = 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A libvirt connection as a cvmweb {@link Hypervisor}. */
export class KvmHypervisor implements Hypervisor {
  readonly name = 'kvm';
  readonly version: string;
  readonly #settings: KvmHypervisorSettings;

  constructor(settings: KvmHypervisorSettings) {
    this.#settings = settings;
    this.version = settings.version;
  }

  async createVm(spec: VmSpec, options: ProgressOptions = {}): Promise<KvmVm> {
    const { virsh, pool } = this.#settings;
    const signal = options.signal;
    const aborted = () => {
      if (signal?.aborted)
        throw new HypervisorError('CONTROL', `creating ${spec.name} was aborted`, {
          aborted: true,
          cause: signal.reason,
        });
    };
    aborted();
    const diskBytes = checkBytes(spec.disk * MIB, 'disk');
    await pool.ensure({ signal });
    aborted();
    const image = await spec.image.resolve({
      ...(signal ? { signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    aborted();
    const base = await this.#bases(image, signal);
    aborted();

    const uuid = randomUUID();
    const port = await freeLoopbackPort();
    const volumes: string[] = [];
    const disks: DiskModel[] = [];
    const scratch = `${spec.name}-scratch.qcow2`;
    const overlay = `${spec.name}-overlay.qcow2`;
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
    volumes.push(contextVolumeName(spec.name));
    disks.push({
      device: 'cdrom',
      source: { pool: pool.name, volume: contextVolumeName(spec.name) },
      format: 'raw',
      target: 'hdd',
      bus: 'ide',
      readonly: true,
    });
    let boot: BootModel;
    if (image.kind === 'kernel' && base.kernel) {
      boot = {
        kind: 'kernel',
        kernel: await pool.path(base.kernel, { signal }),
        ...(base.initrd ? { initrd: await pool.path(base.initrd, { signal }) } : {}),
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
      metadataXml: buildMetadata({ sessionId: spec.sessionId, apiPort: port, volumes, properties: {} }),
      apiForward: { hostPort: port, guestPort: 80 },
      ...(this.#settings.serialLogDirectory !== undefined
        ? { serialLog: `${this.#settings.serialLogDirectory}/${spec.name}.serial.log` }
        : {}),
    });

    // The domain is defined first and carries the names of its volumes, so a crash at any later
    // point leaves something listVms() finds and destroy() removes completely.
    let defined = false;
    try {
      aborted();
      const file = join(spec.directory, 'domain.xml');
      await writeFile(file, xml, { mode: 0o600 });
      await virsh.run(['define', file], { signal, code: 'CREATE' });
      defined = true;
      aborted();
      if (image.kind === 'disk' && base.image) {
        const bytes = (await pool.volumeBytes(base.image, { signal })) ?? 0;
        await pool.create(overlay, bytes, 'qcow2', {
          signal,
          backing: { volume: await pool.path(base.image, { signal }), format: image.diskFormat ?? 'qcow2' },
        });
        aborted();
      }
      if (spec.disk > 0) {
        await pool.create(scratch, diskBytes, 'qcow2', { signal });
        aborted();
      }
    } catch (error) {
      if (defined)
        await retry(() => virsh.run(['undefine', spec.name, '--managed-save'], { code: 'DELETE' })).catch(
          () => undefined,
        );
      for (const volume of ownVolumeNames(spec.name))
        await retry(() => pool.remove(volume)).catch(() => undefined);
      releasePort(port);
      throw error;
    }
    return new KvmVm(this.#settings, uuid, spec.name, port);
  }

  async findVm(id: string, options: ActionOptions = {}): Promise<KvmVm | undefined> {
    const found = await this.#describe(id, options.signal);
    return found ? new KvmVm(this.#settings, found.id, found.name, found.port) : undefined;
  }

  async listVms(options: ActionOptions = {}): Promise<VmSummary[]> {
    const names = parseNames(
      await this.#settings.virsh.run(['list', '--all', '--name'], {
        signal: options.signal,
        cheap: true,
        code: 'QUERY',
      }),
    );
    const out: VmSummary[] = [];
    for (const name of names) {
      const found = await this.#describe(name, options.signal);
      if (!found) continue;
      const vm = new KvmVm(this.#settings, found.id, found.name, found.port);
      const state = await vm.state(options).catch((error: unknown) => {
        if (isHypervisorError(error) && error.codeName === 'NOT_FOUND') return undefined;
        throw error;
      });
      if (state) out.push({ id: found.id, name: found.name, sessionId: found.sessionId, state });
    }
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
  watch(listener: (event: DomainEvent) => void): () => void {
    return this.#settings.events?.subscribe(listener) ?? (() => undefined);
  }

  /** The domain `ref` (name or UUID) when it is ours; `undefined` when it is missing or foreign. */
  async #describe(
    ref: string,
    signal: AbortSignal | undefined,
  ): Promise<{ id: string; name: string; sessionId: string; port: number } | undefined> {
    const { virsh } = this.#settings;
    try {
      const metadata = parseMetadata(
        await virsh.run(['metadata', ref, '--uri', METADATA_NAMESPACE, '--config'], {
          signal,
          cheap: true,
          code: 'QUERY',
        }),
      );
      if (!metadata) return undefined;
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
      if (isHypervisorError(error) && error.codeName === 'NOT_FOUND') return undefined;
      throw error;
    }
  }

  /** Uploads the image's files as shared base volumes named by checksum (once). */
  async #bases(
    image: ResolvedImage,
    signal: AbortSignal | undefined,
  ): Promise<{ image?: string; kernel?: string; initrd?: string }> {
    const { pool } = this.#settings;
    const tag = image.sha256.slice(0, 24);
    if (image.kind === 'iso')
      return { image: await pool.shared(`cvmweb-base-${tag}.iso`, image.path, 'raw', { signal }) };
    if (image.kind === 'disk') {
      const format = image.diskFormat ?? 'qcow2';
      return { image: await pool.shared(`cvmweb-base-${tag}.${format}`, image.path, format, { signal }) };
    }
    const kernel = await pool.shared(`cvmweb-base-${tag}.kernel`, image.path, 'raw', { signal });
    if (!image.initrdPath || !image.initrdSha256) return { kernel };
    const initrdTag = image.initrdSha256.slice(0, 24);
    const initrd = await pool.shared(`cvmweb-base-${initrdTag}.initrd`, image.initrdPath, 'raw', { signal });
    return { kernel, initrd };
  }
}
