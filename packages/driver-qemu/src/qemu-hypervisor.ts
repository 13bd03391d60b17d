import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
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
import {
  isProcessAlive,
  releaseLoopbackPort,
  reserveFreeLoopbackPort,
  reserveLoopbackPort,
} from '@cvmweb/core/node';
import type { QemuContext } from './qemu-context.js';
import { QemuVm } from './qemu-vm.js';
import {
  type BootRecord,
  readMarker,
  removeVmFiles,
  type VmMarker,
  vmPaths,
  writeMarker,
} from './vm-directory.js';

const MIB = 1024 * 1024;
/** Folders being made by `createVm()`: `.creating-<pid>-<uuid>`, renamed to the VM's name once marked. */
const CREATING = /^\.creating-(\d+)-/;

/** QEMU run directly, as a cvmweb {@link Hypervisor}: one folder per VM under `context.root`. */
export class QemuHypervisor implements Hypervisor {
  readonly name = 'qemu';
  readonly version: string;
  /** Off where the execution cap cannot work here (see {@link QemuHypervisor.capabilityReasons}). */
  readonly capabilities: Partial<DriverCapabilities>;
  /** Why the execution cap is off here (cgroup v1, no delegated cpu controller, macOS, Windows). */
  readonly capabilityReasons: Partial<Record<keyof DriverCapabilities, string>>;
  readonly #context: QemuContext;
  readonly #handles = new Map<string, QemuVm>();
  #portsSeeded = false;

  /** `capReason`: why the execution cap cannot work here, when it cannot. */
  constructor(context: QemuContext, version: string, capReason?: string) {
    this.#context = context;
    this.version = version;
    this.capabilities = capReason === undefined ? {} : { executionCap: false };
    this.capabilityReasons = capReason === undefined ? {} : { executionCap: capReason };
  }

