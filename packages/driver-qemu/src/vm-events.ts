import type { StopCause } from '@cvmweb/core';
import { QmpClient, type QmpEvent } from './qmp-client.js';

/** The QMP events that change what a session sees. */
const CHANGES = new Set([
  'STOP',
  'RESUME',
  'SHUTDOWN',
  'RESET',
  'POWERDOWN',
  'SUSPEND',
  'WAKEUP',
  'GUEST_PANICKED',
]);

/**
 * Follows the events monitor of each running VM while someone watches: a QMP event of
 * {@link CHANGES}, or the monitor closing (QEMU ended), names the VM to the listeners. It also
 * remembers why a VM stopped: `guest` after a `SHUTDOWN` the guest asked for, `failure` when QEMU
 * ended otherwise (killed, crashed, quit by someone else).
 */
export class VmEvents {
  readonly #listeners = new Set<(vmId: string) => void>();
  readonly #followed = new Map<string, QmpClient>();
  readonly #causes = new Map<string, StopCause>();
  readonly #onDebug: ((message: string) => void) | undefined;

  constructor(onDebug?: (message: string) => void) {
    this.#onDebug = onDebug;
  }

  /** True while someone listens. */
  get active(): boolean {
    return this.#listeners.size > 0;
  }

  /** Calls `listener(vmId)` for each change; returns the unsubscribe function. */
  subscribe(listener: (vmId: string) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
      if (!this.active) this.close();
    };
  }

  /** Starts following VM `vmId`'s events monitor at `socket` (once; nothing while nobody listens). */
  async follow(vmId: string, socket: string): Promise<void> {
    if (!this.active || this.#followed.has(vmId)) return;
    this.#onDebug?.(`following the events of ${vmId}`);
    this.#causes.delete(vmId);
    let client: QmpClient;
    try {
      client = await QmpClient.connect(socket, { timeoutMs: 5000 });
    } catch (error) {
      this.#onDebug?.(`events of ${vmId} cannot be followed: ${String(error)}`);
      return;
    }
    if (!this.active || this.#followed.has(vmId)) {
      client.close();
      return;
    }
    this.#followed.set(vmId, client);
    client.onEvent((event: QmpEvent) => {
      if (event.event === 'SHUTDOWN')
        this.#causes.set(vmId, event.data?.['guest'] === true ? 'guest' : 'failure');
      if (CHANGES.has(event.event)) this.#emit(vmId);
    });
    void client.closed.then(() => {
      if (this.#followed.get(vmId) !== client) return;
      this.#followed.delete(vmId);
      if (!this.#causes.has(vmId)) this.#causes.set(vmId, 'failure');
      this.#emit(vmId);
    });
  }

  /** Why VM `vmId` stopped, when seen; `undefined` otherwise. */
  stopCause(vmId: string): StopCause | undefined {
    return this.#causes.get(vmId);
  }

  /** Stops following every VM. */
  close(): void {
    const clients = [...this.#followed.values()];
    this.#followed.clear();
    for (const client of clients) client.close();
  }

  #emit(vmId: string): void {
    for (const listener of [...this.#listeners]) listener(vmId);
  }
}
