// Internal test helper for core's own tests (not exported): a small in-memory Driver with configurable
// capabilities, failure injection and hangs per operation, and the power-state rules of a real hypervisor.
import type * as D from '../driver/driver.js';
import { abortedError, HypervisorError } from '../errors/hypervisor-error.js';

type VmOp = Exclude<keyof D.VmHandle, 'id' | 'name' | 'apiEndpoint'>;
/** Every operation of the fake, as logged in {@link FakeDriver.calls}. */
export type FakeOp = 'connect' | 'create' | 'find' | 'list' | VmOp;

/** One VM of the fake hypervisor; tests may change `power` to simulate out-of-band changes. */
export interface FakeVm {
  readonly id: string;
  readonly spec: D.VmSpec;
  power: D.VmPowerState;
  cap: number;
  readonly properties: Map<string, string>;
  lastStart?: D.StartSpec;
}

export interface FakeDriverOptions {
  name?: string;
  /** Merged over {@link fullCapabilities}. */
  capabilities?: Partial<D.DriverCapabilities>;
  probe?: D.ProbeResult | (() => Promise<D.ProbeResult>);
  /** VM handle methods to leave out (a declared but missing capability). */
  missing?: readonly VmOp[];
  /** Returned by `apiEndpoint()` while a VM runs. */
  api?: D.ApiEndpoint;
}

export const fullCapabilities: D.DriverCapabilities = Object.freeze({
  ...{ executionCap: true, pause: true, hibernate: true, reset: true, guestProperties: true },
  apiPortForwarding: false,
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  const box = { resolve: () => {} };
  return {
    promise: new Promise<void>((r) => Object.assign(box, { resolve: r })),
    resolve: () => box.resolve(),
  };
}

export class FakeDriver implements D.Driver {
  readonly name: string;
  readonly capabilities: D.DriverCapabilities;
  readonly vms = new Map<string, FakeVm>();
  /** Every operation entered, in order: `op` or `op target`. */
  readonly calls: string[] = [];
  disposed = 0;
  readonly #options: FakeDriverOptions;
  readonly #faults = new Map<FakeOp, { error: unknown; times: number }>();
  readonly #gates = new Map<FakeOp, { open: Promise<void>; entered: () => void }>();
  #seq = 0;

  constructor(options: FakeDriverOptions = {}) {
    this.#options = options;
    this.name = options.name ?? 'fake';
    this.capabilities = { ...fullCapabilities, ...options.capabilities };
  }

  /** The next `times` calls of `op` reject with `error` (a plain Error unless given). */
  fail(
    op: FakeOp,
    error: unknown = new Error(`injected ${op} failure`),
    times = Number.POSITIVE_INFINITY,
  ): void {
    this.#faults.set(op, { error, times });
  }

  /** The next call of `op` waits until `release()`, or rejects (aborted) when its signal aborts. */
  hang(op: FakeOp): { entered: Promise<void>; release: () => void } {
    const entered = deferred();
    const open = deferred();
    this.#gates.set(op, { open: open.promise, entered: entered.resolve });
    return { entered: entered.promise, release: open.resolve };
  }

  /** Removes every injected failure and hang. */
  heal(): void {
    this.#faults.clear();
    this.#gates.clear();
  }

  async probe(): Promise<D.ProbeResult> {
    const probe = this.#options.probe ?? { installed: true, healthy: true, score: 50, version: '1.0' };
    return typeof probe === 'function' ? probe() : probe;
  }

  async create(options?: D.ActionOptions): Promise<D.Hypervisor> {
    await this.#enter('connect', undefined, options);
    return {
      name: this.name,
      version: '1.0',
      createVm: async (spec, o) => {
        await this.#enter('create', spec.name, o);
        const id = `fake-${++this.#seq}`;
        const vm: FakeVm = { id, spec, power: 'poweroff', cap: spec.executionCap, properties: new Map() };
        this.vms.set(id, vm);
        return this.#handle(vm);
      },
      findVm: async (id, o) => {
        await this.#enter('find', id, o);
        const vm = this.vms.get(id);
        return vm && this.#handle(vm);
      },
      listVms: async (o) => {
        await this.#enter('list', undefined, o);
        return [...this.vms.values()].map((v) => ({ ...v.spec, id: v.id, state: v.power }));
      },
      dispose: async () => void this.disposed++,
    };
  }

  async #enter(op: FakeOp, target: string | undefined, options: D.ActionOptions | undefined): Promise<void> {
    this.calls.push(target ? `${op} ${target}` : op);
    const signal = options?.signal;
    if (signal?.aborted) throw abortedError(op, signal.reason);
    const gate = this.#gates.get(op);
    this.#gates.delete(op);
    gate?.entered();
    await new Promise<void>((resolve, reject) => {
      signal?.addEventListener('abort', () => reject(abortedError(op, signal.reason)), { once: true });
      void (gate?.open ?? Promise.resolve()).then(resolve);
    });
    const fault = this.#faults.get(op);
    if (fault && fault.times > 0 && --fault.times === 0) this.#faults.delete(op);
    if (fault) throw fault.error;
  }

  #handle(vm: FakeVm): D.VmHandle {
    // Runs `op` when the VM's power state is one of `from` (any when omitted), then moves it `to`.
    const act = async (op: VmOp, o?: D.ActionOptions, from?: D.VmPowerState[], to?: D.VmPowerState) => {
      await this.#enter(op, vm.spec.name, o);
      const gone = op !== 'destroy' && !this.vms.has(vm.id);
      if (gone) throw new HypervisorError('NOT_FOUND', `fake: ${vm.id} is gone`);
      const bad = from && !from.includes(vm.power);
      if (bad) throw new HypervisorError('CONTROL', `fake: cannot ${op} ${vm.power}`);
      if (to) vm.power = to;
    };
    const handle: D.VmHandle = {
      id: vm.id,
      name: vm.spec.name,
      state: (o) => act('state', o).then(() => vm.power),
      start: (lastStart, o) => {
        return act('start', o, ['poweroff', 'saved', 'error'], 'running').then(
          () => void Object.assign(vm, { lastStart }),
        );
      },
      stop: (o) => act('stop', o, undefined, 'poweroff'),
      destroy: (o) => act('destroy', o).then(() => void this.vms.delete(vm.id)),
      pause: (o) => act('pause', o, ['running'], 'paused'),
      resume: (o) => act('resume', o, ['paused'], 'running'),
      hibernate: (o) => act('hibernate', o, ['running', 'paused'], 'saved'),
      reset: (o) => act('reset', o, ['running']),
      setExecutionCap: (cap, o) => act('setExecutionCap', o).then(() => void Object.assign(vm, { cap })),
      setProperty: (key, value, o) => act('setProperty', o).then(() => void vm.properties.set(key, value)),
      getProperty: (key, o) => act('getProperty', o).then(() => vm.properties.get(key)),
      apiEndpoint: () => (vm.power === 'running' ? this.#options.api : undefined),
    };
    for (const method of this.#options.missing ?? []) Reflect.deleteProperty(handle, method);
    return handle;
  }
}
