// Internal test helper: a small in-memory Driver for core's own tests. Not exported from the package.
import type {
  ActionOptions,
  ApiEndpoint,
  Driver,
  DriverCapabilities,
  Hypervisor,
  ProbeResult,
  StartSpec,
  VmHandle,
  VmPowerState,
  VmSpec,
} from '../driver/driver.js';
import { abortedError, HypervisorError } from '../errors/hypervisor-error.js';

/** Every operation of the fake, as logged in {@link FakeDriver.calls}. */
export type FakeOp =
  | 'connect'
  | 'create'
  | 'find'
  | 'list'
  | 'state'
  | 'start'
  | 'stop'
  | 'destroy'
  | 'pause'
  | 'resume'
  | 'hibernate'
  | 'reset'
  | 'setExecutionCap'
  | 'setProperty'
  | 'getProperty';

/** One VM of the fake hypervisor; tests may change `power` to simulate out-of-band changes. */
export interface FakeVm {
  readonly id: string;
  readonly spec: VmSpec;
  power: VmPowerState;
  cap: number;
  readonly properties: Map<string, string>;
  lastStart?: StartSpec;
}

export interface FakeDriverOptions {
  name?: string;
  /** Merged over {@link fullCapabilities}. */
  capabilities?: Partial<DriverCapabilities>;
  probe?: ProbeResult;
  /** VM handle methods to leave out (to test a declared but missing capability). */
  missing?: readonly (keyof VmHandle)[];
  /** Returned by `apiEndpoint()` while a VM runs (needs capability `apiPortForwarding`). */
  api?: ApiEndpoint;
}

export const fullCapabilities: DriverCapabilities = Object.freeze({
  executionCap: true,
  pause: true,
  hibernate: true,
  reset: true,
  guestProperties: true,
  apiPortForwarding: false,
});

export interface Gate {
  /** Resolves when the hung call has been entered. */
  readonly entered: Promise<void>;
  /** Lets the hung call go on. */
  release(): void;
}

export class FakeDriver implements Driver {
  readonly name: string;
  readonly capabilities: DriverCapabilities;
  readonly vms = new Map<string, FakeVm>();
  /** Every operation entered, in order ("op" or "op vmName"). */
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
  fail(op: FakeOp, error: unknown = new Error(`injected ${op} failure`), times = Number.POSITIVE_INFINITY) {
    this.#faults.set(op, { error, times });
  }

  /** The next call of `op` waits until released, or rejects (aborted) when its signal aborts. */
  hang(op: FakeOp): Gate {
    let entered!: () => void;
    let release!: () => void;
    const enteredPromise = new Promise<void>((resolve) => (entered = resolve));
    this.#gates.set(op, { open: new Promise<void>((resolve) => (release = resolve)), entered });
    return { entered: enteredPromise, release };
  }

  /** Removes every injected failure and hang. */
  heal(): void {
    this.#faults.clear();
    this.#gates.clear();
  }

  /** Names of the operations entered so far. */
  ops(): string[] {
    return this.calls.map((call) => call.split(' ')[0]!);
  }

  async probe(): Promise<ProbeResult> {
    return this.#options.probe ?? { installed: true, healthy: true, score: 50, version: '1.0' };
  }

  async create(options?: ActionOptions): Promise<Hypervisor> {
    await this.#enter('connect', undefined, options);
    return {
      name: this.name,
      version: '1.0',
      createVm: async (spec, o) => {
        await this.#enter('create', spec.name, o);
        const vm: FakeVm = { id: `fake-${++this.#seq}`, spec, power: 'poweroff', cap: spec.executionCap, properties: new Map() };
        this.vms.set(vm.id, vm);
        return this.#handle(vm);
      },
      findVm: async (id, o) => {
        await this.#enter('find', id, o);
        const vm = this.vms.get(id);
        return vm && this.#handle(vm);
      },
      listVms: async (o) => {
        await this.#enter('list', undefined, o);
        return [...this.vms.values()].map((v) => ({ id: v.id, name: v.spec.name, sessionId: v.spec.sessionId, state: v.power }));
      },
      dispose: async () => void this.disposed++,
    };
  }

  async #enter(op: FakeOp, target: string | undefined, options: ActionOptions | undefined): Promise<void> {
    this.calls.push(target ? `${op} ${target}` : op);
    const signal = options?.signal;
    if (signal?.aborted) throw abortedError(op, signal.reason);
    const gate = this.#gates.get(op);
    if (gate) {
      this.#gates.delete(op);
      gate.entered();
      await new Promise<void>((resolve, reject) => {
        signal?.addEventListener('abort', () => reject(abortedError(op, signal.reason)), { once: true });
        void gate.open.then(resolve);
      });
    }
    const fault = this.#faults.get(op);
    if (fault && fault.times > 0) {
      if (--fault.times === 0) this.#faults.delete(op);
      throw fault.error;
    }
  }

  #handle(vm: FakeVm): VmHandle {
    // Runs `op` on `vm` when its power state is one of `from` (any state when omitted), moving it `to`.
    const act = (op: FakeOp, o: ActionOptions | undefined, from?: VmPowerState[], to?: VmPowerState) =>
      this.#enter(op, vm.spec.name, o).then(() => {
        if (op !== 'destroy' && !this.vms.has(vm.id)) throw new HypervisorError('NOT_FOUND', `fake: ${vm.id} is gone`);
        if (from && !from.includes(vm.power)) throw new HypervisorError('CONTROL', `fake: cannot ${op}: ${vm.power}`);
        if (to) vm.power = to;
      });
    const handle: VmHandle = {
      id: vm.id,
      name: vm.spec.name,
      state: (o) => act('state', o).then(() => vm.power),
      start: (spec, o) => act('start', o, ['poweroff', 'saved', 'error'], 'running').then(() => void (vm.lastStart = spec)),
      stop: (o) => act('stop', o, undefined, 'poweroff'),
      destroy: (o) => act('destroy', o).then(() => void this.vms.delete(vm.id)),
      pause: (o) => act('pause', o, ['running'], 'paused'),
      resume: (o) => act('resume', o, ['paused'], 'running'),
      hibernate: (o) => act('hibernate', o, ['running', 'paused'], 'saved'),
      reset: (o) => act('reset', o, ['running']),
      setExecutionCap: (cap, o) => act('setExecutionCap', o).then(() => void (vm.cap = cap)),
      setProperty: (key, value, o) => act('setProperty', o).then(() => void vm.properties.set(key, value)),
      getProperty: (key, o) => act('getProperty', o).then(() => vm.properties.get(key)),
      apiEndpoint: () => (vm.power === 'running' ? this.#options.api : undefined),
    };
    for (const method of this.#options.missing ?? []) delete (handle as unknown as Record<string, unknown>)[method];
    return handle;
  }
}
