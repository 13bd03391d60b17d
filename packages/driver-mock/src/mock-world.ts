import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type Clock,
  ErrorCode,
  GUEST_REPORT_PATH,
  GUEST_SPIN_PATH,
  type GuestReport,
  HypervisorError,
  type VmPowerState,
  type VmSpec,
} from '@cvmweb/core';
import { newVncPassword } from '@cvmweb/core/node';
import { ApiServer, type MockApiResponder, type MockApiResponse } from './api-server.js';
import { FakeDisplay } from './fake-display.js';
import type { MockFault } from './mock-fault.js';
import type { MockGuest } from './mock-guest.js';
import { type MockStep, mockSteps, zeroCalls } from './mock-step.js';
import type { MockVmInfo } from './mock-vm-info.js';

/** How a hypervisor connection serves the API of the VMs it starts. */
export interface ApiConfig {
  readonly clock: Clock;
  readonly delayMs: number;
  readonly respond: MockApiResponder | undefined;
}

/** One VM of the mock hypervisor. Kept small: a benchmark holds thousands. */
export interface VmRecord {
  readonly id: string;
  readonly name: string;
  readonly sessionId: string;
  readonly spec: VmSpec | undefined;
  readonly ours: boolean;
  power: VmPowerState;
  bootId: number | undefined;
  executionCap: number;
  properties: Map<string, string> | undefined;
  userData: string | undefined;
  /** The simulated guest of the current boot (its clock and busy loop), `undefined` while powered off. */
  guest: MockGuest | undefined;
  /** The last port the API listened on, reused when it reopens; 0 before the first. */
  port: number;
  server: ApiServer | undefined;
  /** The display while the VM runs or is paused, made by the first `display()` or `screenshot()`. */
  display: FakeDisplay | undefined;
  /** What was typed on the display since the guest booted (the guest report's `keys`). */
  keys: string;
  /** Clock time from which the API answers (guest boot). */
  readyAt: number;
  destroyed: boolean;
}

/** A new, powered-off VM record that never ran: its identity, spec, owner flag and cap. */
export function poweredOffVm(
  fields: Pick<VmRecord, 'id' | 'name' | 'sessionId' | 'spec' | 'ours' | 'executionCap'>,
): VmRecord {
  return {
    ...fields,
    power: 'poweroff',
    bootId: undefined,
    properties: undefined,
    userData: undefined,
    guest: undefined,
    port: 0,
    server: undefined,
    display: undefined,
    keys: '',
    readyAt: 0,
    destroyed: false,
  };
}

interface ArmedFault {
  readonly fault: MockFault;
  /** The first and last call numbers of the step that fail. */
  readonly first: number;
  readonly last: number;
}

/** What the call of a step drew: its number, and the fault that hits it. */
export interface Draw {
  readonly call: number;
  readonly fault: MockFault | undefined;
}

/**
 * The state of one simulated hypervisor: its VMs, counters, armed faults and
 * open servers. Internal; tests use the {@link MockHypervisor} facade.
 */
export class MockWorld {
  /** Every VM, by id, in creation order. Change it only through add() and remove(). */
  readonly vms = new Map<string, VmRecord>();
  readonly #names = new Map<string, VmRecord>();
  readonly calls: Record<MockStep, number> = zeroCalls();
  readonly servers = new Set<ApiServer>();
  /** Rejecters of calls hanging on an injected fault, released by shutdown. */
  readonly hangs = new Set<(error: HypervisorError) => void>();
  /** Listeners of connections' `watch()`: told about changes made from outside (crash, guest shutdown). */
  readonly watchers = new Set<(vmId: string) => void>();
  /** Connections' `watch()` resync callbacks: told when a dropped event stream is back. */
  readonly resyncers = new Set<() => void>();
  /** The event stream is down ({@link MockHypervisor.dropEvents}): watchers are not told. */
  eventsDropped = false;
  #faults: ArmedFault[] = [];
  #ids = 0;
  #boots = 0;

  /** A new UUID-shaped id, deterministic per world. */
  newId(): string {
    this.#ids += 1;
    return `00000000-0000-4000-8000-${this.#ids.toString(16).padStart(12, '0')}`;
  }

  newBootId(): number {
    this.#boots += 1;
    return this.#boots;
  }

  byName(name: string): VmRecord | undefined {
    return this.#names.get(name);
  }

  add(vm: VmRecord): void {
    this.vms.set(vm.id, vm);
    this.#names.set(vm.name, vm);
  }

  remove(vm: VmRecord): void {
    this.vms.delete(vm.id);
    this.#names.delete(vm.name);
  }

  arm(fault: MockFault): void {
    if (!mockSteps.includes(fault.step)) {
      throw new HypervisorError('INVALID_USAGE', `mock: unknown fault step ${String(fault.step)}`);
    }
    const nth = fault.nth ?? 1;
    const times = fault.times ?? 1;
    if (!Number.isInteger(nth) || nth < 1) {
      throw new HypervisorError('INVALID_USAGE', `mock: fault nth must be an integer ≥ 1, got ${nth}`);
    }
    if (!(times === Number.POSITIVE_INFINITY || (Number.isInteger(times) && times >= 1))) {
      throw new HypervisorError('INVALID_USAGE', `mock: fault times must be an integer ≥ 1, got ${times}`);
    }
    if (fault.code !== undefined && !Object.hasOwn(ErrorCode, fault.code)) {
      throw new HypervisorError('INVALID_USAGE', `mock: unknown fault code ${String(fault.code)}`);
    }
    const first = this.calls[fault.step] + nth;
    this.#faults.push({ fault: { ...fault }, first, last: first + times - 1 });
  }

