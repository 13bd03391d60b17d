import { HypervisorError } from '@cvmweb/core';
import type { MockFault } from './mock-fault.js';
import type { MockStep } from './mock-step.js';
import type { MockVmInfo } from './mock-vm-info.js';
import { MockWorld, poweredOffVm, type VmRecord } from './mock-world.js';

let worldOf: (state: MockHypervisor) => MockWorld;

/**
 * The simulated hypervisor itself: its VMs, call counters, armed faults and
 * API servers. Every {@link mock} driver and every `create()` connection given
 * the same state sees the same VMs, so a test simulates a restarted process by
 * creating a second driver on the state of the first.
 *
 * Call {@link MockHypervisor.shutdown} after each test: running VMs keep
 * their loopback servers open until then, as real VMs outlive the process.
 *
 * @example
 * ```ts
 * const state = createMockHypervisor();
 * const first = await mock({ instance: state }).create();
 * // … create and start VMs, then "restart":
 * const second = await mock({ instance: state }).create();
 * expect(await second.listVms()).toHaveLength(1);
 * await state.shutdown();
 * ```
 */
export class MockHypervisor {
  readonly #world = new MockWorld();

  static {
    worldOf = (state) => state.#world;
  }

  /** How many times each step was called, across every VM and connection, since the state was made. */
  get calls(): Readonly<Record<MockStep, number>> {
    return this.#world.calls;
  }

  /** The number of API servers open now (one per running VM with an API). */
  get openServers(): number {
    return this.#world.servers.size;
  }

  /** The faults armed and not yet spent. */
  get faults(): readonly MockFault[] {
    return this.#world.pendingFaults();
  }

  /**
   * Arms a fault; its `nth` counts calls of its step from now on.
   *
   * @throws HypervisorError `INVALID_USAGE` for an unknown step or code, or a bad `nth` / `times`.
   */
  inject(fault: MockFault): void {
    this.#world.arm(fault);
  }

  /** Disarms every pending fault. */
  clearFaults(): void {
    this.#world.clearFaults();
  }

  /** Snapshots of every VM the hypervisor holds (foreign ones included), in creation order. */
  vms(): MockVmInfo[] {
    return [...this.#world.vms.values()].map((vm) => this.#world.info(vm));
  }

  /** A snapshot of the VM with this id or name, or `undefined`. */
  vm(idOrName: string): MockVmInfo | undefined {
    const vm = this.#world.vms.get(idOrName) ?? this.#world.byName(idOrName);
    return vm && this.#world.info(vm);
  }

  /**
   * Adds a powered-off VM that cvmweb did not create (another tool's VM). Drivers never list,
   * find or touch it, and creating a VM with its name fails. Returns its id.
   */
  addForeignVm(name: string): string {
    if (this.#world.byName(name))
      throw new HypervisorError('ALREADY_EXISTS', `mock: a VM named ${name} exists already`);
    const id = this.#world.newId();
    this.#world.add(
      poweredOffVm({ id, name, sessionId: '', spec: undefined, ours: false, executionCap: 100 }),
    );
    return id;
  }

  /**
   * Makes a running or paused VM crash (power state `error`), as a guest kernel panic or host OOM
   * kill would. Connections' `watch()` listeners are told, as a real hypervisor's events would.
   */
  crash(idOrName: string): Promise<void> {
    return this.#outside(idOrName, 'error');
  }

  /** Powers a running or paused VM off from inside, as a guest shutting itself down would; `watch()` listeners are told. */
  guestShutdown(idOrName: string): Promise<void> {
    return this.#outside(idOrName, 'poweroff');
  }

  /**
   * Drops the event stream, as a hypervisor daemon restarting would: changes made from outside
   * ({@link MockHypervisor.crash}, {@link MockHypervisor.guestShutdown}) are not
   * reported to `watch()` listeners until {@link MockHypervisor.restoreEvents}.
   */
  dropEvents(): void {
    this.#world.eventsDropped = true;
  }

  /**
   * Brings the event stream back after {@link MockHypervisor.dropEvents}: connections'
   * `watch()` resync callbacks are called, so core re-reads every VM and sees what it missed.
   */
  restoreEvents(): void {
    if (!this.#world.eventsDropped) return;
    this.#world.eventsDropped = false;
    for (const resync of [...this.#world.resyncers]) resync();
  }

  /**
   * Shuts the simulated hypervisor down, as a host shutdown would: closes every API server,
   * powers running and paused VMs off (saved VMs stay saved), and rejects calls hanging on an
   * injected fault. The VMs stay defined. Call it after each test.
   */
  async shutdown(): Promise<void> {
    const error = new HypervisorError('CONTROL', 'mock: the hypervisor was shut down');
    for (const reject of [...this.#world.hangs]) reject(error);
    this.#world.hangs.clear();
    const closing: Promise<void>[] = [];
    for (const vm of this.#world.vms.values()) {
      if (vm.power === 'running' || vm.power === 'paused') off(vm, 'poweroff');
      closing.push(this.#world.closeApi(vm));
    }
    await Promise.all(closing);
  }

  async #outside(idOrName: string, power: 'error' | 'poweroff'): Promise<void> {
    const vm = this.#world.vms.get(idOrName) ?? this.#world.byName(idOrName);
    if (!vm) throw new HypervisorError('NOT_FOUND', `mock: no VM ${idOrName}`);
    if (vm.power !== 'running' && vm.power !== 'paused') {
      throw new HypervisorError('INVALID_STATE', `mock: ${vm.name} is ${vm.power}, not running or paused`);
    }
    off(vm, power);
    await this.#world.closeApi(vm);
    if (this.#world.eventsDropped) return;
    for (const listener of [...this.#world.watchers]) listener(vm.id);
  }
}

function off(vm: VmRecord, power: 'error' | 'poweroff'): void {
  vm.power = power;
  vm.bootId = undefined;
  vm.guest = undefined;
}

/** The internal world of a state (package-private). */
export function worldOfState(state: MockHypervisor): MockWorld {
  return worldOf(state);
}

/** Makes a fresh simulated hypervisor state, to share between {@link mock} drivers. */
export function createMockHypervisor(): MockHypervisor {
  return new MockHypervisor();
}
