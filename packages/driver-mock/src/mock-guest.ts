import type { ContextFormat } from '@cvmweb/core';

/** Work units per ms of the mock guest's busy loop at a cap of 100 %. */
const SPIN_PER_MS = 1000;

/**
 * The simulated guest of one boot of a mock VM: its clock (which stands still while the VM is
 * paused or saved) and its busy loop (whose work grows in proportion to the execution cap).
 * Time is the mock's clock, in ms.
 */
export class MockGuest {
  /** Uptime and work accumulated up to {@link MockGuest.#since}. */
  #uptime = 0;
  #work = 0;
  /** When the guest last ran on from the accumulated values, or `undefined` while frozen. */
  #since: number | undefined;
  #cap: number;
  #spinning = false;

  /**
   * @param now - when it boots
   * @param cap - the execution cap in percent
   * @param context - the format of the context medium it booted with
   */
  constructor(
    now: number,
    cap: number,
    readonly context: ContextFormat,
  ) {
    this.#since = now;
    this.#cap = cap;
  }

  /** Milliseconds the guest has run. */
  uptimeMs(now: number): number {
    this.#settle(now);
    return this.#uptime;
  }

  /** Work done by the busy loop. */
  spin(now: number): number {
    this.#settle(now);
    return this.#work;
  }

  /** Starts the busy loop (once). */
  startSpin(now: number): void {
    this.#settle(now);
    this.#spinning = true;
  }

  /** Stops the guest's clock (pause, save). */
  freeze(now: number): void {
    this.#settle(now);
    this.#since = undefined;
  }

  /** Lets the guest's clock run on (resume, restore). */
  thaw(now: number): void {
    this.#settle(now);
    this.#since ??= now;
  }

  /** The execution cap changes. */
  cap(now: number, cap: number): void {
    this.#settle(now);
    this.#cap = cap;
  }

  #settle(now: number): void {
    if (this.#since === undefined) return;
    const ran = Math.max(0, now - this.#since);
    this.#uptime += ran;
    if (this.#spinning) this.#work += Math.floor((ran * SPIN_PER_MS * this.#cap) / 100);
    this.#since = now;
  }
}
