import type { ActionOptions, ProgressOptions } from '../action-options.js';
import { KeyedQueue } from '../concurrency/keyed-queue.js';
import type { ErrorCodeName } from '../errors/error-code.js';
import { abortedError, HypervisorError, toHypervisorError } from '../errors/hypervisor-error.js';
import type {
  ApiEndpoint,
  DisplayEndpoint,
  Driver,
  DriverCapabilities,
  Hypervisor,
  ProbeResult,
  StartSpec,
  StopCause,
  VmHandle,
  VmPowerState,
  VmSpec,
  VmSummary,
} from './driver.js';

/** The VM operations core performs, with the capability each needs and the code a failure gets. */
const operations = {
  state: { code: 'QUERY' },
  start: { code: 'CONTROL' },
  stop: { code: 'CONTROL' },
  destroy: { code: 'DELETE' },
  pause: { code: 'CONTROL', capability: 'pause' },
  resume: { code: 'CONTROL', capability: 'pause' },
  hibernate: { code: 'CONTROL', capability: 'hibernate' },
  reset: { code: 'CONTROL', capability: 'reset' },
  setExecutionCap: { code: 'MODIFY', capability: 'executionCap' },
  setProperty: { code: 'MODIFY', capability: 'guestProperties' },
  getProperty: { code: 'QUERY', capability: 'guestProperties' },
  stopCause: { code: 'QUERY' },
  display: { code: 'QUERY', capability: 'display' },
  screenshot: { code: 'QUERY', capability: 'screenshot' },
} as const satisfies Record<string, { code: ErrorCodeName; capability?: keyof DriverCapabilities }>;

type Operation = keyof typeof operations;

/**
 * A VM handle as core uses it: every method exists; a method whose capability
 * the driver lacks rejects with `NOT_SUPPORTED`; calls on one VM run one at a
 * time; every failure is a {@link HypervisorError}.
 */
export interface GuardedVm {
  /** The driver's id of the VM (as {@link VmHandle.id}). */
  readonly id: string;
  /** The VM's name on the hypervisor (as {@link VmHandle.name}). */
  readonly name: string;
  /** Asks the hypervisor for the VM's power state now. */
  state(options?: ActionOptions): Promise<VmPowerState>;
  /** Boots the VM with its disks, context medium and API forwarding as `spec` says. */
  start(spec: StartSpec, options?: ProgressOptions): Promise<void>;
  /** Shuts the guest down (ACPI), powering it off after `timeoutMs`. */
  stop(options?: ProgressOptions & { timeoutMs?: number }): Promise<void>;
  /** Removes the VM and every file the driver made for it. */
  destroy(options?: ProgressOptions): Promise<void>;
  /** Freezes the running VM in memory; `NOT_SUPPORTED` without the `pause` capability. */
  pause(options?: ActionOptions): Promise<void>;
  /** Continues a paused VM; `NOT_SUPPORTED` without the `pause` capability. */
  resume(options?: ActionOptions): Promise<void>;
  /** Saves the VM's memory to disk and stops it; `NOT_SUPPORTED` without the `hibernate` capability. */
  hibernate(options?: ProgressOptions): Promise<void>;
  /** Restarts the guest at once, as the reset button; `NOT_SUPPORTED` without the `reset` capability. */
  reset(options?: ActionOptions): Promise<void>;
  /** Limits the VM's CPU time to `cap` percent; `NOT_SUPPORTED` without the `executionCap` capability. */
  setExecutionCap(cap: number, options?: ActionOptions): Promise<void>;
  /** Writes a guest property the guest can read; `NOT_SUPPORTED` without the `guestProperties` capability. */
  setProperty(key: string, value: string, options?: ActionOptions): Promise<void>;
  /** Reads a guest property, `undefined` when unset; `NOT_SUPPORTED` without the `guestProperties` capability. */
  getProperty(key: string, options?: ActionOptions): Promise<string | undefined>;
  /** Where the guest's API answers on this machine while the VM runs, `undefined` when it has none. */
  apiEndpoint(): ApiEndpoint | undefined;
  /** The driver's {@link VmHandle.stopCause}; `undefined` when the driver has none. */
  stopCause(options?: ActionOptions): Promise<StopCause | undefined>;
  /** Where the running VM's display listens, with its password; `NOT_SUPPORTED` without the `display` capability. */
  display(options?: ActionOptions): Promise<DisplayEndpoint | undefined>;
  /** The running VM's screen as PNG bytes; `NOT_SUPPORTED` without the `screenshot` capability. */
  screenshot(options?: ActionOptions): Promise<Uint8Array>;
}

