import {
  type ActionOptions,
  abortedError,
  type Clock,
  type Driver,
  type Hypervisor,
  type ProbeResult,
  systemClock,
} from '@cvmweb/core';
import type { MockApiResponder } from './api-server.js';
import { MockConnection } from './mock-connection.js';
import { MockContext } from './mock-context.js';
import type { MockFault } from './mock-fault.js';
import { createMockHypervisor, type MockHypervisor, worldOfState } from './mock-hypervisor.js';
import type { MockStep } from './mock-step.js';

/** Options of the {@link mock} driver. */
export interface MockOptions {
  /**
   * The clock the step delays and the API boot delay follow. Default `systemClock`; pass core's
   * `ManualClock` to move them with virtual time.
   */
  clock?: Clock;
  /** A delay in milliseconds per step. Default 0 for every step: calls resolve without waiting. */
  delays?: Partial<Record<MockStep, number>>;
  /** Faults to arm, on the state, when the driver is made (see {@link MockHypervisor.inject}). */
  faults?: readonly MockFault[];
  /** The version the hypervisor and its probe report. Default `1.0.0`. */
  version?: string;
  /** Fields that replace those of the probe result (for example `{ healthy: false, reason: '…' }`). */
  probe?: Partial<ProbeResult>;
  /**
   * Whether running VMs serve a loopback HTTP API. `true` (default): the cvmweb guest API of a
   * simulated guest — `GET` of core's `GUEST_REPORT_PATH` answers its `GuestReport` (boot id,
   * uptime on {@link MockOptions.clock}, standing still while paused or saved, user data, context,
   * busy-loop work in proportion to the execution cap), `GUEST_SPIN_PATH` starts its busy loop,
   * any other `GET` answers the user data of the current boot. An object: `respond` answers
   * instead. `false`: no API and capability `apiPortForwarding` is off.
   */
  api?:
    | boolean
    | {
        /** Answers every request to the API port in place of the simulated guest. */
        respond?: MockApiResponder;
      };
  /**
   * Milliseconds, on {@link MockOptions.clock}, from a boot or reset until the API answers: a
   * simulated guest boot. Meanwhile the port accepts connections and resets them. Default 0.
   */
  apiDelayMs?: number;
  /**
   * The simulated hypervisor to use. Default: a new one per driver. Share one between drivers
   * to simulate a restarted process that finds its VMs again.
   */
  instance?: MockHypervisor;
  /**
   * Whether running VMs have a display: `true` (default) a small VNC server on 127.0.0.1 per
   * running or paused VM (RFB 3.8, VNC authentication with a random password, a 320×200 picture,
   * keys typed reach the guest report's `keys`) and PNG screenshots of it (capabilities `display`
   * and `screenshot`). `{ animated: true }`: every update request gets a new frame (a screen that
   * keeps changing, for benchmarks). `false`: neither capability.
   */
  display?:
    | boolean
    | {
        /** Every update request gets a new frame at once (a screen that keeps changing). */
        animated?: boolean;
      };
  /** Receives one line per step (`mock: start cvmweb-…`), besides the call's own `onDebug`. */
  onDebug?: (message: string) => void;
}

/** What the mock's probe reports: never preferred over a real hypervisor. */
const probeReason = 'simulated hypervisor: selected only explicitly (--driver mock or --fallback mock)';

/**
 * The mock driver: an in-process, deterministic hypervisor for applications'
 * and cvmweb's own tests. VMs are records in memory; a running VM serves a real
 * loopback HTTP endpoint; every step can be delayed (on a virtual clock) and
 * made to fail or hang.
 *
 * Its probe scores 0, so detection never picks it by itself: select it with
 * `--driver mock`, `--fallback mock`, or by passing it to `createCvmweb`.
 *
 * @example
 * ```ts
 * const state = createMockHypervisor();
 * const driver = mock({ instance: state, faults: [{ step: 'start', code: 'EXTERNAL' }] });
 * const cvmweb = await createCvmweb({ driver, stateDir });
 * ```
 */
export function mock(options: MockOptions = {}): Driver {
  const state = options.instance ?? createMockHypervisor();
  const world = worldOfState(state);
  for (const fault of options.faults ?? []) state.inject(fault);
  const clock = options.clock ?? systemClock;
  const version = options.version ?? '1.0.0';
  const api = options.api ?? true;
  const apiConfig =
    api === false
      ? undefined
      : {
          clock,
          delayMs: Math.max(0, options.apiDelayMs ?? 0),
          respond: typeof api === 'object' ? api.respond : undefined,
        };
  const delays = { ...options.delays };
  return {
    name: 'mock',
    capabilities: Object.freeze({
      executionCap: true,
      pause: true,
      hibernate: true,
      reset: true,
      guestProperties: true,
      apiPortForwarding: apiConfig !== undefined,
      display: options.display !== false,
      screenshot: options.display !== false,
    }),
    async probe(_options?: ActionOptions): Promise<ProbeResult> {
      return {
        installed: true,
        healthy: true,
        version,
        score: 0,
        reason: probeReason,
        details: { simulated: true, vms: world.vms.size },
        ...options.probe,
      };
    },
    async create(createOptions?: ActionOptions): Promise<Hypervisor> {
      const signal = createOptions?.signal;
      if (signal?.aborted) throw abortedError('mock: connect', signal.reason);
      return new MockConnection(
        new MockContext(
          world,
          clock,
          delays,
          apiConfig,
          options.onDebug,
          typeof options.display === 'object' && options.display.animated === true,
        ),
        version,
      );
    },
  };
}
