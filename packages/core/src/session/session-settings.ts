import type { ActionOptions } from '../action-options.js';
import { validateDaemonSettings } from '../daemon/daemon-contract.js';
import { HypervisorError } from '../errors/hypervisor-error.js';
import type { DaemonSettings, SessionRecord } from '../registry/session-record.js';
import { RequestedValues } from './requested-values.js';
import { requireCapability } from './require-capability.js';
import { validateExecutionCap } from './requirements.js';
import type { SessionParts } from './session-context.js';
import { propertyLimits, validatePropertyKey, validatePropertyValue } from './session-names.js';
import type { SessionActionOptions } from './session-options.js';

/** The settings a getter shows at once while their setter runs. */
type Shown = Pick<SessionRecord, 'executionCap' | 'daemon'>;

/**
 * What a session keeps besides its VM's power: the execution cap, the properties and the daemon
 * fields. They live in the session registry, so they work in every state; while a VM exists
 * they also reach it (the cap always, properties and daemon fields with the driver's
 * `guestProperties` capability). A setter's value shows at once (see {@link RequestedValues}).
 * @internal
 */
export class SessionSettings {
  readonly #parts: SessionParts;
  readonly #requested: RequestedValues<Shown>;

  /** `onShownChange` runs when a value a getter shows changes through a setter (the `changed` event). */
  constructor(parts: SessionParts, onShownChange: () => void) {
    this.#parts = parts;
    this.#requested = new RequestedValues<Shown>(() => parts.record.current, onShownChange);
  }

  /** What a getter shows for `key`: a value being set, else the stored one. */
  shown<K extends keyof Shown>(key: K): Shown[K] {
    return this.#requested.read(key);
  }

  /** Sets the execution cap, 1–100 percent; without a VM it is recorded for the next `open()`. */
  setExecutionCap(cap: number, options?: SessionActionOptions): Promise<void> {
    let checked: number;
    try {
      checked = validateExecutionCap(cap);
    } catch (error) {
      return Promise.reject(error);
    }
    const { context, record, vm, runner } = this.#parts;
    const request = this.#requested.request('executionCap', checked);
    return request.track(
      runner.run('setExecutionCap', options?.signal, async ({ signal }) => {
        try {
          if (record.current.vmId) await (await vm.require(signal)).setExecutionCap(checked, { signal });
          else requireCapability(context.hypervisor, 'executionCap', 'setExecutionCap');
          await record.commit({ executionCap: checked });
        } finally {
          request.done(); // before the error events, so their listeners read the restored value
        }
      }),
    );
  }

  /** Sets a property: kept in the registry, and in the guest where the driver can. */
  setProperty(name: string, value: string, options?: SessionActionOptions): Promise<void> {
    let key: string;
    let checked: string;
    try {
      key = validatePropertyKey(name);
      checked = validatePropertyValue(value);
    } catch (error) {
      return Promise.reject(error);
    }
    const { record, vm, runner } = this.#parts;
    return runner.run('setProperty', options?.signal, async ({ signal }) => {
      const { properties } = record.current;
      if (!Object.hasOwn(properties, key) && Object.keys(properties).length >= propertyLimits.count) {
        throw new HypervisorError(
          'INVALID_USAGE',
          `a session keeps at most ${propertyLimits.count} properties`,
          {
            details: { field: 'propertyName', limit: propertyLimits.count },
          },
        );
      }
      if (this.#guestHasProperties()) await (await vm.require(signal)).setProperty(key, checked, { signal });
      await record.save({ properties: { ...record.current.properties, [key]: checked } });
    });
  }

  /** Reads a property: the guest's value where the driver can read it, else the stored one; `''` when unset. */
  getProperty(name: string, options?: SessionActionOptions): Promise<string> {
    let key: string;
    try {
      key = validatePropertyKey(name);
    } catch (error) {
      return Promise.reject(error);
    }
    const { record, vm, runner } = this.#parts;
    return runner.run('getProperty', options?.signal, async ({ signal }) => {
      if (this.#guestHasProperties()) {
        const value = await (await vm.require(signal)).getProperty(key, { signal });
        if (value !== undefined) return value;
      }
      return record.current.properties[key] ?? '';
    });
  }

  /**
   * Changes the daemon fields, validated against what the getters show now and, when its turn
   * comes, merged with the latest stored ones; then, where the guest has properties, writes them
   * as the guest properties of the original plugin's names.
   */
  async setDaemonSettings(change: Partial<DaemonSettings>, options?: ActionOptions): Promise<void> {
    const request = this.#requested.request('daemon', validateDaemonSettings(change, this.shown('daemon')));
    const { record, vm, runner } = this.#parts;
    const signal = options?.signal;
    await request.track(
      runner.enqueue(signal, async () => {
        const next = validateDaemonSettings(change, record.current.daemon);
        await record.save({ daemon: next }, options);
        if (!this.#guestHasProperties()) return;
        const handle = await vm.require(signal);
        const fields = {
          daemonControlled: String(next.controlled),
          daemonMinCap: String(next.minCap),
          daemonMaxCap: String(next.maxCap),
          daemonFlags: String(next.flags),
        };
        for (const [key, value] of Object.entries(fields)) await handle.setProperty(key, value, { signal });
      }),
    );
  }

  /** A VM exists and the driver reaches its guest properties. */
  #guestHasProperties(): boolean {
    return this.#parts.context.hypervisor.capabilities.guestProperties && !!this.#parts.record.current.vmId;
  }
}