/** A connected hypervisor behind the runtime guard. */
export interface GuardedHypervisor {
  /** The driver's name, e.g. `kvm`. */
  readonly name: string;
  /** The hypervisor's version as the driver read it at connection. */
  readonly version: string;
  /**
   * What this connection can do: the driver's capabilities less those its hypervisor turned off,
   * every optional one present (`false` when the driver leaves it out).
   */
  readonly capabilities: Required<DriverCapabilities>;
  /** Why a capability is off for this connection, where its hypervisor said ({@link Hypervisor.capabilityReasons}). */
  readonly capabilityReasons: Partial<Record<keyof DriverCapabilities, string>>;
  /** The driver's own object, for {@link SessionRegistry.reconcile} and diagnostics. */
  readonly inner: Hypervisor;
  /** Defines a new VM (not started) from `spec`. */
  createVm(spec: VmSpec, options?: ProgressOptions): Promise<GuardedVm>;
  /** The VM of ours with this id, `undefined` when the hypervisor has none. */
  findVm(id: string, options?: ActionOptions): Promise<GuardedVm | undefined>;
  /** Every VM of ours (this installation's) the hypervisor has, with its power state. */
  listVms(options?: ActionOptions): Promise<VmSummary[]>;
  /** See {@link Hypervisor.watch}; a no-op for drivers without it. */
  watch(listener: (vmId: string) => void, onResync?: () => void): () => void;
  /** Closes the connection; later calls reject with `INVALID_STATE`. VMs keep running. */
  dispose(): Promise<void>;
}

/**
 * The runtime guard around a {@link Driver} (after kysely's `RuntimeDriver`):
 * connects at most once however many callers ask at the same time, refuses use
 * after {@link GuardedDriver.dispose} with `INVALID_STATE`, answers
 * `NOT_SUPPORTED` uniformly for a missing capability, serialises calls per VM,
 * turns any foreign error into a {@link HypervisorError} with the original as
 * `cause`, and reports every call to `onDebug`.
 */
export class GuardedDriver {
  readonly #driver: Driver;
  readonly #onDebug: ((message: string) => void) | undefined;
  #connecting: Promise<GuardedHypervisor> | undefined;
  #disposed = false;

  constructor(driver: Driver, options: { onDebug?: (message: string) => void } = {}) {
    this.#driver = driver;
    this.#onDebug = options.onDebug;
  }

  /** The driver's name. */
  get name(): string {
    return this.#driver.name;
  }

  /** The driver's capabilities. */
  get capabilities(): DriverCapabilities {
    return this.#driver.capabilities;
  }

  /** Runs the driver's probe; never throws (a failing probe is reported as unhealthy). */
  async probe(options?: ActionOptions): Promise<ProbeResult> {
    try {
      return await this.#driver.probe(options);
    } catch (error) {
      return { installed: false, healthy: false, score: 0, reason: `probe failed: ${describe(error)}` };
    }
  }

  /** Connects once; later and concurrent calls get the same connection. */
  connect(options?: ActionOptions): Promise<GuardedHypervisor> {
    if (this.#disposed) return Promise.reject(disposedError(this.name));
    this.#connecting ??= this.#driver.create(options).then(
      async (inner) => {
        // Records carry the driver's name and reconcile() compares it with the hypervisor's.
        if (inner.name !== this.name) {
          await inner.dispose().catch(() => undefined);
          this.#connecting = undefined;
          throw new HypervisorError(
            'NOT_VALIDATED',
            `the ${this.name} driver connected a hypervisor named "${inner.name}": Hypervisor.name must be the driver's name`,
            { details: { driver: this.name, hypervisor: inner.name } },
          );
        }
        return this.#wrap(inner);
      },
      (error: unknown) => {
        this.#connecting = undefined;
        throw toHypervisorError(error, 'EXTERNAL', `cannot connect to ${this.name}`);
      },
    );
    return this.#connecting;
  }