  /** Counts one call of `step` and returns the fault that hits it, if any. */
  draw(step: MockStep): Draw {
    const call = ++this.calls[step];
    let hit: MockFault | undefined;
    this.#faults = this.#faults.filter((armed) => {
      if (armed.fault.step !== step) return true;
      if (hit === undefined && armed.first <= call && call <= armed.last) hit = armed.fault;
      return armed.last > call;
    });
    return { call, fault: hit };
  }

  pendingFaults(): MockFault[] {
    return this.#faults.map((armed) => armed.fault);
  }

  clearFaults(): void {
    this.#faults = [];
  }

  /** Opens the VM's API endpoint (when it is not open), on its previous port if possible. */
  async openApi(vm: VmRecord, config: ApiConfig): Promise<void> {
    if (vm.server) {
      // Another call is opening it: share its outcome.
      await vm.server.ready.catch(() => undefined);
      if (vm.server) return;
      throw new HypervisorError('IO', `mock: cannot open the API endpoint of ${vm.name}`);
    }
    const server = new ApiServer((request, response) => this.#answer(vm, config, request, response));
    vm.server = server;
    this.servers.add(server);
    try {
      vm.port = await server.listen(vm.port);
    } catch (error) {
      if (vm.server === server) await this.closeApi(vm);
      throw new HypervisorError('IO', `mock: cannot open the API endpoint of ${vm.name}`, { cause: error });
    }
  }

  /** The VM's display, made on first use; `listen`: also listening on its port. */
  async openDisplay(vm: VmRecord, animated: boolean, listen: boolean): Promise<FakeDisplay> {
    vm.display ??= new FakeDisplay({
      password: newVncPassword(),
      animated,
      onKey: (text) => {
        vm.keys += text;
      },
    });
    const display = vm.display;
    if (listen && display.port === 0) await display.listen();
    return display;
  }

  /**
   * Closes the VM's API endpoint, dropping open connections; and its display too unless the VM
   * still runs or is paused.
   */
  async closeApi(vm: VmRecord): Promise<void> {
    const display = vm.display;
    if (display && vm.power !== 'running' && vm.power !== 'paused') {
      vm.display = undefined;
      await display.close();
    }
    const server = vm.server;
    if (!server) return;
    vm.server = undefined;
    this.servers.delete(server);
    await server.close();
  }

  info(vm: VmRecord): MockVmInfo {
    return {
      id: vm.id,
      name: vm.name,
      sessionId: vm.sessionId,
      ours: vm.ours,
      state: vm.power,
      bootId: vm.bootId,
      executionCap: vm.executionCap,
      userData: vm.userData,
      properties: Object.fromEntries(vm.properties ?? []),
      apiPort: vm.server ? vm.port : undefined,
      spec: vm.spec,
    };
  }

  #answer(vm: VmRecord, config: ApiConfig, request: IncomingMessage, response: ServerResponse): void {
    // Like a NAT port forward to a guest still booting: the port accepts, then resets.
    if (config.clock.now() < vm.readyAt || vm.power !== 'running') {
      request.socket.destroy();
      return;
    }
    const method = request.method ?? 'GET';
    if (!config.respond) {
      if (method !== 'GET' && method !== 'HEAD') {
        response.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      send(
        response,
        guestAnswer(vm, config.clock.now(), new URL(request.url ?? '/', 'http://mock').pathname),
      );
      return;
    }
    const info = this.info(vm);
    Promise.resolve()
      .then(
        () => config.respond?.({ method, url: request.url ?? '/', headers: request.headers, vm: info }) ?? '',
      )
      .then(
        (answer) => send(response, answer),
        (error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(message);
        },
      );
  }
}

/** The cvmweb guest API of the simulated guest; any other path answers the user data. */
function guestAnswer(vm: VmRecord, now: number, path: string): MockApiResponse {
  const guest = vm.guest;
  if (path === GUEST_SPIN_PATH && guest) {
    guest.startSpin(now);
    return 'spinning\n';
  }
  if (path === GUEST_REPORT_PATH && guest && vm.bootId !== undefined) {
    const report: GuestReport = {
      bootId: `mock-${vm.name}-${vm.bootId}`,
      uptimeMs: guest.uptimeMs(now),
      userData: vm.userData ?? '',
      context: { format: guest.context, source: 'mock' },
      spin: guest.spin(now),
      keys: vm.keys,
    };
    return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(report) };
  }
  return vm.userData ?? '';
}

function send(response: ServerResponse, answer: MockApiResponse): void {
  const full = typeof answer === 'string' ? { body: answer } : answer;
  const body = full.body ?? '';
  response
    .writeHead(full.status ?? 200, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      ...full.headers,
    })
    .end(body);
}
