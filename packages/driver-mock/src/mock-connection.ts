import type { ActionOptions, Hypervisor, ProgressOptions, VmHandle, VmSpec, VmSummary } from '@cvmweb/core';
import { abortedError, HypervisorError } from '@cvmweb/core';
import type { MockContext } from './mock-context.js';
import { MockVm } from './mock-vm.js';
import { poweredOffVm } from './mock-world.js';

/** One connection to the mock hypervisor, as {@link Driver.create} returns it. */
export class MockConnection implements Hypervisor {
  readonly name = 'mock';
  readonly version: string;
  readonly #ctx: MockContext;

  constructor(ctx: MockContext, version: string) {
    this.#ctx = ctx;
    this.version = version;
  }

  async createVm(spec: VmSpec, options?: ProgressOptions): Promise<VmHandle> {
    const progress = options?.onProgress;
    progress?.(0, 3, `defining ${spec.name}`);
    const wait = this.#ctx.enter('create', spec.name, options);
    if (wait) await wait;
    const world = this.#ctx.world;
    if (world.byName(spec.name)) {
      throw new HypervisorError('CREATE', `mock: a VM named ${spec.name} exists already`, {
        details: { name: spec.name },
      });
    }
    progress?.(1, 3, 'creating the scratch disk');
    const vm = poweredOffVm({
      id: world.newId(),
      name: spec.name,
      sessionId: spec.sessionId,
      spec,
      ours: true,
      executionCap: spec.executionCap,
    });
    progress?.(2, 3, 'registering the VM');
    world.add(vm);
    progress?.(3, 3, 'created');
    return MockVm.create(this.#ctx, vm);
  }

  async findVm(id: string, options?: ActionOptions): Promise<VmHandle | undefined> {
    this.#usable(options);
    const vm = this.#ctx.world.vms.get(id);
    return vm?.ours ? MockVm.create(this.#ctx, vm) : undefined;
  }

  async listVms(options?: ActionOptions): Promise<VmSummary[]> {
    this.#usable(options);
    const list: VmSummary[] = [];
    for (const vm of this.#ctx.world.vms.values()) {
      if (vm.ours) list.push({ id: vm.id, name: vm.name, sessionId: vm.sessionId, state: vm.power });
    }
    return list;
  }

  /**
   * Tells `listener` about our VMs changed from outside (see `MockHypervisor.crash` and
   * `guestShutdown`), and calls `onResync` when the event stream comes back after
   * `MockHypervisor.dropEvents` (changes made meanwhile were not reported).
   */
  watch(listener: (vmId: string) => void, onResync?: () => void): () => void {
    const forward = (vmId: string) => {
      if (!this.#ctx.disposed && this.#ctx.world.vms.get(vmId)?.ours) listener(vmId);
    };
    const resync = () => {
      if (!this.#ctx.disposed) onResync?.();
    };
    this.#ctx.world.watchers.add(forward);
    this.#ctx.world.resyncers.add(resync);
    return () => {
      this.#ctx.world.watchers.delete(forward);
      this.#ctx.world.resyncers.delete(resync);
    };
  }

  /** Closes this connection; its VMs, running or not, stay in the shared state. */
  async dispose(): Promise<void> {
    this.#ctx.disposed = true;
  }

  #usable(options: ActionOptions | undefined): void {
    if (this.#ctx.disposed) {
      throw new HypervisorError('INVALID_STATE', 'mock: the hypervisor connection was disposed');
    }
    const signal = options?.signal;
    if (signal?.aborted) throw abortedError('mock: query', signal.reason);
  }
}
