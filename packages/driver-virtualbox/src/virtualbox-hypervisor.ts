import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import {
  type ActionOptions,
  type DriverCapabilities,
  type Hypervisor,
  HypervisorError,
  isHypervisorError,
  type ProgressOptions,
  type ResolvedImage,
  type VmSpec,
  type VmSummary,
} from '@cvmweb/core';
import { releaseLoopbackPort, reserveFreeLoopbackPort, reserveLoopbackPort } from '@cvmweb/core/node';
import {
  type AttachKind,
  closeMediumCommand,
  createMediumCommand,
  createVmCommand,
  DESCRIPTION_MARK,
  listVmsCommand,
  modifyVmCommand,
  STORAGE,
  showVmInfoCommand,
  storageAttachCommand,
  storageControllerCommand,
  unregisterVmCommand,
  type VBoxDialect,
  VM_GROUP,
} from './commands.js';
import { parseCreateMedium, parseCreateVm } from './create-output-parser.js';
import { inaccessibleInfo, isInaccessibleFailure, ourInaccessibleVms } from './inaccessible-vm.js';
import { parseListVms } from './list-vms-parser.js';
import { parseMachineReadable } from './machinereadable-parser.js';
import type { VBoxManage } from './vboxmanage.js';
import { VirtualBoxVm, type VmContext, type VmFacts, vmFacts } from './virtualbox-vm.js';

/** Disk formats VirtualBox can attach as a shared (multiattach) base. */
const ATTACHABLE_DISKS = new Set(['vdi', 'vmdk', 'qcow2']);

/** The session id recorded in a VM's description, if the VM is ours. */
export function ownerOf(info: ReadonlyMap<string, string>): string | undefined {
  const groups = (info.get('groups') ?? '').split(',');
  if (!groups.includes(VM_GROUP)) return undefined;
  const first = (info.get('description') ?? '').split('\n')[0] ?? '';
  return first.startsWith(DESCRIPTION_MARK) ? first.slice(DESCRIPTION_MARK.length) : undefined;
}

/** Options of {@link VirtualBoxHypervisor}. */
export interface HypervisorSettings {
  readonly vbox: VBoxManage;
  readonly version: string;
  /** The option spellings of the probed version. */
  readonly dialect: VBoxDialect;
  readonly baseFolder: string;
  readonly stopTimeoutMs: number;
  readonly stopPollMs: number;
  /** Why VirtualBox cannot serve displays here (no usable extension pack), `undefined` when it can. */
  readonly vrdeUnavailable?: string | undefined;
}

/**
 * A connection to VirtualBox through `VBoxManage`. Our VMs are in the group `/cvmweb`, under our
 * base folder, named `cvmweb-…`, and carry `cvmweb-session=<id>` as the first line of their
 * description: {@link VirtualBoxHypervisor.listVms} and {@link VirtualBoxHypervisor.findVm} see
 * only those.
 */
export class VirtualBoxHypervisor implements Hypervisor {
  readonly name = 'virtualbox';
  readonly version: string;
  /** `display` is off without the extension pack's RDP server (see {@link VirtualBoxHypervisor.capabilityReasons}). */
  readonly capabilities: Partial<DriverCapabilities>;
  /** Why `display` is off: Oracle VM VirtualBox Extension Pack is missing or unusable. */
  readonly capabilityReasons: Partial<Record<keyof DriverCapabilities, string>>;
  readonly #vbox: VBoxManage;
  readonly #ctx: VmContext;
  #disposed = false;

