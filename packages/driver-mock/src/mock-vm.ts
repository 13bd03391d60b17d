import {
  type ActionOptions,
  type ApiEndpoint,
  abortedError,
  type DisplayEndpoint,
  HypervisorError,
  type ProgressOptions,
  type StartSpec,
  type VmHandle,
  type VmPowerState,
} from '@cvmweb/core';
import type { MockContext } from './mock-context.js';
import { MockGuest } from './mock-guest.js';
import type { VmRecord } from './mock-world.js';

/** The guest address behind the API port forward, as VirtualBox's NAT gives it. */
const guestIp = '10.0.2.15';

/**
 * A handle on one VM of the mock hypervisor. The power rules are the
 * hypervisor's own, checked after each step's delay as a real hypervisor
 * checks when the command runs.
 */
export class MockVm implements VmHandle {
  readonly #ctx: MockContext;
  readonly #vm: VmRecord;

  /** @internal Made by the mock hypervisor connection, the only way users get one. */
  static create(ctx: MockContext, vm: VmRecord): MockVm {
    return new MockVm(ctx, vm);
  }

  // Private: users get handles from the connection, and the shipped .d.ts says so.
  private constructor(ctx: MockContext, vm: VmRecord) {
    this.#ctx = ctx;
    this.#vm = vm;
  }

  get id(): string {
    return this.#vm.id;
  }

  get name(): string {
    return this.#vm.name;
  }

  /** The current boot's id (see {@link MockVmInfo.bootId}); for tests. */
  get bootId(): number | undefined {
    return this.#vm.bootId;
  }

  async state(options?: ActionOptions): Promise<VmPowerState> {
    const wait = this.#ctx.enter('state', this.#vm.name, options);
    if (wait) await wait;
    this.#exists();
    return this.#vm.power;
  }

  async start(spec: StartSpec, options?: ProgressOptions): Promise<void> {
    const vm = this.#vm;
    const progress = options?.onProgress;
    progress?.(0, 3, `checking ${vm.name}`);
    const wait = this.#ctx.enter('start', vm.name, options);
    if (wait) await wait;
    const from = this.#require('start', ['poweroff', 'saved', 'error']);
    const restore = from === 'saved';
    progress?.(1, 3, restore ? 'restoring the saved state' : 'attaching the context medium and booting');
    const api = this.#ctx.api;
    if (api) {
      progress?.(2, 3, 'opening the API port');
      await this.#ctx.world.openApi(vm, api);
      // Listening yields to the event loop: give up when the call was aborted or the VM moved meanwhile.
      if (options?.signal?.aborted || vm.destroyed || vm.power !== from || !vm.server) {
        if (vm.power !== 'running') await this.#ctx.world.closeApi(vm);
        if (options?.signal?.aborted) throw abortedError(`mock: start ${vm.name}`, options.signal.reason);
        throw this.#invalid('start');
      }
    }
    const now = this.#ctx.clock.now();
    if (!restore || !vm.guest) {
      vm.keys = '';
      vm.bootId = this.#ctx.world.newBootId();
      vm.userData = spec.userData;
      vm.guest = new MockGuest(now, vm.executionCap, spec.context.format);
    } else {
      vm.guest.thaw(now);
    }
    // A restored guest was already up: only a fresh boot makes the API wait.
    vm.readyAt = restore ? 0 : this.#ctx.clock.now() + (api?.delayMs ?? 0);
    vm.power = 'running';
    progress?.(3, 3, restore ? 'restored' : 'started');
  }