  /**
   * Makes the VM's folder with its marker first (in a temporary folder renamed into place, so a
   * marked folder is complete and any other is a leftover `listVms()` removes), then its disks.
   */
  async createVm(spec: VmSpec, options: ProgressOptions = {}): Promise<QemuVm> {
    const { signal, onDebug } = options;
    const aborted = () => {
      if (signal?.aborted)
        throw new HypervisorError('CONTROL', `creating ${spec.name} was aborted`, {
          aborted: true,
          cause: signal.reason,
        });
    };
    aborted();
    await this.#seedPorts();
    const image = await spec.image.resolve({
      ...(signal ? { signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    aborted();
    const root = this.#context.root;
    const paths = vmPaths(root, spec.name);
    const port = await reserveFreeLoopbackPort();
    const marker: VmMarker = {
      format: 1,
      id: randomUUID(),
      name: spec.name,
      sessionId: spec.sessionId,
      cpus: spec.cpus,
      ram: spec.ram,
      apiPort: port,
      boot: bootOf(image),
      scratch: spec.disk > 0,
      ...(spec.executionCap < 100 ? { executionCap: spec.executionCap } : {}),
    };
    const creating = join(root, `.creating-${process.pid}-${marker.id}`);
    let placed = false;
    try {
      await mkdir(creating, { recursive: true, mode: 0o700 });
      onDebug?.(`${spec.name}: made ${creating}`);
      await writeMarker(creating, marker);
      await rename(creating, paths.dir).catch((error: unknown) => {
        throw new HypervisorError('CREATE', `${spec.name}: its folder exists already`, { cause: error });
      });
      placed = true;
      onDebug?.(`${spec.name}: marked ${paths.dir}`);
      const run = (args: string[]) =>
        this.#context.runner.run(this.#context.qemuImg, args, {
          signal,
          onDebug,
          timeoutMs: this.#context.commandTimeoutMs,
        });
      if (image.kind === 'disk') {
        await run([
          'create',
          '-q',
          '-f',
          'qcow2',
          '-F',
          image.diskFormat ?? 'qcow2',
          '-b',
          image.path,
          paths.overlay,
        ]);
        aborted();
      }
      if (spec.disk > 0) {
        await run(['create', '-q', '-f', 'qcow2', paths.scratch, String(spec.disk * MIB)]);
        aborted();
      }
    } catch (error) {
      await rm(creating, { recursive: true, force: true });
      if (placed) await removeVmFiles(paths);
      releaseLoopbackPort(port);
      if (isHypervisorError(error)) throw error;
      throw new HypervisorError('CREATE', `${spec.name}: ${String(error)}`, { cause: error });
    }
    return this.#handle(marker);
  }

  async findVm(id: string, options: ActionOptions = {}): Promise<QemuVm | undefined> {
    for (const marker of await this.#markers(options)) if (marker.id === id) return this.#handle(marker);
    return undefined;
  }

  /**
   * Our VMs: the folders under the root with our marker. Leftovers of a `createVm()` killed before
   * its folder was marked (`.creating-<pid>-…` of a process that is gone) are removed here.
   */
  async listVms(options: ActionOptions = {}): Promise<VmSummary[]> {
    const out: VmSummary[] = [];
    for (const marker of await this.#markers(options)) {
      const vm = this.#handle(marker);
      out.push({
        id: marker.id,
        name: marker.name,
        sessionId: marker.sessionId,
        state: await vm.state(options),
      });
    }
    this.#portsSeeded = true;
    return out;
  }

  /**
   * Calls `listener` with the id of one of our VMs whenever its QEMU reports a change (QMP events
   * `STOP`, `RESUME`, `SHUTDOWN`, `RESET`, …) or ends. Follows the VMs this hypervisor has seen
   * (created, found or listed) that run now, and each one it starts later.
   */
  watch(listener: (vmId: string) => void): () => void {
    const unsubscribe = this.#context.events.subscribe(listener);
    for (const vm of this.#handles.values()) this.#follow(vm);
    return unsubscribe;
  }

  async dispose(): Promise<void> {
    this.#context.events.close();
    for (const vm of this.#handles.values()) vm.release();
  }

  #handle(marker: VmMarker): QemuVm {
    reserveLoopbackPort(marker.apiPort);
    const known = this.#handles.get(marker.id);
    if (known) return known;
    const vm = new QemuVm(this.#context, marker);
    this.#handles.set(marker.id, vm);
    this.#follow(vm);
    return vm;
  }

  /** Follows `vm`'s events while someone watches and it runs. */
  #follow(vm: QemuVm): void {
    if (!this.#context.events.active) return;
    void vm.state().then(
      (state) => {
        if (state === 'running' || state === 'paused')
          return this.#context.events.follow(vm.id, vm.paths.events);
      },
      () => undefined,
    );
  }

  async #markers(options: ActionOptions): Promise<VmMarker[]> {
    const root = this.#context.root;
    let names: string[];
    try {
      names = await readdir(root);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new HypervisorError('QUERY', `cannot read ${root}: ${String(error)}`, { cause: error });
    }
    const out: VmMarker[] = [];
    for (const name of names) {
      if (options.signal?.aborted)
        throw new HypervisorError('CONTROL', 'listing VMs was aborted', { aborted: true });
      const creating = CREATING.exec(name);
      if (creating) {
        const pid = Number(creating[1]);
        if (pid !== process.pid && !isProcessAlive(pid))
          await rm(join(root, name), { recursive: true, force: true });
        continue;
      }
      const marker = await readMarker(join(root, name));
      if (marker && marker.name === name) out.push(marker);
    }
    return out;
  }

  async #seedPorts(): Promise<void> {
    if (this.#portsSeeded) return;
    for (const marker of await this.#markers({})) reserveLoopbackPort(marker.apiPort);
    this.#portsSeeded = true;
  }
}

function bootOf(image: ResolvedImage): BootRecord {
  if (image.kind === 'iso') return { kind: 'iso', iso: image.path };
  if (image.kind === 'disk') return { kind: 'disk' };
  return {
    kind: 'kernel',
    kernel: image.path,
    ...(image.initrdPath !== undefined ? { initrd: image.initrdPath } : {}),
    ...(image.cmdline !== undefined ? { cmdline: image.cmdline } : {}),
  };
}