  constructor(settings: HypervisorSettings) {
    this.version = settings.version;
    this.#vbox = settings.vbox;
    const reason = settings.vrdeUnavailable;
    this.capabilities = reason === undefined ? {} : { display: false };
    this.capabilityReasons = reason === undefined ? {} : { display: reason };
    this.#ctx = {
      vbox: settings.vbox,
      dialect: settings.dialect,
      baseFolder: settings.baseFolder,
      stopTimeoutMs: settings.stopTimeoutMs,
      stopPollMs: settings.stopPollMs,
      live: () => this.#live(),
      vrde: reason === undefined,
    };
  }

  /** How many `VBoxManage` processes this connection's runner started. */
  get spawns(): number {
    return this.#vbox.spawns;
  }

  /**
   * Creates the VM in at most six `VBoxManage` runs: `createvm --register`, one `modifyvm` with
   * every setting (CPUs, memory, cap, NAT with the API port rule, boot order, our description),
   * `storagectl`, `storageattach` of the boot medium, and for a scratch disk `createmedium` and
   * its `storageattach`. Any failure removes the VM, its disks and its folder before rejecting.
   */
  async createVm(spec: VmSpec, options: ProgressOptions = {}): Promise<VirtualBoxVm> {
    this.#live();
    const { signal, onProgress } = options;
    const image = await spec.image.resolve({
      ...(signal ? { signal } : {}),
      ...(onProgress ? { onProgress } : {}),
    });
    // An image VirtualBox cannot boot is refused before anything is reserved.
    bootAttachment(image);
    // Reserved for this VM until it is destroyed: VirtualBox binds it only when the VM starts.
    const apiPort = await reserveFreeLoopbackPort();
    try {
      return await this.#create(spec, image, apiPort, options);
    } catch (error) {
      releaseLoopbackPort(apiPort);
      throw error;
    }
  }

  async #create(
    spec: VmSpec,
    image: ResolvedImage,
    apiPort: number,
    options: ProgressOptions,
  ): Promise<VirtualBoxVm> {
    const { signal, onProgress } = options;
    const attach = bootAttachment(image);
    const run = (argv: string[], code: 'CREATE' | 'MODIFY') =>
      this.#vbox.run(argv, { code, signal, onDebug: options.onDebug });
    const total = spec.disk > 0 ? 6 : 4;
    onProgress?.(0, total, 'Registering the VirtualBox VM');
    const created = await run(createVmCommand(spec.name, this.#ctx.baseFolder), 'CREATE');
    const vm = parseCreateVm(created.stdout);
    if (!vm) {
      throw new HypervisorError('CREATE', 'VBoxManage createvm printed no UUID', {
        details: { command: [this.#vbox.program, ...created.args], stdout: created.stdout },
      });
    }
    const folder = path.dirname(vm.settingsFile || path.join(this.#ctx.baseFolder, spec.name, 'x'));
    let scratch: string | undefined;
    let scratchAttached = false;
    // The RDP server's range starts at a port free now; it binds the first free one when it starts.
    const vrdePort = this.#ctx.vrde ? await reserveFreeLoopbackPort() : undefined;
    try {
      onProgress?.(1, total, 'Configuring the VirtualBox VM');
      await run(
        modifyVmCommand(
          vm.uuid,
          {
            cpus: spec.cpus,
            ram: spec.ram,
            executionCap: spec.executionCap,
            apiPort,
            bootFrom: attach.kind === 'dvd' ? 'dvd' : 'disk',
            sessionId: spec.sessionId,
            vrdePort,
          },
          this.#ctx.dialect,
        ),
        'MODIFY',
      );
      onProgress?.(2, total, 'Adding the storage controller');
      await run(storageControllerCommand(vm.uuid), 'MODIFY');
      onProgress?.(3, total, 'Attaching the boot image');
      await run(storageAttachCommand(vm.uuid, STORAGE.bootPort, attach.kind, image.path), 'MODIFY');
      if (spec.disk > 0) {
        onProgress?.(4, total, 'Creating the scratch disk');
        const file = path.join(folder, `${spec.name}-scratch.vdi`);
        const made = await run(createMediumCommand(file, spec.disk), 'CREATE');
        const disk = parseCreateMedium(made.stdout) ?? file;
        scratch = disk;
        onProgress?.(5, total, 'Attaching the scratch disk');
        await run(storageAttachCommand(vm.uuid, STORAGE.scratchPort, 'hdd', disk), 'MODIFY');
        scratchAttached = true;
      }
    } catch (error) {
      await this.#undoCreate(vm.uuid, scratchAttached ? undefined : scratch, folder, options.onDebug);
      throw error;
    } finally {
      if (vrdePort !== undefined) releaseLoopbackPort(vrdePort);
    }
    onProgress?.(total, total, 'VirtualBox VM created');
    return new VirtualBoxVm(
      this.#ctx,
      { uuid: vm.uuid, name: spec.name, state: 'poweroff', rawState: 'poweroff', apiPort, folder },
      (s) => this.#info(vm.uuid, s),
    );
  }

  /**
   * Finds one of our VMs by UUID. An inaccessible VM (its settings file cannot be read) is ours
   * when its settings file is in our base folder; its handle reports `error` with the reason.
   */
  async findVm(id: string, options: ActionOptions = {}): Promise<VirtualBoxVm | undefined> {
    this.#live();
    const info = await this.#info(id, options.signal);
    if (!info) return undefined;
    const facts = vmFacts(info);
    if (facts.inaccessible) {
      const ours = await ourInaccessibleVms(this.#vbox, this.#ctx.baseFolder, options.signal);
      const settingsFile = ours.get(facts.uuid);
      if (settingsFile === undefined) return undefined;
      return this.#handle({ ...facts, folder: path.dirname(settingsFile), settingsFile });
    }
    if (ownerOf(info) === undefined) return undefined;
    return this.#handle(facts);
  }

  /**
   * One `list vms`, then one `showvminfo` per VM named like ours, to read its owner and state.
   * Inaccessible VMs (`"<inaccessible>" {uuid}`) cost one `list --long vms` for all of them: those
   * whose settings file is in our base folder are listed, in state `error` (their session id
   * cannot be read, so it is empty; core matches them by UUID).
   */
  async listVms(options: ActionOptions = {}): Promise<VmSummary[]> {
    this.#live();
    const listed = await this.#vbox.run(listVmsCommand(), { code: 'QUERY', signal: options.signal });
    const entries = parseListVms(listed.stdout);
    const summaries: VmSummary[] = [];
    for (const entry of entries) {
      if (entry.inaccessible || !entry.name.startsWith('cvmweb-')) continue;
      const info = await this.#info(entry.uuid, options.signal);
      const sessionId = info ? ownerOf(info) : undefined;
      if (!info || sessionId === undefined) continue;
      const facts = vmFacts(info);
      // Its forward's port is taken even while it is off: never hand it out to another VM.
      if (facts.apiPort !== undefined) reserveLoopbackPort(facts.apiPort);
      summaries.push({ id: facts.uuid, name: facts.name, sessionId, state: facts.state });
    }
    if (entries.some((e) => e.inaccessible)) {
      const ours = await ourInaccessibleVms(this.#vbox, this.#ctx.baseFolder, options.signal);
      for (const [uuid, settingsFile] of ours) {
        const name = path.basename(settingsFile).replace(/\.vbox$/, '');
        summaries.push({ id: uuid, name, sessionId: '', state: 'error' });
      }
    }
    return summaries;
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
  }

  #live(): void {
    if (this.#disposed) {
      throw new HypervisorError('INVALID_STATE', 'the VirtualBox connection was disposed', {
        details: { driver: 'virtualbox' },
      });
    }
  }

  async #info(vm: string, signal?: AbortSignal): Promise<Map<string, string> | undefined> {
    try {
      const result = await this.#vbox.run(showVmInfoCommand(vm), { code: 'QUERY', signal });
      return parseMachineReadable(result.stdout);
    } catch (error) {
      if (isHypervisorError(error) && error.codeName === 'NOT_FOUND') return undefined;
      if (isInaccessibleFailure(error)) return inaccessibleInfo(vm.toLowerCase());
      throw error;
    }
  }

  #handle(facts: VmFacts): VirtualBoxVm {
    if (facts.apiPort !== undefined) reserveLoopbackPort(facts.apiPort);
    return new VirtualBoxVm(this.#ctx, facts, (s) => this.#info(facts.uuid, s));
  }

  /** Best-effort removal of a half-made VM; runs without the caller's (maybe aborted) signal. */
  async #undoCreate(
    uuid: string,
    looseDisk: string | undefined,
    folder: string,
    onDebug: ((message: string) => void) | undefined,
  ): Promise<void> {
    const quiet = (argv: string[]) =>
      this.#vbox.run(argv, { code: 'DELETE', onDebug, timeoutMs: 15_000 }).then(
        () => undefined,
        () => undefined,
      );
    await quiet(unregisterVmCommand(uuid));
    if (looseDisk) await quiet(closeMediumCommand(looseDisk));
    if (path.relative(this.#ctx.baseFolder, folder).startsWith('..')) return;
    await rm(folder, { recursive: true, force: true }).catch(() => undefined);
  }
}

function bootAttachment(image: ResolvedImage): { kind: AttachKind } {
  if (image.kind === 'iso') return { kind: 'dvd' };
  if (image.kind === 'disk' && ATTACHABLE_DISKS.has(image.diskFormat ?? '')) return { kind: 'multiattach' };
  throw new HypervisorError(
    'NOT_SUPPORTED',
    image.kind === 'kernel'
      ? 'VirtualBox cannot boot a kernel directly; use an ISO or a disk image'
      : `VirtualBox cannot attach a ${image.diskFormat ?? 'raw'} disk image; use VDI, VMDK or QCOW2`,
    { details: { version: image.version, kind: image.kind, diskFormat: image.diskFormat } },
  );
}