  /** Disposes the connection (if any). Running VMs keep running. Idempotent. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const connecting = this.#connecting;
    this.#connecting = undefined;
    const hypervisor = await connecting?.catch(() => undefined);
    await hypervisor?.inner.dispose();
  }

  #wrap(inner: Hypervisor): GuardedHypervisor {
    const name = this.name;
    const capabilities = connectedCapabilities(this.capabilities, inner.capabilities);
    const capabilityReasons = Object.freeze({ ...inner.capabilityReasons });
    // Calls on one VM run one after another; a call whose signal fires while it waits never runs.
    const queues = new KeyedQueue<string>();

    const live = () => {
      if (this.#disposed) throw disposedError(name);
    };
    const call = async <T>(
      what: string,
      code: ErrorCodeName,
      signal: AbortSignal | undefined,
      run: () => Promise<T>,
    ) => {
      live();
      if (signal?.aborted) throw abortedError(what, signal.reason);
      this.#onDebug?.(`${name}: ${what}`);
      try {
        return await run();
      } catch (error) {
        throw toHypervisorError(error, code, `${name}: ${what} failed`);
      }
    };

    const wrapVm = (vm: VmHandle): GuardedVm => {
      const op = <T>(
        operation: Operation,
        options: ActionOptions | undefined,
        run: () => Promise<T> | undefined,
      ) => {
        const rule: { code: ErrorCodeName; capability?: keyof DriverCapabilities } = operations[operation];
        if (rule.capability && !capabilities[rule.capability]) {
          return Promise.reject(
            notSupportedError(name, operation, rule.capability, capabilityReasons[rule.capability]),
          );
        }
        const what = `${operation} ${vm.name}`;
        return queues.run(
          vm.id,
          () =>
            call(what, rule.code, options?.signal, async () => {
              const pending = run();
              if (!pending) {
                throw new HypervisorError(
                  'NOT_IMPLEMENTED',
                  `the ${name} driver declares ${operation} but lacks it`,
                );
              }
              return pending;
            }),
          { signal: options?.signal, what },
        );
      };
      return {
        id: vm.id,
        name: vm.name,
        state: (o) => op('state', o, () => vm.state(o)),
        start: (spec, o) => op('start', o, () => vm.start(spec, o)),
        stop: (o) => op('stop', o, () => vm.stop(o)),
        destroy: (o) => op('destroy', o, () => vm.destroy(o)),
        pause: (o) => op('pause', o, () => vm.pause?.(o)),
        resume: (o) => op('resume', o, () => vm.resume?.(o)),
        hibernate: (o) => op('hibernate', o, () => vm.hibernate?.(o)),
        reset: (o) => op('reset', o, () => vm.reset?.(o)),
        setExecutionCap: (cap, o) => op('setExecutionCap', o, () => vm.setExecutionCap?.(cap, o)),
        setProperty: (key, value, o) => op('setProperty', o, () => vm.setProperty?.(key, value, o)),
        getProperty: (key, o) => op('getProperty', o, () => vm.getProperty?.(key, o)),
        apiEndpoint: () => {
          if (!capabilities.apiPortForwarding || this.#disposed) return undefined;
          // Called outside the VM's queue, every look of the API watch: a throw means "unknown".
          try {
            return vm.apiEndpoint?.();
          } catch (error) {
            this.#onDebug?.(`${name}: apiEndpoint ${vm.name} failed: ${describe(error)}`);
            return undefined;
          }
        },
        stopCause: (o) =>
          vm.stopCause ? op('stopCause', o, () => vm.stopCause?.(o)) : Promise.resolve(undefined),
        display: (o) => op('display', o, () => vm.display?.(o)),
        screenshot: (o) => op('screenshot', o, () => vm.screenshot?.(o)),
      };
    };

    return {
      name,
      version: inner.version,
      capabilities,
      capabilityReasons,
      inner,
      createVm: (spec, o) =>
        call(`create ${spec.name}`, 'CREATE', o?.signal, () => inner.createVm(spec, o)).then(wrapVm),
      findVm: (id, o) =>
        call(`find ${id}`, 'QUERY', o?.signal, () => inner.findVm(id, o)).then((vm) =>
          vm ? wrapVm(vm) : undefined,
        ),
      listVms: (o) => call('list', 'QUERY', o?.signal, () => inner.listVms(o)),
      watch: (listener, onResync) => {
        if (!inner.watch) return () => undefined;
        // A listener's failure must not break the driver's event stream.
        const guarded =
          <A extends unknown[]>(what: string, f: (...args: A) => void) =>
          (...args: A) => {
            if (this.#disposed) return;
            try {
              f(...args);
            } catch (error) {
              this.#onDebug?.(`${name}: a ${what} listener failed: ${describe(error)}`);
            }
          };
        return onResync
          ? inner.watch(guarded('state', listener), guarded('resync', onResync))
          : inner.watch(guarded('state', listener));
      },
      dispose: () => this.dispose(),
    };
  }
}

/**
 * The capabilities of a connection: the driver's, with those the hypervisor turned off
 * ({@link Hypervisor.capabilities}) off. A hypervisor cannot turn on what the driver lacks.
 */
function connectedCapabilities(
  declared: DriverCapabilities,
  connected: Partial<DriverCapabilities> | undefined,
): Required<DriverCapabilities> {
  const result: { -readonly [K in keyof DriverCapabilities]-?: boolean } = {
    display: false,
    screenshot: false,
    ...declared,
  };
  for (const key of Object.keys(result) as (keyof DriverCapabilities)[]) {
    if (connected?.[key] === false) result[key] = false;
  }
  return Object.freeze(result);
}

/**
 * The `NOT_SUPPORTED` (-11) error of `operation` on a connection of driver `name` that lacks
 * `capability`, with the hypervisor's `reason` when it gave one.
 * @internal
 */
export function notSupportedError(
  name: string,
  operation: string,
  capability: keyof DriverCapabilities,
  reason: string | undefined,
): HypervisorError {
  return new HypervisorError(
    'NOT_SUPPORTED',
    `the ${name} driver does not support ${operation}()${reason ? `: ${reason}` : ''}`,
    { details: { driver: name, operation, capability, ...(reason ? { reason } : {}) } },
  );
}

function disposedError(name: string): HypervisorError {
  return new HypervisorError('INVALID_STATE', `the ${name} driver was disposed`, {
    details: { driver: name },
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