  async stop(options?: ProgressOptions & { timeoutMs?: number }): Promise<void> {
    const wait = this.#ctx.enter('stop', this.#vm.name, options);
    if (wait) await wait;
    // Stopping a VM that is off already is a no-op: a session in Error may hold one.
    if (this.#require('stop', ['running', 'paused', 'error', 'poweroff']) === 'poweroff') return;
    this.#vm.power = 'poweroff';
    this.#vm.bootId = undefined;
    this.#vm.guest = undefined;
    await this.#ctx.world.closeApi(this.#vm);
  }

  async pause(options?: ActionOptions): Promise<void> {
    const wait = this.#ctx.enter('pause', this.#vm.name, options);
    if (wait) await wait;
    this.#require('pause', ['running']);
    this.#vm.power = 'paused';
    this.#vm.guest?.freeze(this.#ctx.clock.now());
    await this.#ctx.world.closeApi(this.#vm);
  }

  async resume(options?: ActionOptions): Promise<void> {
    const vm = this.#vm;
    const wait = this.#ctx.enter('resume', vm.name, options);
    if (wait) await wait;
    this.#require('resume', ['paused']);
    const api = this.#ctx.api;
    if (api) {
      await this.#ctx.world.openApi(vm, api);
      if (vm.destroyed || vm.power !== 'paused' || !vm.server) {
        if (vm.power !== 'running') await this.#ctx.world.closeApi(vm);
        throw this.#invalid('resume');
      }
    }
    vm.power = 'running';
    vm.guest?.thaw(this.#ctx.clock.now());
  }

  async hibernate(options?: ProgressOptions): Promise<void> {
    const wait = this.#ctx.enter('hibernate', this.#vm.name, options);
    if (wait) await wait;
    this.#require('hibernate', ['running', 'paused']);
    this.#vm.power = 'saved';
    this.#vm.guest?.freeze(this.#ctx.clock.now());
    await this.#ctx.world.closeApi(this.#vm);
  }

  async reset(options?: ActionOptions): Promise<void> {
    const wait = this.#ctx.enter('reset', this.#vm.name, options);
    if (wait) await wait;
    this.#require('reset', ['running']);
    const vm = this.#vm;
    vm.bootId = this.#ctx.world.newBootId();
    vm.keys = '';
    vm.guest = new MockGuest(this.#ctx.clock.now(), vm.executionCap, vm.guest?.context ?? 'cernvm');
    this.#vm.readyAt = this.#ctx.clock.now() + (this.#ctx.api?.delayMs ?? 0);
  }

  async destroy(options?: ProgressOptions): Promise<void> {
    const vm = this.#vm;
    const progress = options?.onProgress;
    progress?.(0, 3, `powering ${vm.name} off`);
    const wait = this.#ctx.enter('destroy', vm.name, options);
    if (wait) await wait;
    if (!vm.destroyed) {
      vm.destroyed = true;
      vm.power = 'poweroff';
      vm.bootId = undefined;
      vm.guest = undefined;
      this.#ctx.world.remove(vm);
      progress?.(1, 3, 'removing the disks and media');
      await this.#ctx.world.closeApi(vm);
      progress?.(2, 3, 'unregistering the VM');
    }
    progress?.(3, 3, 'destroyed');
  }

  async setExecutionCap(cap: number, options?: ActionOptions): Promise<void> {
    const wait = this.#ctx.enter('setExecutionCap', `${this.#vm.name} ${cap}`, options);
    if (wait) await wait;
    this.#exists();
    if (!Number.isInteger(cap) || cap < 1 || cap > 100) {
      throw new HypervisorError(
        'INVALID_USAGE',
        `mock: the execution cap must be an integer 1–100, got ${cap}`,
        {
          details: { cap },
        },
      );
    }
    this.#vm.executionCap = cap;
    this.#vm.guest?.cap(this.#ctx.clock.now(), cap);
  }

  async setProperty(key: string, value: string, options?: ActionOptions): Promise<void> {
    const wait = this.#ctx.enter('setProperty', `${this.#vm.name} ${key}`, options);
    if (wait) await wait;
    this.#exists();
    this.#vm.properties ??= new Map();
    this.#vm.properties.set(key, value);
  }

  async getProperty(key: string, options?: ActionOptions): Promise<string | undefined> {
    const wait = this.#ctx.enter('getProperty', `${this.#vm.name} ${key}`, options);
    if (wait) await wait;
    this.#exists();
    return this.#vm.properties?.get(key);
  }

  apiEndpoint(): ApiEndpoint | undefined {
    const vm = this.#vm;
    if (!vm.server || vm.power !== 'running') return undefined;
    return { host: '127.0.0.1', port: vm.port, guestIp };
  }

  /** The fake display of a running or paused VM: a VNC server on 127.0.0.1 with a random password. */
  async display(options?: ActionOptions): Promise<DisplayEndpoint | undefined> {
    if (options?.signal?.aborted) throw abortedError(`mock: display ${this.#vm.name}`, options.signal.reason);
    this.#exists();
    if (this.#vm.power !== 'running' && this.#vm.power !== 'paused') return undefined;
    const display = await this.#ctx.world.openDisplay(this.#vm, this.#ctx.animatedDisplay, true);
    // Listening yields to the event loop: the VM may have stopped meanwhile.
    if (this.#vm.display !== display) return undefined;
    return { protocol: 'vnc', host: '127.0.0.1', port: display.port, password: display.password };
  }

  /** The fake display's picture as a PNG. */
  async screenshot(options?: ActionOptions): Promise<Uint8Array> {
    if (options?.signal?.aborted)
      throw abortedError(`mock: screenshot ${this.#vm.name}`, options.signal.reason);
    this.#require('screenshot', ['running', 'paused']);
    return (await this.#ctx.world.openDisplay(this.#vm, this.#ctx.animatedDisplay, false)).screenshot();
  }

  #exists(): void {
    if (this.#vm.destroyed) {
      throw new HypervisorError('NOT_FOUND', `mock: VM ${this.#vm.name} does not exist`, {
        details: { id: this.#vm.id, name: this.#vm.name },
      });
    }
  }

  /** Checks the power rule of `action` and returns the state it starts from. */
  #require(action: string, from: readonly VmPowerState[]): VmPowerState {
    this.#exists();
    const power = this.#vm.power;
    if (!from.includes(power)) throw this.#invalid(action, from);
    return power;
  }

  #invalid(action: string, from?: readonly VmPowerState[]): HypervisorError {
    const vm = this.#vm;
    if (vm.destroyed) return new HypervisorError('NOT_FOUND', `mock: VM ${vm.name} does not exist`);
    return new HypervisorError('INVALID_STATE', `mock: cannot ${action} ${vm.name}: it is ${vm.power}`, {
      details: { action, state: vm.power, ...(from ? { legalIn: from } : {}) },
    });
  }
}
