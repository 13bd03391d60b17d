// Internal test helper (not exported): an in-memory Driver with failure injection, hangs and power rules.
// Tests may change a FakeVm's `power` (an out-of-band change) or delete it from `vms` (it vanished).
import type { ActionOptions } from '../src/action-options.js';
import type * as D from '../src/driver/driver.js';
import { abortedError, HypervisorError } from '../src/errors/hypervisor-error.js';

type VmOp = Exclude<keyof D.VmHandle, 'id' | 'name' | 'apiEndpoint'>;
export type FakeOp = 'connect' | 'create' | 'find' | 'list' | VmOp;

export interface FakeVm {
  readonly id: string;
  readonly spec: D.VmSpec;
  power: D.VmPowerState;
  cap: number;
  readonly properties: Map<string, string>;
}

export interface FakeDriverOptions {
  name?: string;
  capabilities?: Partial<D.DriverCapabilities>; // merged over fullCapabilities
  probe?: D.ProbeResult;
  missing?: readonly VmOp[]; // VM handle methods left out (a declared but missing capability)
  api?: D.ApiEndpoint; // returned by apiEndpoint() while a VM runs
  display?: D.DisplayEndpoint; // returned by display() while a VM runs or is paused
  connected?: Partial<D.DriverCapabilities>; // the connection's Hypervisor.capabilities
}

/** What the fake's screenshot() gives: a PNG signature (the fake draws nothing). */
export const fakePng = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export const fullCapabilities: D.DriverCapabilities = Object.freeze({
  ...{ executionCap: true, pause: true, hibernate: true, reset: true, guestProperties: true },
  apiPortForwarding: false,
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  const d = { resolve: () => {}, promise: Promise.resolve() };
  d.promise = new Promise<void>((resolve) => Object.assign(d, { resolve }));
  return d;
}

export class FakeDriver implements D.Driver {
  readonly name: string;
  readonly capabilities: D.DriverCapabilities;
  readonly vms = new Map<string, FakeVm>();
  readonly calls: string[] = []; // every operation entered, in order: `op` or `op target`
  readonly starts: D.StartSpec[] = []; // what every successful start() was given
  disposed = 0;
  readonly watchers = new Set<(vmId: string) => void>(); // what core subscribed through Hypervisor.watch
  readonly resyncers = new Set<() => void>(); // the onResync callbacks core passed to Hypervisor.watch
  readonly #options: FakeDriverOptions;
  readonly #faults = new Map<FakeOp, { error: unknown; times: number }>();
  readonly #gates = new Map<FakeOp, { open: Promise<void>; entered: () => void }>();

  constructor(options: FakeDriverOptions = {}) {
    this.#options = options;
    this.name = options.name ?? 'fake';
    this.capabilities = { ...fullCapabilities, ...options.capabilities };
  }

  /** The next `times` calls of `op` reject with `error` (a plain Error unless given). */
  fail(op: FakeOp, error: unknown = new Error(`injected ${op} failure`), times = Infinity): void {
    this.#faults.set(op, { error, times });
  }

  /** The next call of `op` waits until `release()`, or rejects (aborted) when its signal aborts. */
  hang(op: FakeOp): { entered: Promise<void>; release: () => void } {
    const entered = deferred();
    const open = deferred();
    this.#gates.set(op, { open: open.promise, entered: entered.resolve });
    return { entered: entered.promise, release: open.resolve };
  }

  heal(): void {
    this.#faults.clear();
    this.#gates.clear();
  }

  async probe(): Promise<D.ProbeResult> {
    return this.#options.probe ?? { installed: true, healthy: true, score: 50, version: '1.0' };
  }

  async create(options?: ActionOptions): Promise<D.Hypervisor> {
    await this.#enter('connect', undefined, options);
    return {
      name: this.name,
      version: '1.0',
      ...(this.#options.connected ? { capabilities: this.#options.connected } : {}),
      createVm: async (spec, o) => {
        await this.#enter('create', spec.name, o);
        const id = `fake-${this.calls.length}`; // unique: every call is logged
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
      watch: (listener, onResync) => {
        this.watchers.add(listener);
        if (onResync) this.resyncers.add(onResync);
        return () => {
          this.watchers.delete(listener);
          if (onResync) this.resyncers.delete(onResync);
        };
      },
      dispose: async () => void this.disposed++,
    };
  }

  async #enter(op: FakeOp, target: string | undefined, options: ActionOptions | undefined): Promise<void> {
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
    if (fault && --fault.times <= 0) this.#faults.delete(op);
    if (fault) throw fault.error;
  }

  #handle(vm: FakeVm): D.VmHandle {
    // Runs `op` when the VM's power state is one of `from` (any when omitted), then moves it `to`.
    type Power = D.VmPowerState;
    const act = async (op: VmOp, o?: ActionOptions, from?: Power[], to?: Power, effect = () => {}) => {
      await this.#enter(op, vm.spec.name, o);
      const gone = op !== 'destroy' && !this.vms.has(vm.id);
      if (gone) throw new HypervisorError('NOT_FOUND', `fake: ${vm.id} is gone`);
      const bad = from && !from.includes(vm.power);
      if (bad) throw new HypervisorError('CONTROL', `fake: cannot ${op} ${vm.power}`);
      if (to) vm.power = to;
      effect();
    };
    const handle: D.VmHandle = {
      id: vm.id,
      name: vm.spec.name,
      state: (o) => act('state', o).then(() => vm.power),
      start: (spec, o) =>
        act('start', o, ['poweroff', 'saved', 'error'], 'running', () => this.starts.push(spec)),
      stop: (o) => act('stop', o, undefined, 'poweroff'),
      destroy: (o) => act('destroy', o).then(() => void this.vms.delete(vm.id)),
      pause: (o) => act('pause', o, ['running'], 'paused'),
      resume: (o) => act('resume', o, ['paused'], 'running'),
      hibernate: (o) => act('hibernate', o, ['running', 'paused'], 'saved'),
      reset: (o) => act('reset', o, ['running']),
      setExecutionCap: (cap, o) =>
        act('setExecutionCap', o, undefined, undefined, () => Object.assign(vm, { cap })),
      setProperty: (key, value, o) => act('setProperty', o).then(() => void vm.properties.set(key, value)),
      getProperty: (key, o) => act('getProperty', o).then(() => vm.properties.get(key)),
      apiEndpoint: () => (vm.power === 'running' ? this.#options.api : undefined),
      display: (o) =>
        act('display', o).then(() =>
          ['running', 'paused'].includes(vm.power) ? this.#options.display : undefined,
        ),
      screenshot: (o) => act('screenshot', o, ['running', 'paused']).then(() => fakePng),
    };
    for (const method of this.#options.missing ?? []) Reflect.deleteProperty(handle, method);
    return handle;
  }
}
